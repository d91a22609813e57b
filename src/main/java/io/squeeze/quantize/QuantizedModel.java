package io.squeeze.quantize;

import io.squeeze.core.Mask;
import io.squeeze.core.TensorKey;
import io.squeeze.model.NetOps;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A network ready for the quantized runtime: its plain ops (float weights), the {@link QuantPlan} and the
 * quantized weight tensors by layer. Weights are quantized per tensor or per output channel (axis 1 of a dense
 * W [nIn, nOut], axis 0 of a convolution's [out, in, kh, kw]) with PyTorch's min/max rule over the weights
 * (Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only
 * Inference"; Krishnamoorthi 2018). Biases stay float32 and are quantized to int32 at run time with scale
 * s_in·s_w, as integer runtimes do.
 *
 * @param wiring null for a layer stack (each op reads the one before); for a graph ({@link io.squeeze.model.GraphOps})
 *               the node indices each op reads, -1 for the network input
 */
public record QuantizedModel(List<NetOps.Op> ops, QuantPlan plan, Map<Integer, QuantizedTensor> weights, List<int[]> wiring) implements Serializable {

    public QuantizedModel {
        if (wiring != null && wiring.size() != ops.size()) throw new IllegalArgumentException(wiring.size() + " wirings for " + ops.size() + " ops");
        if (wiring != null) wiring = List.copyOf(wiring);
    }

    /** A layer stack. */
    public QuantizedModel(List<NetOps.Op> ops, QuantPlan plan, Map<Integer, QuantizedTensor> weights) {
        this(ops, plan, weights, null);
    }

    /** The quantized graph of {@code g}'s nodes ({@code names}: node index → vertex name). */
    public static QuantizedModel quantizeWeights(io.squeeze.model.GraphOps g, QuantConfig cfg) {
        QuantizedModel m = quantizeWeights(g.ops(), cfg, g.names());
        return new QuantizedModel(m.ops, m.plan, m.weights, g.wiring());
    }

    public boolean isGraph() {
        return wiring != null;
    }

    /** Quantizes the weights of every weighted op as {@code cfg} and its overrides say ({@code names}: layer names). */
    public static QuantizedModel quantizeWeights(List<NetOps.Op> ops, QuantConfig cfg, Map<Integer, String> names) {
        List<QuantPlan.LayerPlan> layers = new ArrayList<>();
        Map<Integer, QuantizedTensor> w = new LinkedHashMap<>();
        for (NetOps.Op op : ops) {
            long[] shape = shape(op);
            if (shape == null) continue;
            QuantConfig.Precision p = cfg.precisionOf(op.layer(), names.get(op.layer()));
            boolean symmetric = p.integer() && cfg.scheme() == QuantConfig.Scheme.SYMMETRIC;
            int axis = !p.integer() || cfg.granularity() == QuantConfig.Granularity.TENSOR ? -1 : op instanceof NetOps.Conv ? 0 : 1;
            if (op instanceof NetOps.Rnn && p.format() == QuantizedTensor.Format.NF4)
                throw new io.squeeze.core.BadInputException("layer " + op.layer() + " is " + ((NetOps.Rnn) op).kind()
                        + ", which Squeeze does not quantize to nf4");
            layers.add(new QuantPlan.LayerPlan(op.layer(), p, symmetric, axis));
            if (p != QuantConfig.Precision.FP32) w.put(op.layer(), QuantizedTensor.quantize(weightsOf(op), shape, p.format(), symmetric, axis));
        }
        return new QuantizedModel(ops, new QuantPlan(cfg.mode(), cfg.observer().toString(), cfg.reduceRange(), layers, Map.of()), w);
    }

    /**
     * The same model with the integer weights of every layer in {@code grams} re-rounded by {@link Gptq} against
     * that layer's input Gram matrix (same qparams, same format); fp16, nf4 and fp32 layers are unchanged.
     * {@code masks}: the model's pruning masks (a layer's weights under {@link TensorKey#weights}); pruned weights stay
     * exactly zero.
     */
    public QuantizedModel withGptq(Map<Integer, Gram> grams, double damp, boolean actOrder, Map<TensorKey, Mask> masks) {
        Map<Integer, QuantizedTensor> w = new LinkedHashMap<>(weights);
        for (NetOps.Op op : ops) {
            QuantizedTensor t = weights.get(op.layer());
            Gram g = grams.get(op.layer());
            long[] shape = shape(op);
            if (t == null || g == null || !t.format().integer() || shape == null) continue;
            boolean conv = op instanceof NetOps.Conv;
            int rows = (int) shape[0], cols = t.values().length / rows;
            float[] wt = conv ? Kernels.transpose(weightsOf(op), rows, cols) : weightsOf(op);
            int k = conv ? cols : rows, c = conv ? rows : cols;
            int[] r = QuantizedTensor.range(t.format(), t.symmetric());
            Mask mask = masks.get(TensorKey.weights(op.layer()));
            int[] q = Gptq.round(wt, k, c, g, t.params(), r[0], r[1], damp, actOrder, mask == null ? null : kept(mask, conv, rows, cols));
            if (conv) q = Kernels.transpose(q, k, c);
            short[] v = new short[q.length];
            for (int i = 0; i < v.length; i++) v[i] = (short) q[i];
            w.put(op.layer(), new QuantizedTensor(t.format(), t.symmetric(), t.shape(), t.axis(), t.params(), v));
        }
        return new QuantizedModel(ops, plan, w, wiring);
    }

    /** A weight mask ([rows, cols] in C order) in {@link Gptq}'s layout, inputs × channels: a convolution's transposed. */
    private static boolean[] kept(Mask m, boolean conv, int rows, int cols) {
        boolean[] k = new boolean[m.size()];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) k[conv ? j * rows + i : i * cols + j] = m.kept(i * cols + j);
        return k;
    }

    public QuantizedModel withActivations(Map<Integer, QParams> a) {
        return new QuantizedModel(ops, plan.withActivations(a), weights, wiring);
    }

    /** The weight tensor's DL4J shape, or null for ops without weights. */
    public static long[] shape(NetOps.Op op) {
        if (op instanceof NetOps.Dense d) return new long[]{d.nIn(), d.nOut()};
        if (op instanceof NetOps.Conv c) return new long[]{c.out(), c.in(), c.kh(), c.kw()};
        if (op instanceof NetOps.Rnn l) return new long[]{l.nIn() + l.hidden(), (long) l.gates() * l.hidden()};
        return null;
    }

    public static float[] weightsOf(NetOps.Op op) {
        if (op instanceof NetOps.Dense d) return d.w();
        if (op instanceof NetOps.Conv c) return c.w();
        if (op instanceof NetOps.Rnn l) return l.w();
        throw new IllegalArgumentException("layer " + op.layer() + " has no weights");
    }

    /**
     * Layer {@code layer}'s quantized tensors by DL4J parameter key: {@code W}, and for an LSTM (whose op holds
     * [W; RW] as one tensor) {@code W} and {@code RW} split again; empty when the layer keeps fp32 weights.
     */
    public Map<String, QuantizedTensor> tensorsOf(int layer) {
        QuantizedTensor q = weights.get(layer);
        if (q == null) return Map.of();
        Map<String, QuantizedTensor> out = new LinkedHashMap<>();
        for (NetOps.Op op : ops)
            if (op.layer() == layer && op instanceof NetOps.Rnn l) {
                out.put("W", q.rows(0, l.nIn()));
                out.put("RW", q.rows(l.nIn(), l.nIn() + l.hidden()));
                return out;
            }
        out.put("W", q);
        return out;
    }

    /** The inverse of {@link #tensorsOf}: stored tensors by layer and parameter as the op's one tensor per layer. */
    public static Map<Integer, QuantizedTensor> byLayer(Map<TensorKey, QuantizedTensor> tensors) {
        Map<Integer, QuantizedTensor> out = new LinkedHashMap<>();
        tensors.forEach((k, q) -> {
            if (!k.param().equals("W")) return;
            QuantizedTensor rw = tensors.get(new TensorKey(k.layer(), "RW"));
            out.put(k.layer(), rw == null ? q : QuantizedTensor.stackRows(q, rw));
        });
        return out;
    }

    /**
     * The dequantized values of every quantized weight tensor by layer and DL4J parameter key (what a float network
     * of the quantized model holds).
     */
    public Map<TensorKey, float[]> dequantized() {
        Map<TensorKey, float[]> out = new LinkedHashMap<>();
        for (int layer : weights.keySet()) tensorsOf(layer).forEach((param, q) -> out.put(new TensorKey(layer, param), q.dequantize()));
        return out;
    }

    /** Weights as the quantized model computes with them (dequantized; the original for fp32 layers). */
    public float[] effectiveWeights(NetOps.Op op) {
        QuantizedTensor q = weights.get(op.layer());
        return q == null ? weightsOf(op) : q.dequantize();
    }
}
