package io.squeeze.artifact;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Version;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.NetOps;
import io.squeeze.quantize.QParams;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.quantize.QuantizedModel;
import io.squeeze.quantize.QuantizedTensor;

import java.util.List;

/**
 * ONNX export (opset {@value OnnxExport#OPSET}, QDQ) of a statically quantized graph, node by node as the integer
 * runtime runs it ({@link io.squeeze.model.GraphOps}: batch normalizations folded, ReLUs fused): every quantized
 * activation is a {@code QuantizeLinear} with its calibrated scale and zero point, read through
 * {@code DequantizeLinear}; weights are stored as integers with their per-channel scales, biases as int32 at
 * s_in·s_w — the layer-stack export's QDQ form ({@link OnnxExport}), which ONNX Runtime fuses into
 * {@code QLinearConv}/{@code QLinearMatMul}. A residual add is {@code DQ, DQ → Add (→ Relu) → Q} at the add's
 * calibrated qparams and a concatenation {@code DQ… → Concat → Q} at the merge's (ONNX Runtime's {@code QLinearAdd},
 * {@code QLinearConcat}); max pooling and global average pooling keep their input's qparams, as the integer runtime.
 * Layers kept in float (fp32, fp16 weights) run on dequantized inputs. A dynamically quantized graph's layers are the
 * layer-stack export's {@code DynamicQuantizeLinear} + {@code ConvInteger}/{@code MatMulInteger} ({@link OnnxExport#dynamicLayer});
 * its merges stay float, as in the integer runtime.
 */
final class OnnxQuantGraphExport {
    private final OnnxGraph g = new OnnxGraph("squeeze");
    private final QuantizedModel quant;
    private String logits;
    private Value logitsOf; // the last weighted node's quantized output, when the logits are it dequantized

    /** A node's output: float ({@code f}), or uint8 ({@code q}) with its scale and zero point initializers. */
    private static final class Value {
        String f, q, scale, zp;
        QParams qp;
        int n, c, h, w, key;
    }

    private OnnxQuantGraphExport(QuantizedModel quant) {
        this.quant = quant;
    }

    static OnnxExport.Exported export(LoadedModel lm, QuantizedModel quant) {
        if (quant.plan().mode() == QuantConfig.Mode.DYNAMIC && quant.plan().reduceRange())
            throw new BadInputException("model " + lm.source() + " is dynamically quantized with --reduce-range (7-bit activations), "
                    + "which ONNX's DynamicQuantizeLinear (8 bits) cannot express");
        OnnxQuantGraphExport e = new OnnxQuantGraphExport(quant);
        int features = lm.meta().numFeatures();
        e.g.input("input", features);
        var nz = lm.meta().normalizer();
        Value in = new Value();
        in.f = "input";
        if (!nz.isIdentity()) {
            in.f = e.g.node("Sub", "centered", new String[]{in.f, e.g.floats("norm_offset", nz.offset(), nz.offset().length)});
            in.f = e.g.node("Mul", "normalized", new String[]{in.f, e.g.floats("norm_scale", nz.scale(), nz.scale().length)});
        }
        in.n = features;
        in.key = -1;
        List<NetOps.Op> ops = quant.ops();
        Value[] out = new Value[ops.size()];
        for (int i = 0; i < ops.size(); i++) {
            int[] src = quant.wiring().get(i);
            Value[] ins = new Value[src.length];
            for (int j = 0; j < src.length; j++) ins[j] = src[j] < 0 ? in : out[src[j]];
            out[i] = e.node(ops.get(i), ins);
        }
        String y = e.floatOf(out[ops.size() - 1]);
        if (e.logits == null && e.logitsOf != null) e.logits = e.floatOf(e.logitsOf);
        if (e.logits == null) throw new BadInputException("ONNX export: the graph's last node has no weights, so no logits");
        int k = lm.meta().numClasses();
        e.g.node("Identity", new String[]{"logits"}, new String[]{e.logits});
        e.g.node("Identity", new String[]{"output"}, new String[]{y});
        e.g.output("logits", k);
        e.g.output("output", k);
        String form = !quant.plan().hasIntegerLayers() ? "float16 weights graph"
                : quant.plan().mode() == QuantConfig.Mode.DYNAMIC ? "dynamic int8 graph" : "static QDQ graph";
        return new OnnxExport.Exported(e.g.model(OnnxExport.OPSET, "squeeze", Version.version(), OnnxExport.metadata(lm, form)).toByteArray(),
                form, e.g.sparseWeights());
    }

    private Value node(NetOps.Op op, Value[] in) {
        Value a = in[0], v = new Value();
        v.n = a.n;
        v.c = a.c;
        v.h = a.h;
        v.w = a.w;
        v.key = a.key;
        int i = op.layer();
        if (op instanceof NetOps.Reshape r) {
            if (a.q != null) quantized(v, g.reshape(r, a.q, "reshaped" + i + "_q"), a.qp, a.scale, a.zp);
            else v.f = g.reshape(r, a.f, "reshaped" + i);
            v.c = r.toImage() ? r.c() : 0;
            v.h = r.toImage() ? r.h() : 0;
            v.w = r.toImage() ? r.w() : 0;
            v.n = r.c() * r.h() * r.w();
        } else if (op instanceof NetOps.MaxPool p) {
            int[] gy = NetOps.window(a.h, p.kh(), p.sh(), p.ph(), p.same()), gx = NetOps.window(a.w, p.kw(), p.sw(), p.pw(), p.same());
            String y = g.node("MaxPool", "pool" + i, new String[]{floatOf(a)}, "kernel_shape", new long[]{p.kh(), p.kw()}, "strides", new long[]{p.sh(), p.sw()},
                    "pads", OnnxExport.pads(gy, gx, a.h, a.w, p.kh(), p.kw(), p.sh(), p.sw()));
            keepQparams(v, a, y, i);
            v.h = gy[0];
            v.w = gx[0];
            v.n = v.c * v.h * v.w;
        } else if (op instanceof NetOps.GlobalAvgPool) {
            String y = g.node("Flatten", "gap" + i, new String[]{g.node("GlobalAveragePool", "gap" + i + "_pool", new String[]{floatOf(a)})}, "axis", 1L);
            keepQparams(v, a, y, i);
            v.n = a.c;
            v.c = v.h = v.w = 0;
        } else if (op instanceof NetOps.Activation act) {
            v.f = OnnxExport.activate(g, floatOf(a), act.act(), "act" + i);
            v.key = i;
        } else if (op instanceof NetOps.Add add) {
            String y = g.node("Add", "add" + i, new String[]{floatOf(a), floatOf(in[1])});
            merged(v, OnnxExport.activate(g, y, add.act(), "add" + i + "_relu"), i);
        } else if (op instanceof NetOps.Concat) {
            String[] xs = new String[in.length];
            int n = 0, c = 0;
            for (int j = 0; j < in.length; j++) {
                xs[j] = floatOf(in[j]);
                n += in[j].n;
                c += in[j].c;
            }
            merged(v, g.node("Concat", "concat" + i, xs, "axis", 1L), i);
            v.n = n;
            if (v.h > 0) v.c = c;
        } else if (op instanceof NetOps.Conv || op instanceof NetOps.Dense) {
            weighted(op, a, v);
        } else {
            throw new BadInputException("ONNX export: node " + i + " (" + op.getClass().getSimpleName() + ") is not exported for quantized graphs");
        }
        return v;
    }

    /** A merge's float result quantized at its calibrated qparams (float when none were calibrated: fp16, nf4 weights). */
    private void merged(Value v, String y, int node) {
        v.key = node;
        QParams out = quant.plan().activations().get(node);
        if (out == null) {
            v.f = y;
            return;
        }
        String s = g.floats("a" + node + "_scale", new float[]{out.scale()}), z = g.bytes("a" + node + "_zp", false, new int[]{out.zeroPoint()});
        quantized(v, g.node("QuantizeLinear", "y" + node + "_q", new String[]{y, s, z}), out, s, z);
    }

    /** Pooling: a quantized input's qparams carry over. */
    private void keepQparams(Value v, Value a, String y, int node) {
        if (a.q != null) quantized(v, g.node("QuantizeLinear", "pool" + node + "_q", new String[]{y, a.scale, a.zp}), a.qp, a.scale, a.zp);
        else v.f = y;
    }

    private static void quantized(Value v, String q, QParams qp, String scale, String zp) {
        v.q = q;
        v.qp = qp;
        v.scale = scale;
        v.zp = zp;
        v.f = null;
    }

    private String floatOf(Value v) {
        if (v.f == null) v.f = g.node("DequantizeLinear", v.q + "_dq", new String[]{v.q, v.scale, v.zp});
        return v.f;
    }

    private void weighted(NetOps.Op op, Value input, Value v) {
        Value a = input;
        NetOps.Conv conv = op instanceof NetOps.Conv cv ? cv : null;
        NetOps.Dense dense = conv == null ? (NetOps.Dense) op : null;
        NetOps.Act act = conv != null ? conv.act() : dense.act();
        float[] bias = conv != null ? conv.b() : dense.b();
        int channels = bias.length, layer = op.layer();
        int[] gy = null, gx = null;
        Object[] attrs = {};
        if (conv != null) {
            if (act == NetOps.Act.SOFTMAX) throw new BadInputException("ONNX export: node " + layer + " is a convolution with a softmax activation");
            gy = NetOps.window(a.h, conv.kh(), conv.sh(), conv.ph(), conv.same());
            gx = NetOps.window(a.w, conv.kw(), conv.sw(), conv.pw(), conv.same());
            attrs = new Object[]{"kernel_shape", new long[]{conv.kh(), conv.kw()}, "strides", new long[]{conv.sh(), conv.sw()},
                    "pads", OnnxExport.pads(gy, gx, a.h, a.w, conv.kh(), conv.kw(), conv.sh(), conv.sw())};
        }
        long[] wShape = QuantizedModel.shape(op);
        QuantizedTensor qt = quant.weights().get(layer);
        String kind = conv != null ? "Conv" : "Gemm";
        if (!quant.plan().precisionOf(layer).integer()) {
            String wt = qt != null && qt.format() == QuantizedTensor.Format.FP16
                    ? g.node("Cast", "W" + layer, new String[]{g.halves("W" + layer + "_fp16", qt.values(), wShape)}, "to", 1)
                    : g.floats("W" + layer, true, QuantizedModel.weightsOf(op), wShape);
            String y = g.node(kind, "z" + layer, new String[]{floatOf(a), wt, g.floats("b" + layer, bias, channels)}, attrs);
            logits = y;
            logitsOf = null;
            v.f = OnnxExport.activate(g, y, act, "y" + layer);
        } else if (quant.plan().mode() == QuantConfig.Mode.DYNAMIC) {
            String y = OnnxExport.dynamicLayer(g, floatOf(a), qt, layer, wShape, conv != null, channels, bias, attrs);
            logits = y;
            logitsOf = null;
            v.f = OnnxExport.activate(g, y, act, "y" + layer);
        } else {
            if (a.q == null) { // a float input: quantized at the range calibrated where it was computed (other readers keep the float)
                QParams p = calibrated(a.key);
                String s = g.floats("x" + layer + "_scale", new float[]{p.scale()}), z = g.bytes("x" + layer + "_zp", false, new int[]{p.zeroPoint()});
                Value x = new Value();
                quantized(x, g.node("QuantizeLinear", "x" + layer + "_q", new String[]{a.f, s, z}), p, s, z);
                a = x;
            }
            String[] wq = OnnxExport.weightInts(g, qt, layer, wShape);
            String wdq = g.node("DequantizeLinear", "W" + layer, new String[]{wq[0], wq[1], wq[2]}, OnnxExport.axisAttr(qt));
            float[] s = OnnxExport.scales(qt, channels), mult = new float[channels];
            int[] bq = new int[channels];
            for (int k = 0; k < channels; k++) {
                mult[k] = a.qp.scale() * s[k]; // as QuantRunner's integer path rounds the bias
                bq[k] = (int) Math.rint(bias[k] / mult[k]);
            }
            String bdq = g.node("DequantizeLinear", "b" + layer, new String[]{g.int32s("b" + layer + "_q", bq, channels),
                    g.floats("b" + layer + "_scale", mult, channels), g.int32s("b" + layer + "_zp", new int[channels], channels)}, "axis", 0);
            String y = g.node(kind, "z" + layer, new String[]{floatOf(a), wdq, bdq}, attrs);
            QParams out = calibrated(layer);
            String os = g.floats("a" + layer + "_scale", new float[]{out.scale()}), oz = g.bytes("a" + layer + "_zp", false, new int[]{out.zeroPoint()});
            if (act == NetOps.Act.SOFTMAX) {
                String zq = g.node("QuantizeLinear", "z" + layer + "_q", new String[]{y, os, oz});
                logits = g.node("DequantizeLinear", zq + "_dq", new String[]{zq, os, oz});
                logitsOf = null;
                v.f = OnnxExport.activate(g, logits, act, "y" + layer);
            } else {
                quantized(v, g.node("QuantizeLinear", "y" + layer + "_q", new String[]{OnnxExport.activate(g, y, act, "y" + layer), os, oz}), out, os, oz);
                logits = null; // what the integer path returns before a final activation: this output dequantized
                logitsOf = v;
            }
        }
        v.key = layer;
        if (conv == null) {
            v.n = channels;
            v.c = v.h = v.w = 0;
        } else {
            v.c = channels;
            v.h = gy[0];
            v.w = gx[0];
            v.n = channels * gy[0] * gx[0];
        }
    }

    private QParams calibrated(int k) {
        QParams p = quant.plan().activations().get(k);
        if (p == null) throw new BadInputException("ONNX export: the quantized graph has no calibrated range for " + (k < 0 ? "the input" : "node " + k));
        return p;
    }
}
