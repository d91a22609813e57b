package io.squeeze.artifact;

import io.squeeze.core.Storage;
import io.squeeze.model.Json;
import io.squeeze.model.LoadedModel;
import org.apache.hadoop.fs.Path;
import org.deeplearning4j.nn.api.Layer;
import org.nd4j.linalg.api.ndarray.INDArray;
import io.squeeze.quantize.QuantizedTensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code weights export}: every parameter as a float32 C-order {@code .npy} in DL4J's own shape (dense W is
 * [nIn, nOut]), plus {@code index.json} listing, in layer order, layer index, layer name, DL4J parameter key,
 * file and shape. A quantized artifact's weights are written as stored: integers as int8 {@code .npy} (int4
 * unpacked one per byte; affine schemes as uint8), fp16 as float16, with their scales (float32) and zero points
 * (int32) beside them; nf4 as uint8 level indices with {@code _absmax.npy} (each block of 64's maximum, as
 * dequantized) and {@code _levels.npy} (the 16 levels); the entry adds {@code dtype}, {@code scale}, {@code zero_point} (file names) and
 * {@code axis} (the channel axis, or null per tensor). A weight-shared layer's weights (stored as a codebook) are
 * written as uint8 indices and a float32 codebook, {@code dtype} {@code codebook}. Written to a hidden sibling and
 * renamed into place.
 */
public final class WeightsExport {
    private WeightsExport() {}

    private static Map<String, Object> writeQuantized(Storage st, Path dir, String stem, QuantizedTensor q) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("dtype", q.format().name().toLowerCase(java.util.Locale.ROOT));
        if (q.format() == QuantizedTensor.Format.NF4) {
            io.squeeze.quantize.NormalFloat4.Blocks b = q.nf4();
            st.write(new Path(dir, stem + ".npy"), Npy.uint8(b.codes(), q.shape()));
            float[] absmax = new float[b.q8().length];
            for (int k = 0; k < absmax.length; k++) absmax[k] = b.absmax(k);
            st.write(new Path(dir, stem + "_absmax.npy"), Npy.float32(absmax, new long[]{absmax.length}));
            st.write(new Path(dir, stem + "_levels.npy"), Npy.float32(io.squeeze.quantize.NormalFloat4.LEVELS, new long[]{16}));
            m.put("storage", "uint8");
            m.put("absmax", stem + "_absmax.npy");
            m.put("levels", stem + "_levels.npy");
            m.put("block_size", io.squeeze.quantize.NormalFloat4.BLOCK);
            return m;
        }
        if (q.format() == QuantizedTensor.Format.FP16) {
            st.write(new Path(dir, stem + ".npy"), Npy.float16(q.values(), q.shape()));
            m.put("scale", null);
            m.put("zero_point", null);
            m.put("axis", null);
            return m;
        }
        if (q.symmetric()) {
            byte[] b = new byte[q.values().length];
            for (int k = 0; k < b.length; k++) b[k] = (byte) q.values()[k];
            st.write(new Path(dir, stem + ".npy"), Npy.int8(b, q.shape()));
        } else {
            st.write(new Path(dir, stem + ".npy"), Npy.uint8(q.values(), q.shape()));
        }
        float[] scale = new float[q.params().length];
        int[] zp = new int[q.params().length];
        for (int k = 0; k < scale.length; k++) {
            scale[k] = q.params()[k].scale();
            zp[k] = q.params()[k].zeroPoint();
        }
        long[] shape = q.axis() < 0 ? new long[0] : new long[]{scale.length};
        st.write(new Path(dir, stem + "_scale.npy"), Npy.float32(scale, shape));
        st.write(new Path(dir, stem + "_zero_point.npy"), Npy.int32(zp, shape));
        m.put("storage", q.symmetric() ? "int8" : "uint8");
        m.put("scale", stem + "_scale.npy");
        m.put("zero_point", stem + "_zero_point.npy");
        m.put("axis", q.axis() < 0 ? null : q.axis());
        return m;
    }

    /**
     * A weight-shared tensor as uint8 indices ({@code stem.npy}, the tensor's shape) into a float32 codebook
     * ({@code stem_codebook.npy}); a pruned weight's index points at 0.0, added to the codebook when it is not a shared
     * value. Null when the values do not fit 256 entries (the tensor is then written as float32).
     */
    private static Map<String, Object> writeCodebook(Storage st, Path dir, String stem, float[] v, long[] shape) {
        for (int i = 0; i < v.length; i++) if (v[i] == 0f) v[i] = 0f; // -0.0 (a masked negative weight) is 0.0
        float[] book = CodebookCoding.codebook(v, null);
        if (book == null) return null;
        Map<Integer, Integer> index = new java.util.HashMap<>();
        for (int k = 0; k < book.length; k++) index.put(Float.floatToRawIntBits(book[k]), k);
        short[] idx = new short[v.length];
        for (int i = 0; i < v.length; i++) idx[i] = (short) (int) index.get(Float.floatToRawIntBits(v[i]));
        st.write(new Path(dir, stem + ".npy"), Npy.uint8(idx, shape));
        st.write(new Path(dir, stem + "_codebook.npy"), Npy.float32(book, new long[]{book.length}));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("dtype", "codebook");
        m.put("storage", "uint8");
        m.put("codebook", stem + "_codebook.npy");
        return m;
    }

    public static List<Map<String, Object>> export(Storage st, Loaded loaded, String outUri, boolean overwrite) {
        return export(st, loaded, java.util.Set.of(), outUri, overwrite);
    }

    /** As {@link #export(Storage, Loaded, String, boolean)}, the weights of {@code codebookLayers} as indices and codebooks. */
    public static List<Map<String, Object>> export(Storage st, Loaded loaded, java.util.Set<Integer> codebookLayers, String outUri, boolean overwrite) {
        LoadedModel model = loaded.model();
        Path out = ArtifactWriter.checkTarget(st, outUri, overwrite);
        List<Map<String, Object>> index = new ArrayList<>();
        st.publish(out, overwrite, tmp -> {
            st.mkdirs(tmp);
            if (model.isGraph() && loaded.quant() != null) {
                graphNodes(st, tmp, model, loaded.quant(), index);
                st.write(new Path(tmp, "index.json"), Json.bytes(index));
                return;
            }
            Layer[] layers = model.isGraph() ? model.graph().getLayers() : model.net().getLayers();
            var inputs = model.isGraph() ? model.graph().getConfiguration().getVertexInputs() : null;
            for (int i = 0; i < layers.length; i++) {
                for (Map.Entry<String, INDArray> e : layers[i].paramTable().entrySet()) {
                    String file = "layer" + i + "_" + e.getKey() + ".npy";
                    INDArray a = e.getValue();
                    QuantizedTensor q = loaded.quant() == null ? null : loaded.quant().tensorsOf(i).get(e.getKey());
                    Map<String, Object> qi = q == null ? null : writeQuantized(st, tmp, "layer" + i + "_" + e.getKey(), q);
                    if (qi == null && e.getKey().equals("W") && codebookLayers.contains(i))
                        qi = writeCodebook(st, tmp, "layer" + i + "_" + e.getKey(), a.dup('c').data().asFloat(), a.shape());
                    if (qi == null) st.write(new Path(tmp, file), Npy.float32(a.dup('c').data().asFloat(), a.shape()));
                    Map<String, Object> entry = new LinkedHashMap<>();
                    entry.put("layer", Integer.toString(i));
                    entry.put("name", layers[i].conf().getLayer().getLayerName());
                    if (inputs != null) entry.put("inputs", inputs.get(layers[i].conf().getLayer().getLayerName()));
                    entry.put("param", e.getKey());
                    entry.put("file", file);
                    entry.put("shape", a.shape());
                    if (qi != null) entry.putAll(qi);
                    index.add(entry);
                }
            }
            st.write(new Path(tmp, "index.json"), Json.bytes(index));
        });
        return index;
    }

    /**
     * A quantized graph as its integer runtime holds it ({@link io.squeeze.model.GraphOps}): per weighted node its
     * quantized weights of the batch-normalization-folded layer ({@code node{i}_W}, as above) and its folded float32 bias
     * ({@code node{i}_b}); the entry names the node, the vertices folded into it and the node's output qparams.
     */
    private static void graphNodes(Storage st, Path tmp, LoadedModel model, io.squeeze.quantize.QuantizedModel qm, List<Map<String, Object>> index) {
        var nodes = io.squeeze.model.GraphOps.of(model.graph(), "weights export").nodes();
        for (int i = 0; i < nodes.size(); i++) {
            var n = nodes.get(i);
            long[] shape = io.squeeze.quantize.QuantizedModel.shape(n.op());
            if (shape == null) continue;
            QuantizedTensor q = qm.weights().get(i);
            float[] b = n.op() instanceof io.squeeze.model.NetOps.Conv c ? c.b() : ((io.squeeze.model.NetOps.Dense) n.op()).b();
            var qp = qm.plan().activations().get(i);
            for (String param : new String[]{"W", "b"}) {
                String stem = "node" + i + "_" + param;
                Map<String, Object> entry = new LinkedHashMap<>();
                entry.put("node", i);
                entry.put("name", n.name());
                entry.put("folded", n.absorbed());
                entry.put("param", param);
                entry.put("file", stem + ".npy");
                entry.put("shape", param.equals("W") ? shape : new long[]{b.length});
                if (param.equals("W") && q != null) entry.putAll(writeQuantized(st, tmp, stem, q));
                else st.write(new Path(tmp, stem + ".npy"), Npy.float32(param.equals("W") ? io.squeeze.quantize.QuantizedModel.weightsOf(n.op()) : b,
                        param.equals("W") ? shape : new long[]{b.length}));
                if (param.equals("W") && qp != null) entry.put("output_qparams", Map.of("scale", qp.scale(), "zero_point", qp.zeroPoint()));
                index.add(entry);
            }
        }
    }
}
