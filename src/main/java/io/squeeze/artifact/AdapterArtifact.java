package io.squeeze.artifact;

import io.squeeze.core.Storage;
import io.squeeze.core.BadInputException;
import io.squeeze.model.Json;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.Lora;
import io.squeeze.model.LoraDense;
import io.squeeze.model.SourceKind;
import org.apache.hadoop.fs.Path;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * A LoRA adapter artifact: only the adapters' A and B ({@code adapters/tensors.json} + {@code tensors.bin}, the
 * packed format's index and DEFLATEd float32), with the base model referenced by path and sha256 in the manifest
 * and the rank and α in its configuration. Loading fetches the base, checks its sha256, attaches the adapters and
 * returns the merged network.
 */
public final class AdapterArtifact {
    public static final String INDEX = "adapters/tensors.json", BLOB = "adapters/tensors.bin";

    private AdapterArtifact() {}

    public static Manifest write(Storage st, String uri, boolean overwrite, MultiLayerNetwork adapted, ArtifactWriter.Provenance p,
                                 Map<String, Object> metrics) {
        Path out = ArtifactWriter.checkTarget(st, uri, overwrite);
        ByteArrayOutputStream blob = new ByteArrayOutputStream();
        List<PackedModel.TensorEntry> entries = new ArrayList<>();
        List<Manifest.LayerRecord> layers = new ArrayList<>();
        for (int i = 0; i < adapted.getnLayers(); i++) {
            if (!(adapted.getLayer(i).conf().getLayer() instanceof LoraDense ld)) continue;
            long bytes = 0;
            for (String param : List.of("A", "B")) {
                INDArray a = adapted.getLayer(i).getParam(param);
                byte[] enc = Encoding.F32_DEFLATE.encode(a.dup('c').data().asFloat(), null);
                entries.add(new PackedModel.TensorEntry(i, param, a.shape(), Encoding.F32_DEFLATE, blob.size(), enc.length));
                blob.writeBytes(enc);
                bytes += enc.length;
            }
            long params = (long) ld.rank() * (ld.nIn() + ld.nOut());
            layers.add(new Manifest.LayerRecord(i, ld.getLayerName(), "LoraDense", "lora", params, params, 0, params * 4, bytes,
                    Map.of("rank", ld.rank(), "scale", ld.scale())));
        }
        Map<String, byte[]> files = new LinkedHashMap<>();
        files.put(INDEX, Json.compact(new PackedModel.Index("squeeze-lora-adapters", 1, entries)));
        files.put(BLOB, blob.toByteArray());
        return ArtifactWriter.commit(st, out, overwrite, files, p, layers, metrics);
    }

    static boolean isAdapter(Manifest m) {
        return m.files().containsKey(INDEX) && !m.files().containsKey(PackedModel.INDEX);
    }

    /**
     * Where the base is: the path the manifest records or, when nothing is there any more (the adapter and its base were
     * copied or moved together), a sibling of the adapter directory with the recorded base's name. Either way the
     * base's sha256 must match the manifest's.
     */
    static String basePath(Storage st, Path dir, Manifest m) {
        Path recorded = st.path(m.sourceModel());
        if (st.exists(recorded) || dir.getParent() == null) return m.sourceModel();
        Path sibling = new Path(dir.getParent(), recorded.getName());
        return st.exists(sibling) ? sibling.toString() : m.sourceModel();
    }

    /** The base with the adapters attached and merged; {@code files} are the verified artifact files. */
    static LoadedModel load(Storage st, Path dir, Manifest m, Map<String, byte[]> files, long storedBytes) {
        LoadedModel base = Models.load(st, basePath(st, dir, m));
        if (!base.sha256().equals(m.sourceSha256()))
            throw new BadInputException("adapter artifact " + dir + ": base model " + m.sourceModel() + " has sha256 " + base.sha256()
                    + ", the adapters were trained on " + m.sourceSha256());
        PackedModel.Index index = Json.read(files.get(INDEX), PackedModel.Index.class);
        byte[] blob = files.get(BLOB);
        Object rank = m.config().get("rank"), alpha = m.config().get("alpha");
        if (!(rank instanceof Number r) || !(alpha instanceof Number a))
            throw new BadInputException("adapter artifact " + dir + ": the manifest has no rank/alpha");
        TreeSet<Integer> layers = new TreeSet<>();
        for (PackedModel.TensorEntry t : index.tensors()) layers.add(t.layer());
        MultiLayerNetwork adapted = Lora.attach(base.net(), layers, r.intValue(), a.doubleValue(), 0);
        for (PackedModel.TensorEntry t : index.tensors()) {
            byte[] part = java.util.Arrays.copyOfRange(blob, (int) t.offset(), (int) (t.offset() + t.length()));
            float[] v = t.encoding().decode(part, (int) (t.shape()[0] * t.shape()[1])).values();
            adapted.getLayer(t.layer()).getParam(t.param()).assign(Nd4j.create(v, t.shape(), 'c'));
        }
        return new LoadedModel(Lora.merge(adapted), base.meta(), m.sourceSha256(), dir.toString(), SourceKind.ARTIFACT, storedBytes);
    }
}
