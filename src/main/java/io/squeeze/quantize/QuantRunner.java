package io.squeeze.quantize;

import io.squeeze.model.NdRows;
import io.squeeze.model.NetOps;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Executes a {@link QuantizedModel} on a batch, three ways:
 * <ul>
 * <li>{@link Path#FLOAT}: the original float network (calibration runs this, observing every activation);</li>
 * <li>{@link Path#FAKE_QUANT}: float arithmetic on dequantized weights, with each quantized layer's input and
 * output quantized and dequantized (PyTorch's fake-quant / QAT forward);</li>
 * <li>{@link Path#INTEGER}: as an int8 runtime computes it — uint8 activations minus their zero point times
 * int8/int4 weights minus theirs, accumulated in int32; the bias added as int32 with scale s_in·s_w; the sum
 * requantized to the output's qparams with one float multiplier s_in·s_w/s_out per channel (FBGEMM's and QNNPACK's
 * reference requantization), ReLU fused as a clamp at the output zero point; max pooling on integers. Non-linear
 * activations other than ReLU (tanh, sigmoid; softmax after the last layer) are applied to dequantized values, as
 * a lookup table would.</li>
 * </ul>
 * Static mode quantizes activations with the calibrated qparams; dynamic mode with each batch's own min/max and
 * returns float outputs from every layer (PyTorch's dynamic quantized Linear). fp16 and fp32 layers compute in
 * float32 (fp16 weights dequantized). A graph's model ({@link QuantizedModel#wiring}) runs node by node, each from the
 * outputs of the nodes it reads, its residual adds, concatenations and global pooling by {@link GraphMerges}. One
 * instance per thread: it keeps its native GEMM buffers across batches.
 */
public final class QuantRunner {
    public enum Path { FLOAT, FAKE_QUANT, INTEGER }

    /** Sees an activation tensor: key -1 is the input, otherwise the producing layer's index. */
    @FunctionalInterface
    public interface Hook {
        void observe(int key, float[] values);
    }

    /** Sees a weighted layer's input as the GEMM's left operand: {@code rows} rows of {@code k} (im2col patches for a convolution). */
    @FunctionalInterface
    public interface InputHook {
        void observe(int layer, float[] x, int rows, int k);
    }

    private InputHook inputs;

    private static final int QMIN = 0, QMAX = 255;
    private final QuantizedModel m;
    private final Map<Integer, float[]> scales = new HashMap<>();
    private final Map<Integer, INDArray> original = new HashMap<>(), effective = new HashMap<>();
    private final Map<Integer, int[]> integers = new HashMap<>();
    private final NdRows.Buffers buffers = new NdRows.Buffers();

    public QuantRunner(QuantizedModel m) {
        this.m = m;
        for (NetOps.Op op : m.ops()) {
            long[] shape = QuantizedModel.shape(op);
            if (shape == null) continue;
            boolean conv = op instanceof NetOps.Conv;
            int rows = (int) shape[0], cols = (int) (QuantizedModel.weightsOf(op).length / shape[0]);
            original.put(op.layer(), matrix(layout(QuantizedModel.weightsOf(op), conv, rows, cols), conv ? cols : rows));
            effective.put(op.layer(), m.weights().containsKey(op.layer())
                    ? matrix(layout(m.effectiveWeights(op), conv, rows, cols), conv ? cols : rows) : original.get(op.layer()));
            QuantizedTensor q = m.weights().get(op.layer());
            if (q == null || !q.format().integer()) continue;
            int channels = conv ? rows : cols;
            float[] s = new float[channels];
            int[] zp = new int[channels];
            for (int c = 0; c < channels; c++) {
                QParams p = q.params()[q.params().length == 1 ? 0 : c];
                s[c] = p.scale();
                zp[c] = p.zeroPoint();
            }
            int[] v = new int[q.values().length];
            for (int i = 0; i < v.length; i++) v[i] = q.values()[i] - zp[conv ? i / cols : i % cols];
            scales.put(op.layer(), s);
            integers.put(op.layer(), conv ? Kernels.transpose(v, rows, cols) : v);
        }
    }

    public QuantizedModel model() {
        return m;
    }

    private static INDArray matrix(float[] w, int rows) {
        return Nd4j.create(w, new long[]{rows, w.length / rows}, 'c');
    }

    private static float[] layout(float[] w, boolean conv, int rows, int cols) {
        return conv ? Kernels.transpose(w, rows, cols) : w;
    }

    /** As {@link #run(float[], int, int, Path, Hook)}, also showing {@code inputs} every weighted layer's input on the float path. */
    public float[] run(float[] x, int rows, int numFeatures, Path path, Hook hook, InputHook inputs) {
        this.inputs = path == Path.FLOAT ? inputs : null;
        try {
            return run(x, rows, numFeatures, path, hook);
        } finally {
            this.inputs = null;
        }
    }

    /** Runs {@code rows} rows of {@code numFeatures} (already normalized); returns the last layer's output. */
    public float[] run(float[] x, int rows, int numFeatures, Path path, Hook hook) {
        Batch t = new Batch();
        t.set(x);
        t.n = numFeatures;
        if (hook != null) hook.observe(-1, x);
        if (m.isGraph()) return graph(t, rows, path, hook);
        int key = -1;
        for (NetOps.Op op : m.ops()) key = step(op, t, rows, key, path, hook);
        return t.floats();
    }

    /**
     * A graph's nodes in order, each from the outputs of the nodes it reads (dropped after their last reader): adds
     * and concatenations by {@link GraphMerges}, every other op as in a layer stack. A node's activation key is its own
     * index when it observes an activation, else (reshape, pooling) the key of what it reads — pooling keeps its input's qparams.
     */
    private float[] graph(Batch input, int rows, Path path, Hook hook) {
        List<NetOps.Op> ops = m.ops();
        List<int[]> wiring = m.wiring();
        int n = ops.size();
        int[] lastRead = new int[n], key = new int[n];
        for (int i = 0; i < n; i++) for (int s : wiring.get(i)) if (s >= 0) lastRead[s] = i;
        Batch[] out = new Batch[n];
        boolean integer = path != Path.FLOAT && m.plan().mode() != QuantConfig.Mode.DYNAMIC;
        for (int i = 0; i < n; i++) {
            NetOps.Op op = ops.get(i);
            int[] src = wiring.get(i);
            Batch[] in = new Batch[src.length];
            int[] keys = new int[src.length];
            for (int j = 0; j < src.length; j++) {
                in[j] = src[j] < 0 ? input : out[src[j]];
                keys[j] = src[j] < 0 ? -1 : key[src[j]];
            }
            Batch t = in[0].copy();
            if (op instanceof NetOps.Add || op instanceof NetOps.Concat) {
                QParams o = integer ? m.plan().activations().get(i) : null; // none when no layer is integer (fp16, nf4)
                if (path == Path.INTEGER && o != null) {
                    QParams[] qp = new QParams[in.length];
                    int[][] q = new int[in.length][];
                    for (int j = 0; j < in.length; j++) {
                        qp[j] = in[j].q != null ? in[j].qp : calibrated(keys[j]);
                        q[j] = in[j].q != null ? in[j].q : quantize(in[j].f, qp[j]);
                    }
                    t.set(op instanceof NetOps.Add a ? GraphMerges.add(q[0], qp[0], q[1], qp[1], o, a.act() == NetOps.Act.RELU)
                            : GraphMerges.concat(q, qp, rows, widths(in), o), o);
                } else {
                    float[][] f = new float[in.length][];
                    for (int j = 0; j < in.length; j++) f[j] = in[j].floats();
                    float[] y = op instanceof NetOps.Add a ? GraphMerges.add(f[0], f[1], a.act()) : GraphMerges.concat(f, rows, widths(in));
                    if (hook != null) hook.observe(i, y);
                    if (o != null) fakeQuant(y, o);
                    t.set(y);
                }
                if (op instanceof NetOps.Concat) GraphMerges.concatShape(t, in);
                key[i] = i;
            } else {
                key[i] = step(op, t, rows, keys[0], path, hook);
            }
            out[i] = t;
            for (int s : src) if (s >= 0 && lastRead[s] == i) out[s] = null;
        }
        return out[n - 1].floats();
    }

    private static int[] widths(Batch[] in) {
        int[] w = new int[in.length];
        for (int j = 0; j < in.length; j++) w[j] = in[j].n;
        return w;
    }

    /** One op on {@code t} (which it updates); returns the key of the activation {@code t} then holds. */
    private int step(NetOps.Op op, Batch t, int rows, int key, Path path, Hook hook) {
        if (op instanceof NetOps.Reshape r) {
            if (r.hwc()) {
                int[] src = r.sourceIndex();
                int n = src.length;
                if (t.q != null) {
                    int[] to = new int[t.q.length];
                    for (int row = 0; row < rows; row++) for (int i = 0; i < n; i++) to[row * n + i] = t.q[row * n + src[i]];
                    t.set(to, t.qp);
                } else {
                    float[] to = new float[t.f.length];
                    for (int row = 0; row < rows; row++) for (int i = 0; i < n; i++) to[row * n + i] = t.f[row * n + src[i]];
                    t.set(to);
                }
            }
            t.n = r.c() * r.h() * r.w();
            t.c = r.toImage() ? r.c() : 0;
            t.h = r.toImage() ? r.h() : 0;
            t.w = r.toImage() ? r.w() : 0;
            return key;
        }
        if (op instanceof NetOps.MaxPool p) {
            int[] g = Kernels.geometry(t.h, t.w, p.kh(), p.kw(), p.sh(), p.sw(), p.ph(), p.pw(), p.same());
            if (t.q != null) t.set(Kernels.maxPool(t.q, rows, t.c, t.h, t.w, p, g), t.qp);
            else t.set(Kernels.maxPool(t.f, rows, t.c, t.h, t.w, p, g));
            t.h = g[0];
            t.w = g[1];
            t.n = t.c * t.h * t.w;
            return key;
        }
        if (op instanceof NetOps.GlobalAvgPool) {
            if (t.q != null) t.set(GraphMerges.meanPool(t.q, rows, t.c, t.h * t.w), t.qp);
            else {
                float[] y = GraphMerges.meanPool(t.f, rows, t.c, t.h * t.w);
                if (path == Path.FAKE_QUANT && m.plan().activations().containsKey(key)) fakeQuant(y, calibrated(key));
                t.set(y);
            }
            t.n = t.c;
            t.c = t.h = t.w = 0;
            return key;
        }
        if (op instanceof NetOps.Activation a) {
            float[] y = t.floats().clone();
            Kernels.activate(y, t.n, a.act());
            t.set(y);
            if (hook != null) hook.observe(a.layer(), y);
            return a.layer();
        }
        if (op instanceof NetOps.Rnn l) {
            recurrent(l, t, rows, path, hook);
            return op.layer();
        }
        if (op instanceof NetOps.Last l) {
            float[] seq = t.floats(), y = new float[rows * l.width()];
            for (int r = 0; r < rows; r++) System.arraycopy(seq, (r * l.steps() + l.steps() - 1) * l.width(), y, r * l.width(), l.width());
            t.set(y);
            t.n = l.width();
            return key;
        }
        if (op instanceof NetOps.Add || op instanceof NetOps.Concat) throw new IllegalStateException("op " + op + " outside a graph");
        weighted(op, t, rows, key, path, hook);
        return op.layer();
    }

    private void weighted(NetOps.Op op, Batch t, int rows, int key, Path path, Hook hook) {
        NetOps.Conv conv = op instanceof NetOps.Conv c ? c : null;
        NetOps.Act act = conv != null ? conv.act() : ((NetOps.Dense) op).act();
        float[] bias = conv != null ? conv.b() : ((NetOps.Dense) op).b();
        int[] g = conv == null ? null : Kernels.geometry(t.h, t.w, conv.kh(), conv.kw(), conv.sh(), conv.sw(), conv.ph(), conv.pw(), conv.same());
        int channels = bias.length, positions = conv == null ? 1 : g[0] * g[1];
        boolean integer = m.plan().precisionOf(op.layer()).integer() && path != Path.FLOAT;
        boolean dynamic = m.plan().mode() == QuantConfig.Mode.DYNAMIC;
        float[] y;
        if (!integer) {
            y = floatLayer(op, conv, g, t.floats(), rows, t, path == Path.FLOAT ? original : effective, bias);
            if (hook != null && act == NetOps.Act.SOFTMAX) hook.observe(op.layer(), y.clone());
            Kernels.activate(y, conv == null ? channels : channels * positions, act);
            if (hook != null && act != NetOps.Act.SOFTMAX) hook.observe(op.layer(), y);
        } else {
            QParams in;
            int[] xq;
            if (!dynamic && t.q != null) {
                in = t.qp;
                xq = t.q;
            } else {
                float[] xf = t.floats();
                in = dynamic ? batchRange(xf, m.plan().reduceRange()) : calibrated(key);
                xq = quantize(xf, in);
            }
            QParams out = dynamic ? null : calibrated(op.layer());
            if (path == Path.FAKE_QUANT) {
                y = floatLayer(op, conv, g, dequantize(xq, in), rows, t, effective, bias);
                if (out != null && act == NetOps.Act.SOFTMAX) fakeQuant(y, out);
                Kernels.activate(y, conv == null ? channels : channels * positions, act);
                if (out != null && act != NetOps.Act.SOFTMAX) fakeQuant(y, out);
            } else {
                integerLayer(op, conv, g, t, rows, xq, in, out, act, bias, channels, positions);
                finish(t, conv, g, channels);
                return;
            }
        }
        t.set(y);
        finish(t, conv, g, channels);
    }

    /**
     * A recurrent layer step by step (an LSTM's cell update by {@link LstmCell}, a SimpleRnn's {@code h_t = act(z)}):
     * each step's product {@code [x_t, h_{t−1}]·[W; RW]} in float, or
     * for an integer layer (dynamic mode only) with {@code [x_t, h_{t−1}]} quantized to uint8 from the step's own range
     * and int32 accumulation, dequantized with s_in·s_w per gate column before the bias — PyTorch's dynamically
     * quantized LSTM, whose two products (input and recurrent) are dynamic quantized Linears.
     */
    private void recurrent(NetOps.Rnn op, Batch t, int rows, Path path, Hook hook) {
        int hidden = op.hidden(), k = op.nIn() + hidden, g = op.gates() * hidden, steps = t.n / op.nIn();
        if (steps * op.nIn() != t.n) throw new IllegalStateException("layer " + op.layer() + ": rows of " + t.n + " values are not steps of " + op.nIn());
        boolean integer = m.plan().precisionOf(op.layer()).integer() && path != Path.FLOAT;
        float[] x = t.floats(), h = new float[rows * hidden], c = new float[rows * hidden], out = new float[rows * steps * hidden];
        for (int s = 0; s < steps; s++) {
            float[] xh = LstmCell.operand(x, rows, steps, op.nIn(), s, h, hidden), z;
            QParams in = integer ? batchRange(xh, m.plan().reduceRange()) : null;
            int[] xq = integer ? quantize(xh, in) : null;
            if (integer && path == Path.INTEGER) {
                for (int i = 0; i < xq.length; i++) xq[i] -= in.zeroPoint();
                int[] acc = Kernels.gemm(xq, rows, k, integers.get(op.layer()), g);
                float[] sw = scales.get(op.layer());
                z = new float[acc.length];
                for (int i = 0; i < acc.length; i++) z[i] = acc[i] * (in.scale() * sw[i % g]) + op.b()[i % g];
            } else { // float, or fake-quant: the dequantized operand times the effective weights
                if (!integer && inputs != null) inputs.observe(op.layer(), xh, rows, k);
                z = Kernels.gemm(integer ? dequantize(xq, in) : xh, rows, k, (path == Path.FLOAT ? original : effective).get(op.layer()), buffers, op.layer());
                for (int o = 0; o < z.length; o += g) for (int j = 0; j < g; j++) z[o + j] += op.b()[j];
            }
            if (op.lstm()) {
                LstmCell.update(z, rows, hidden, c, h, op.act(), op.gate());
            } else { // a SimpleRnn: h_t = act(z)
                Kernels.activate(z, hidden, op.act());
                h = z;
            }
            for (int r = 0; r < rows; r++) System.arraycopy(h, r * hidden, out, (r * steps + s) * hidden, hidden);
        }
        t.set(out);
        t.n = steps * hidden;
        if (hook != null) hook.observe(op.layer(), out);
    }

    /**
     * The integer path of one layer: int32 accumulation, the int32 bias at scale s_in·s_w, then either a requantized
     * uint8 output (ReLU/identity fused as a clamp) or float values for the other activations.
     */
    private void integerLayer(NetOps.Op op, NetOps.Conv conv, int[] g, Batch t, int rows, int[] xq, QParams in, QParams out,
                              NetOps.Act act, float[] bias, int channels, int positions) {
        int[] xi = new int[xq.length];
        for (int i = 0; i < xi.length; i++) xi[i] = xq[i] - in.zeroPoint();
        int[] acc = conv == null ? Kernels.gemm(xi, rows, t.n, integers.get(op.layer()), channels)
                : Kernels.gemm(Kernels.im2col(xi, rows, t.c, t.h, t.w, conv, g, 0), rows * positions, conv.in() * conv.kh() * conv.kw(),
                integers.get(op.layer()), channels);
        float[] s = scales.get(op.layer());
        float[] mult = new float[channels], requant = new float[channels];
        int[] bq = new int[channels];
        for (int c = 0; c < channels; c++) {
            mult[c] = in.scale() * s[c];
            bq[c] = (int) Math.rint(bias[c] / mult[c]);
            if (out != null) requant[c] = mult[c] / out.scale();
        }
        if (out != null && (act == NetOps.Act.RELU || act == NetOps.Act.IDENTITY)) {
            int lo = act == NetOps.Act.RELU ? Math.max(QMIN, out.zeroPoint()) : QMIN;
            int[] q = new int[acc.length];
            for (int i = 0; i < acc.length; i++) {
                int c = i % channels;
                long v = out.zeroPoint() + (long) Math.rint((acc[i] + bq[c]) * requant[c]);
                q[i] = (int) Math.max(lo, Math.min(QMAX, v));
            }
            t.set(conv == null ? q : Kernels.toImages(q, rows, positions, channels), out);
            return;
        }
        float[] y = new float[acc.length];
        for (int i = 0; i < acc.length; i++) {
            int c = i % channels;
            y[i] = out == null ? acc[i] * mult[c] + bias[c] : (acc[i] + bq[c]) * mult[c];
        }
        if (conv != null) y = Kernels.toImages(y, rows, positions, channels);
        if (out != null && act == NetOps.Act.SOFTMAX) fakeQuant(y, out);
        Kernels.activate(y, conv == null ? channels : channels * positions, act);
        if (out != null && act != NetOps.Act.SOFTMAX) t.set(quantize(y, out), out);
        else t.set(y);
    }

    private static void finish(Batch t, NetOps.Conv conv, int[] g, int channels) {
        if (conv == null) {
            t.n = channels;
            t.c = t.h = t.w = 0;
            return;
        }
        t.c = conv.out();
        t.h = g[0];
        t.w = g[1];
        t.n = t.c * t.h * t.w;
    }

    /** x·W + b (a convolution as im2col and GEMM), in the output's layout. */
    private float[] floatLayer(NetOps.Op op, NetOps.Conv conv, int[] g, float[] x, int rows, Batch t, Map<Integer, INDArray> weights, float[] bias) {
        float[] y;
        if (conv == null) {
            if (inputs != null) inputs.observe(op.layer(), x, rows, ((NetOps.Dense) op).nIn());
            y = Kernels.gemm(x, rows, ((NetOps.Dense) op).nIn(), weights.get(op.layer()), buffers, op.layer());
        } else {
            float[] patches = Kernels.im2col(x, rows, t.c, t.h, t.w, conv, g, 0f);
            int k = conv.in() * conv.kh() * conv.kw();
            if (inputs != null) inputs.observe(op.layer(), patches, rows * g[0] * g[1], k);
            y = Kernels.gemm(patches, rows * g[0] * g[1], k, weights.get(op.layer()), buffers, op.layer());
        }
        int nb = bias.length;
        for (int o = 0; o < y.length; o += nb)
            for (int c = 0; c < nb; c++) y[o + c] += bias[c];
        return conv == null ? y : Kernels.toImages(y, rows, g[0] * g[1], conv.out());
    }

    private QParams calibrated(int key) {
        QParams p = m.plan().activations().get(key);
        if (p == null) throw new IllegalStateException("no calibrated activation range for " + (key < 0 ? "the input" : "layer " + key));
        return p;
    }

    static QParams batchRange(float[] x, boolean reduceRange) {
        float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
        for (float v : x) {
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
        }
        return QParams.fromMinMax(lo, hi, QDtype.QUINT8, false, reduceRange);
    }

    static int[] quantize(float[] x, QParams p) {
        int[] q = new int[x.length];
        for (int i = 0; i < x.length; i++) q[i] = p.quantize(x[i], QMIN, QMAX);
        return q;
    }

    static float[] dequantize(int[] q, QParams p) {
        float[] o = new float[q.length];
        for (int i = 0; i < o.length; i++) o[i] = (q[i] - p.zeroPoint()) * p.scale();
        return o;
    }

    static void fakeQuant(float[] y, QParams p) {
        for (int i = 0; i < y.length; i++) y[i] = p.dequantize(p.quantize(y[i], QMIN, QMAX));
    }
}
