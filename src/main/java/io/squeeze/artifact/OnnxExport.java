package io.squeeze.artifact;

import ai.onnx.proto.OnnxMl;
import io.squeeze.core.BadInputException;
import io.squeeze.core.Version;
import io.squeeze.data.Normalizer;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.NetOps;
import io.squeeze.quantize.QParams;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.quantize.QuantizedModel;
import io.squeeze.quantize.QuantizedTensor;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A model as an ONNX graph (opset {@value #OPSET}) that computes what Squeeze computes: input {@code input}
 * [N, features] of raw features (the recorded normalization is the graph's first Sub and Mul), outputs
 * {@code logits} (the last layer's pre-activation) and {@code output} (the network's output: softmax probabilities
 * for a classifier).
 *
 * <ul>
 * <li>Float models: Gemm per dense layer (a factorized layer is its two Gemms, a shrunk layer its smaller one),
 * Conv with explicit pads (DL4J's Same mode puts the odd pad bottom/right), MaxPool, Reshape, Relu/Tanh/Sigmoid/
 * Softmax. Pruned weights are zeros: a dense initializer, or a sparse {@code Constant} where that is smaller.
 * fp16 weights are float16 initializers cast to float32, exactly the values Squeeze computes with.</li>
 * <li>Static int8/int4 models in QDQ form, the integer path of {@code QuantRunner} written as ONNX Runtime fuses it
 * (QLinear/QGemm kernels): every quantized layer reads {@code DequantizeLinear(QuantizeLinear(x))} with the
 * calibrated uint8 activation qparams, weights from {@code DequantizeLinear} of the stored integers with per-channel
 * scales on the layer's channel axis (1 for a dense W [in, out], 0 for a convolution's [out, in, kh, kw]), the bias
 * as int32 at scale s_in·s_w (Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient
 * Integer-Arithmetic-Only Inference", §2.4), and the output into {@code QuantizeLinear} with its calibrated qparams
 * (after a ReLU, which the output's zero point then fuses). Opset 13 has no 4-bit type: int4 weights are stored as
 * int8/uint8 holding their 4-bit values, so the arithmetic is the same.</li>
 * <li>Dynamic int8 models: {@code DynamicQuantizeLinear} of each layer's input (its own min/max per batch, as
 * PyTorch's dynamic Linear), {@code MatMulInteger}/{@code ConvInteger} on the stored int8 weights, the int32 sum
 * scaled by s_x·s_w and the float bias added. {@code --reduce-range} (7-bit activations) has no such operator and is
 * refused.</li>
 * </ul>
 * Anything the graph cannot express is refused naming the layer before anything is written.
 */
public final class OnnxExport {
    /** The opset the graphs use (per-axis QuantizeLinear/DequantizeLinear need 13). */
    public static final int OPSET = 13;

    private final OnnxGraph g = new OnnxGraph("squeeze");
    private final QuantizedModel quant;
    private final boolean dynamic;
    private String cur, curQ, curQScale, curQZp; // the value in flight: float, or uint8 with its qparams
    private QParams curQp;
    private int n, c, h, w, key = -1;
    private String logits;
    private boolean seqInFlight; // cur is an LSTM's sequence [steps, N, H] rather than rows

    private OnnxExport(QuantizedModel quant) {
        this.quant = quant;
        this.dynamic = quant != null && quant.plan().mode() == QuantConfig.Mode.DYNAMIC;
    }

    /**
     * An exported model.
     *
     * @param bytes              the serialized ONNX model
     * @param form               "float" or "float16 weights" (either with ", sparse weights"), "static QDQ" or "dynamic int8"
     * @param sparseWeights      how many weight tensors are stored sparse
     */
    public record Exported(byte[] bytes, String form, int sparseWeights) {}

    /** The ONNX model of {@code m}; its sha256 (an artifact's network identity) goes in the metadata. */
    public static Exported export(Loaded m) {
        LoadedModel lm = m.model();
        if (lm.isGraph() && m.quant() != null) return OnnxQuantGraphExport.export(lm, m.quant());
        if (lm.isGraph()) return OnnxGraphExport.export(lm);
        List<NetOps.Op> ops = m.quant() != null ? m.quant().ops() : NetOps.of(lm.net(), "ONNX export");
        if (m.quant() != null && m.quant().plan().mode() == QuantConfig.Mode.DYNAMIC && m.quant().plan().reduceRange())
            throw new BadInputException("model " + lm.source() + " is dynamically quantized with --reduce-range (7-bit activations), "
                    + "which ONNX's DynamicQuantizeLinear (8 bits) cannot express");
        OnnxExport e = new OnnxExport(m.quant());
        int features = lm.meta().numFeatures();
        e.g.input("input", features);
        e.cur = e.normalize(lm.meta().normalizer());
        e.n = features;
        for (int i = 0; i < ops.size(); i++) e.op(ops.get(i), i == ops.size() - 1);
        boolean integer = m.quant() != null && m.quant().plan().hasIntegerLayers();
        String form = integer ? (e.dynamic ? "dynamic int8" : "static QDQ")
                : (m.quant() != null ? "float16 weights" : "float") + (e.g.sparseWeights() > 0 ? ", sparse weights" : "")
                + (java.util.Arrays.stream(lm.net().getLayers()).anyMatch(l -> l instanceof io.squeeze.model.FactoredRecurrent.Running)
                ? ", factored recurrent layers as the products of their factors" : "");
        return new Exported(e.g.model(OPSET, "squeeze", Version.version(), metadata(lm, form)).toByteArray(), form, e.g.sparseWeights());
    }

    /** The metadata every export carries: the model's sha256, the form, classes, normalization and input shape. */
    static Map<String, String> metadata(LoadedModel lm, String form) {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("squeeze.model_sha256", lm.sha256());
        meta.put("squeeze.form", form);
        meta.put("squeeze.num_classes", String.valueOf(lm.meta().numClasses()));
        meta.put("squeeze.normalization", lm.meta().normalizer().kind().name().toLowerCase(java.util.Locale.ROOT));
        if (lm.meta().inputShape() != null) meta.put("squeeze.input_shape", java.util.Arrays.toString(lm.meta().inputShape()));
        return meta;
    }

    private String normalize(Normalizer nz) {
        if (nz.isIdentity()) return "input";
        String x = g.node("Sub", "centered", new String[]{"input", g.floats("norm_offset", nz.offset(), nz.offset().length)});
        return g.node("Mul", "normalized", new String[]{x, g.floats("norm_scale", nz.scale(), nz.scale().length)});
    }

    private void op(NetOps.Op op, boolean last) {
        if (op instanceof NetOps.Rnn l) {
            QuantizedTensor qt = quant == null ? null : quant.weights().get(op.layer());
            boolean integer = quant != null && quant.plan().precisionOf(op.layer()).integer();
            boolean fp16 = qt != null && qt.format() == QuantizedTensor.Format.FP16;
            if (qt != null && !integer && !fp16)
                throw new BadInputException("ONNX export: layer " + op.layer() + " is a " + io.squeeze.model.Recurrent.name(l.lstm())
                        + " with " + qt.format() + " weights; the export writes recurrent layers in float, float16 or dynamic int8");
            String x = floatValue(), seq = seqInFlight ? x : OnnxLstm.sequence(g, x, n / l.nIn(), l.nIn(), op.layer());
            cur = integer ? OnnxLstm.dynamic(g, l, seq, n / l.nIn(), dynamicWeights(g, qt, op.layer(), QuantizedModel.shape(op), false, l.gates() * l.hidden(), l.b()))
                    : fp16 ? OnnxLstm.layer(g, new NetOps.Rnn(l.layer(), l.nIn(), l.hidden(), qt.dequantize(), l.b(), l.act(), l.gate(), l.gates()), seq, true)
                    : OnnxLstm.layer(g, l, seq, false);
            seqInFlight = true;
            n = n / l.nIn() * l.hidden();
            key = op.layer();
        } else if (op instanceof NetOps.Last l) {
            cur = OnnxLstm.last(g, l, cur);
            seqInFlight = false;
            n = l.width();
        } else if (op instanceof NetOps.Reshape r) {
            if (curQ != null) curQ = g.reshape(r, curQ, "reshaped" + op.layer() + "_q");
            else cur = g.reshape(r, cur, "reshaped" + op.layer());
            n = r.c() * r.h() * r.w();
            c = r.c();
            h = r.h();
            w = r.w();
        } else if (op instanceof NetOps.MaxPool p) {
            int[] gy = NetOps.window(h, p.kh(), p.sh(), p.ph(), p.same()), gx = NetOps.window(w, p.kw(), p.sw(), p.pw(), p.same());
            Object[] attrs = {"kernel_shape", new long[]{p.kh(), p.kw()}, "strides", new long[]{p.sh(), p.sw()},
                    "pads", pads(gy, gx, h, w, p.kh(), p.kw(), p.sh(), p.sw())};
            if (curQ != null) {
                String y = g.node("MaxPool", "pool" + op.layer(), new String[]{dq(curQ, curQScale, curQZp)}, attrs);
                curQ = g.node("QuantizeLinear", "pool" + op.layer() + "_q", new String[]{y, curQScale, curQZp});
            } else cur = g.node("MaxPool", "pool" + op.layer(), new String[]{cur}, attrs);
            h = gy[0];
            w = gx[0];
            n = c * h * w;
        } else if (op instanceof NetOps.Activation a) {
            String x = floatValue();
            cur = activate(g, x, a.act(), "act" + a.layer());
            key = a.layer();
        } else {
            weighted(op, last);
            key = op.layer();
        }
        if (last) finish();
    }

    private void finish() {
        String out = floatValue();
        if (logits == null) throw new BadInputException("ONNX export: the last layer has no weights, so no logits");
        g.node("Identity", new String[]{"logits"}, new String[]{logits});
        g.node("Identity", new String[]{"output"}, new String[]{out});
        g.output("logits", n);
        g.output("output", n);
    }

    /** The float value in flight (dequantizing a uint8 one). */
    private String floatValue() {
        if (curQ != null) {
            cur = dq(curQ, curQScale, curQZp);
            curQ = null;
        }
        return cur;
    }

    private String dq(String q, String scale, String zp) {
        return g.node("DequantizeLinear", q + "_dq", new String[]{q, scale, zp});
    }

    private void weighted(NetOps.Op op, boolean last) {
        NetOps.Conv conv = op instanceof NetOps.Conv cv ? cv : null;
        NetOps.Dense dense = conv == null ? (NetOps.Dense) op : null;
        NetOps.Act act = conv != null ? conv.act() : dense.act();
        float[] bias = conv != null ? conv.b() : dense.b();
        int channels = bias.length, layer = op.layer();
        if (conv != null && act == NetOps.Act.SOFTMAX)
            throw new BadInputException("ONNX export: layer " + layer + " is a convolution with a softmax activation, which the export does not support");
        int[] gy = null, gx = null;
        Object[] attrs = {};
        if (conv != null) {
            gy = NetOps.window(h, conv.kh(), conv.sh(), conv.ph(), conv.same());
            gx = NetOps.window(w, conv.kw(), conv.sw(), conv.pw(), conv.same());
            attrs = new Object[]{"kernel_shape", new long[]{conv.kh(), conv.kw()}, "strides", new long[]{conv.sh(), conv.sw()},
                    "pads", pads(gy, gx, h, w, conv.kh(), conv.kw(), conv.sh(), conv.sw())};
        }
        long[] wShape = QuantizedModel.shape(op);
        QuantizedTensor qt = quant == null ? null : quant.weights().get(layer);
        boolean integer = quant != null && quant.plan().precisionOf(layer).integer();
        String op2 = conv != null ? "Conv" : "Gemm", y;
        if (!integer) {
            String x = floatValue();
            String wt = qt != null && qt.format() == QuantizedTensor.Format.FP16
                    ? g.node("Cast", "W" + layer, new String[]{g.halves("W" + layer + "_fp16", qt.values(), wShape)}, "to", OnnxMl.TensorProto.DataType.FLOAT.getNumber())
                    : g.floats("W" + layer, true, QuantizedModel.weightsOf(op), wShape);
            y = g.node(op2, "z" + layer, new String[]{x, wt, g.floats("b" + layer, bias, channels)}, attrs);
            if (last) logits = y;
            cur = activate(g, y, act, "y" + layer);
        } else if (dynamic) {
            y = dynamicLayer(g, floatValue(), qt, layer, wShape, conv != null, channels, bias, attrs);
            if (last) logits = y;
            cur = activate(g, y, act, "y" + layer);
        } else {
            QParams in;
            String xq, inScale, inZp;
            if (curQ != null) {
                in = curQp;
                xq = curQ;
                inScale = curQScale;
                inZp = curQZp;
            } else {
                in = calibrated(key);
                inScale = g.floats("a" + (key < 0 ? "in" : key) + "_scale", new float[]{in.scale()});
                inZp = g.bytes("a" + (key < 0 ? "in" : key) + "_zp", false, new int[]{in.zeroPoint()});
                xq = g.node("QuantizeLinear", "x" + layer + "_q", new String[]{cur, inScale, inZp});
            }
            String[] wq = weightInts(g, qt, layer, wShape);
            String wdq = g.node("DequantizeLinear", "W" + layer, new String[]{wq[0], wq[1], wq[2]}, axisAttr(qt));
            float[] s = scales(qt, channels);
            float[] mult = new float[channels];
            int[] bq = new int[channels];
            for (int k = 0; k < channels; k++) {
                mult[k] = in.scale() * s[k]; // as QuantRunner's integer path rounds the bias
                bq[k] = (int) Math.rint(bias[k] / mult[k]);
            }
            String bdq = g.node("DequantizeLinear", "b" + layer, new String[]{g.int32s("b" + layer + "_q", bq, channels),
                    g.floats("b" + layer + "_scale", mult, channels), g.int32s("b" + layer + "_zp", new int[channels], channels)}, "axis", 0);
            y = g.node(op2, "z" + layer, new String[]{dq(xq, inScale, inZp), wdq, bdq}, attrs);
            QParams out = calibrated(layer);
            String outScale = g.floats("a" + layer + "_scale", new float[]{out.scale()});
            String outZp = g.bytes("a" + layer + "_zp", false, new int[]{out.zeroPoint()});
            if (act == NetOps.Act.SOFTMAX) {
                String zq = g.node("QuantizeLinear", "z" + layer + "_q", new String[]{y, outScale, outZp});
                logits = dq(zq, outScale, outZp);
                cur = activate(g, logits, act, "y" + layer);
                curQ = null;
            } else {
                String a = activate(g, y, act, "y" + layer);
                curQ = g.node("QuantizeLinear", "y" + layer + "_q", new String[]{a, outScale, outZp});
                curQp = out;
                curQScale = outScale;
                curQZp = outZp;
                if (last) logits = dq(curQ, outScale, outZp); // what Squeeze's integer path returns before a final activation
            }
        }
        n = conv == null ? channels : channels * gy[0] * gx[0];
        if (conv != null) {
            c = channels;
            h = gy[0];
            w = gx[0];
        }
    }

    /**
     * The stored integers, their scale(s) and zero point(s) as initializers: {values, scales, zero points}. Symmetric
     * int8 weights go out as uint8 shifted by 128 (zero point 128: the same w - zp): ONNX Runtime's x86 u8·s8 kernels
     * without AVX-512 VNNI add pairs of products in saturating 16-bit lanes (vpmaddubsw), which on an AVX2 machine
     * changed 10 % of a pruned int8 model's predictions; its u8·u8 kernels widen first and are exact. 4-bit values
     * cannot saturate and stay as they are.
     */
    static String[] weightInts(OnnxGraph g, QuantizedTensor qt, int layer, long[] shape) {
        int shift = uint8Shift(qt);
        boolean signed = qt.symmetric() && shift == 0;
        int[] v = new int[qt.values().length];
        for (int i = 0; i < v.length; i++) v[i] = qt.values()[i] + shift;
        int k = qt.params().length;
        float[] s = new float[k];
        int[] zp = new int[k];
        for (int i = 0; i < k; i++) {
            s[i] = qt.params()[i].scale();
            zp[i] = qt.params()[i].zeroPoint() + shift;
        }
        long[] dims = qt.axis() < 0 ? new long[0] : new long[]{k};
        return new String[]{g.bytes("W" + layer + "_q", signed, v, shape), g.floats("W" + layer + "_scale", qt.axis() < 0 ? new float[]{s[0]} : s, dims),
                g.bytes("W" + layer + "_zp", signed, qt.axis() < 0 ? new int[]{zp[0]} : zp, dims)};
    }

    /**
     * A dynamically quantized dense or convolution layer's pre-activation: {@code x} quantized by
     * {@code DynamicQuantizeLinear}, {@code MatMulInteger}/{@code ConvInteger} with the stored integer weights, the int32
     * sums times s_x·s_w per channel, plus the float bias.
     */
    static String dynamicLayer(OnnxGraph g, String x, QuantizedTensor qt, int layer, long[] wShape, boolean conv, int channels, float[] bias, Object[] attrs) {
        return dynamicProduct(g, x, dynamicWeights(g, qt, layer, wShape, conv, channels, bias), "" + layer, conv, attrs);
    }

    /**
     * A dynamically quantized layer's constants: {integer weights, their zero point(s), per-channel weight scales,
     * float bias}, written once for every product that uses them (a recurrent layer's steps).
     */
    static String[] dynamicWeights(OnnxGraph g, QuantizedTensor qt, int layer, long[] wShape, boolean conv, int channels, float[] bias) {
        String[] wq = weightInts(g, qt, layer, wShape);
        long[] perChannel = conv ? new long[]{channels, 1, 1} : new long[]{channels};
        return new String[]{wq[0], conv ? convWeightZeroPoint(g, qt, layer) : wq[2], g.floats("w" + layer + "_scales", scales(qt, channels), perChannel),
                g.floats("b" + layer, bias, perChannel)};
    }

    /** {@code x} times the constants of {@link #dynamicWeights}: DynamicQuantizeLinear, the integer product, the scales, the bias. */
    static String dynamicProduct(OnnxGraph g, String x, String[] w, String tag, boolean conv, Object[] attrs) {
        String xq = g.name("x" + tag + "_q"), xs = g.name("x" + tag + "_scale"), xz = g.name("x" + tag + "_zp");
        g.node("DynamicQuantizeLinear", new String[]{xq, xs, xz}, new String[]{x});
        String acc = g.node(conv ? "ConvInteger" : "MatMulInteger", "acc" + tag, new String[]{xq, w[0], xz, w[1]}, attrs);
        String mult = g.node("Mul", "mult" + tag, new String[]{xs, w[2]});
        String z = g.node("Mul", "acc" + tag + "_f", new String[]{g.node("Cast", "acc" + tag + "_float", new String[]{acc},
                "to", OnnxMl.TensorProto.DataType.FLOAT.getNumber()), mult});
        return g.node("Add", "z" + tag, new String[]{z, w[3]});
    }

    /**
     * ConvInteger's weight zero point as one value: ONNX allows one per output channel, but ONNX Runtime 1.19's CPU
     * kernel refuses a vector ("Non per-tensor quantization is not supported now"). Symmetric weights share zero point
     * 128 (see {@link #weightInts}); per-channel affine weights with different zero points are refused.
     */
    private static String convWeightZeroPoint(OnnxGraph g, QuantizedTensor qt, int layer) {
        int shift = uint8Shift(qt);
        int zp = qt.params()[0].zeroPoint();
        for (var p : qt.params())
            if (p.zeroPoint() != zp)
                throw new BadInputException("layer " + layer + " is a dynamic int8 convolution with a zero point per channel (affine scheme), "
                        + "which ONNX Runtime's ConvInteger does not run; quantize it with --scheme symmetric or --granularity tensor");
        return g.bytes("W" + layer + "_zp1", qt.symmetric() && shift == 0, new int[]{zp + shift}, new long[0]);
    }

    /** 128 for symmetric int8 weights, which {@link #weightInts} writes as uint8; else 0 (stored as they are). */
    private static int uint8Shift(QuantizedTensor qt) {
        return qt.symmetric() && qt.format() == QuantizedTensor.Format.INT8 ? 128 : 0;
    }

    static Object[] axisAttr(QuantizedTensor qt) {
        return qt.axis() < 0 ? new Object[0] : new Object[]{"axis", qt.axis()};
    }

    static float[] scales(QuantizedTensor qt, int channels) {
        float[] s = new float[channels];
        for (int k = 0; k < channels; k++) s[k] = qt.params()[qt.params().length == 1 ? 0 : k].scale();
        return s;
    }

    private QParams calibrated(int k) {
        QParams p = quant.plan().activations().get(k);
        if (p == null) throw new BadInputException("ONNX export: the quantized model has no calibrated range for "
                + (k < 0 ? "the input" : "layer " + k));
        return p;
    }

    /** The activation's node, or {@code x} itself for the identity (a node when {@code x} must stay distinct). */
    static String activate(OnnxGraph g, String x, NetOps.Act act, String out) {
        return switch (act) {
            case IDENTITY -> x;
            case RELU -> g.node("Relu", out, new String[]{x});
            case TANH -> g.node("Tanh", out, new String[]{x});
            case SIGMOID -> g.node("Sigmoid", out, new String[]{x});
            case SOFTMAX -> g.node("Softmax", out, new String[]{x}, "axis", 1);
        };
    }

    /** ONNX pads {top, left, bottom, right} giving the output DL4J computes (the odd pad of Same mode goes last). */
    static long[] pads(int[] gy, int[] gx, int h, int w, int kh, int kw, int sh, int sw) {
        long bottom = Math.max(0, (long) (gy[0] - 1) * sh + kh - h - gy[1]), right = Math.max(0, (long) (gx[0] - 1) * sw + kw - w - gx[1]);
        return new long[]{gy[1], gx[1], bottom, right};
    }
}
