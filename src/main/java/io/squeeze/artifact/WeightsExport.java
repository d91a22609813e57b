package io.squeeze.artifact;

import io.squeeze.model.Json;
import io.squeeze.model.LoadedModel;
import org.apache.hadoop.fs.Path;
import org.deeplearning4j.nn.api.Layer;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * {@code weights export}: every parameter as a float32 C-order {@code .npy} in DL4J's own shape (dense W is
 * [nIn, nOut]), plus {@code index.json} listing, in layer order, layer index, layer name, DL4J parameter key,
 * file and shape. Written to a hidden sibling and renamed into place.
 */
public final class WeightsExport {
    private WeightsExport() {}

    public static List<Map<String, Object>> export(Storage st, LoadedModel model, String outUri, boolean overwrite) {
        Path out = ArtifactWriter.checkTarget(st, outUri, overwrite);
        Path parent = out.getParent();
        st.mkdirs(parent);
        Path tmp = new Path(parent, "." + out.getName() + ".tmp-" + UUID.randomUUID());
        List<Map<String, Object>> index = new ArrayList<>();
        try {
            st.mkdirs(tmp);
            Layer[] layers = model.net().getLayers();
            for (int i = 0; i < layers.length; i++) {
                for (Map.Entry<String, INDArray> e : layers[i].paramTable().entrySet()) {
                    String file = "layer" + i + "_" + e.getKey() + ".npy";
                    INDArray a = e.getValue();
                    st.write(new Path(tmp, file), Npy.float32(a.dup('c').data().asFloat(), a.shape()));
                    Map<String, Object> entry = new LinkedHashMap<>();
                    entry.put("layer", Integer.toString(i));
                    entry.put("name", layers[i].conf().getLayer().getLayerName());
                    entry.put("param", e.getKey());
                    entry.put("file", file);
                    entry.put("shape", a.shape());
                    index.add(entry);
                }
            }
            st.write(new Path(tmp, "index.json"), Json.bytes(index));
            if (st.exists(out)) st.delete(out);
            if (!st.rename(tmp, out)) throw new IllegalStateException("could not move " + tmp + " to " + out);
            return index;
        } finally {
            if (st.exists(tmp)) st.delete(tmp);
        }
    }
}
