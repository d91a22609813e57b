package io.squeeze.artifact;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Version;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.NetOps;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BaseOutputLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * ONNX export (opset 13, float) of a branching graph (a ResNet, a Keras functional model), vertex by vertex in
 * topological order, each vertex's output one ONNX value: convolutions as {@code Conv} with DL4J's padding (same mode's
 * odd pad last), batch normalization as {@code BatchNormalization} of DL4J's inference map (its scale γ/√(σ²+ε) and shift
 * β − scale·μ, with mean 0, variance 1, epsilon 0), dense and output layers as {@code Gemm} (the output layer's pre-activation is
 * {@code logits}, its softmax {@code output}, as the layer-stack export names them), pooling as {@code MaxPool} /
 * {@code AveragePool} / {@code GlobalAveragePool} + {@code Flatten}, element-wise vertices as {@code Add}, {@code Sub},
 * {@code Mul}, {@code Max}, {@code Mean}, concatenation as {@code Concat} on the channel axis, the flat input reshaped by
 * a {@code FeedForwardToCnn} preprocessor and flattened by {@code CnnToFeedForward} (NCHW order, as DL4J). The model's
 * normalization is the first two nodes. Anything else is refused naming the vertex.
 */
final class OnnxGraphExport {
    private final OnnxGraph g = new OnnxGraph("squeeze");
    private final ComputationGraph graph;
    private final Map<String, String> value = new HashMap<>();
    private final Map<String, long[]> shape = new HashMap<>(); // per vertex: [C] (flat) or [C, H, W]
    private String logits, output;

    private OnnxGraphExport(ComputationGraph graph) {
        this.graph = graph;
    }

    static OnnxExport.Exported export(LoadedModel m) {
        OnnxGraphExport e = new OnnxGraphExport(m.graph());
        ComputationGraphConfiguration c = m.graph().getConfiguration();
        int features = m.meta().numFeatures();
        e.g.input("input", features);
        var nz = m.meta().normalizer();
        String in = "input";
        if (!nz.isIdentity()) {
            in = e.g.node("Sub", "centered", new String[]{in, e.g.floats("norm_offset", nz.offset(), nz.offset().length)});
            in = e.g.node("Mul", "normalized", new String[]{in, e.g.floats("norm_scale", nz.scale(), nz.scale().length)});
        }
        e.value.put(c.getNetworkInputs().get(0), in);
        e.shape.put(c.getNetworkInputs().get(0), new long[]{features});
        for (String v : c.getTopologicalOrderStr()) if (c.getVertices().get(v) != null) e.vertex(v, c);
        if (e.logits == null) throw new BadInputException("ONNX export: the graph's output vertex has no weights, so no logits");
        long k = m.meta().numClasses();
        e.g.node("Identity", new String[]{"logits"}, new String[]{e.logits});
        e.g.node("Identity", new String[]{"output"}, new String[]{e.output});
        e.g.output("logits", k);
        e.g.output("output", k);
        return new OnnxExport.Exported(e.g.model(OnnxExport.OPSET, "squeeze", Version.version(), OnnxExport.metadata(m, "float graph")).toByteArray(),
                "float graph", e.g.sparseWeights());
    }

    private BadInputException refuse(String v, String what) {
        return new BadInputException("ONNX export: vertex '" + v + "' is " + what + ", which the graph export does not support");
    }

    private void vertex(String v, ComputationGraphConfiguration c) {
        GraphVertex gv = c.getVertices().get(v);
        List<String> ins = c.getVertexInputs().get(v);
        String x = value.get(ins.get(0));
        long[] s = shape.get(ins.get(0));
        if (gv instanceof ElementWiseVertex ew) {
            String op = switch (ew.getOp()) {
                case Add -> "Add";
                case Subtract -> "Sub";
                case Product -> "Mul";
                case Max -> "Max";
                case Average -> "Mean";
            };
            put(v, g.node(op, v, ins.stream().map(value::get).toArray(String[]::new)), s);
            return;
        }
        if (gv instanceof MergeVertex) {
            long total = ins.stream().mapToLong(i -> shape.get(i)[0]).sum();
            long[] out = s.clone();
            out[0] = total;
            put(v, g.node("Concat", v, ins.stream().map(value::get).toArray(String[]::new), "axis", 1L), out);
            return;
        }
        if (!(gv instanceof LayerVertex lv)) throw refuse(v, "a " + gv.getClass().getSimpleName());
        if (ins.size() != 1) throw refuse(v, "a layer with " + ins.size() + " inputs");
        InputPreProcessor pre = lv.getPreProcessor();
        NetOps.Reshape image = NetOps.Reshape.of(-1, pre);
        if (image != null && image.toImage()) {
            s = new long[]{image.c(), image.h(), image.w()};
            x = g.reshape(image, x, v + "_image");
        } else if (pre instanceof CnnToFeedForwardPreProcessor) {
            x = g.node("Flatten", v + "_flat", new String[]{x}, "axis", 1L);
            s = new long[]{s[0] * s[1] * s[2]};
        } else if (pre != null) {
            throw refuse(v, "a layer with a " + pre.getClass().getSimpleName());
        }
        var l = lv.getLayerConf().getLayer();
        Layer layer = graph.getLayer(v);
        if (l instanceof ConvolutionLayer conv && l.getClass() == ConvolutionLayer.class) {
            INDArray w = layer.getParam("W");
            int kh = conv.getKernelSize()[0], kw = conv.getKernelSize()[1], sh = conv.getStride()[0], sw = conv.getStride()[1];
            if (conv.getDilation()[0] != 1 || conv.getDilation()[1] != 1) throw refuse(v, "a dilated convolution");
            boolean same = conv.getConvolutionMode() == ConvolutionMode.Same;
            int[] gy = NetOps.window((int) s[1], kh, sh, conv.getPadding()[0], same), gx = NetOps.window((int) s[2], kw, sw, conv.getPadding()[1], same);
            String wn = g.floats(v + "_W", floats(w), w.shape());
            INDArray b = layer.paramTable().get("b");
            String[] in = b == null ? new String[]{x, wn} : new String[]{x, wn, g.floats(v + "_b", floats(b), b.length())};
            String y = g.node("Conv", v, in, "kernel_shape", new long[]{kh, kw}, "strides", new long[]{sh, sw},
                    "pads", OnnxExport.pads(gy, gx, (int) s[1], (int) s[2], kh, kw, sh, sw));
            put(v, activate(v, y, ((BaseLayer) l).getActivationFn()), new long[]{w.size(0), gy[0], gx[0]});
        } else if (l instanceof BatchNormalization bn) {
            // DL4J's inference map (its running variance, or 10^log10stdev squared, plus epsilon) as scale and shift
            var affine = io.squeeze.model.BatchNormFold.affine(bn, layer.paramTable());
            int ch = affine.scale().length;
            put(v, g.node("BatchNormalization", v, new String[]{x, g.floats(v + "_scale", toFloats(affine.scale()), ch),
                    g.floats(v + "_shift", toFloats(affine.shift()), ch), g.floats(v + "_zero", new float[ch], ch), g.floats(v + "_one", filled(ch, 1f), ch)},
                    "epsilon", 0f), s);
        } else if (l instanceof DenseLayer || l instanceof BaseOutputLayer) {
            INDArray w = layer.getParam("W"), b = layer.paramTable().get("b");
            String[] in = b == null ? new String[]{x, g.floats(v + "_W", floats(w), w.shape())}
                    : new String[]{x, g.floats(v + "_W", floats(w), w.shape()), g.floats(v + "_b", floats(b), b.length())};
            String z = g.node("Gemm", v + "_z", in);
            boolean last = graph.getConfiguration().getNetworkOutputs().contains(v);
            String y = activate(v, z, ((BaseLayer) l).getActivationFn());
            if (last) {
                logits = z;
                output = y;
            }
            put(v, y, new long[]{w.size(1)});
        } else if (l instanceof ActivationLayer a) {
            put(v, activate(v, x, a.getActivationFn()), s);
        } else if (l instanceof DropoutLayer) {
            put(v, x, s);
        } else if (l instanceof SubsamplingLayer p && l.getClass() == SubsamplingLayer.class) {
            if (p.getPoolingType() != PoolingType.MAX
                    && p.getPoolingType() != PoolingType.AVG) throw refuse(v, p.getPoolingType() + " pooling");
            int kh = p.getKernelSize()[0], kw = p.getKernelSize()[1], sh = p.getStride()[0], sw = p.getStride()[1];
            boolean same = p.getConvolutionMode() == ConvolutionMode.Same;
            int[] gy = NetOps.window((int) s[1], kh, sh, p.getPadding()[0], same), gx = NetOps.window((int) s[2], kw, sw, p.getPadding()[1], same);
            String op = p.getPoolingType() == PoolingType.MAX ? "MaxPool" : "AveragePool";
            put(v, g.node(op, v, new String[]{x}, "kernel_shape", new long[]{kh, kw}, "strides", new long[]{sh, sw},
                    "pads", OnnxExport.pads(gy, gx, (int) s[1], (int) s[2], kh, kw, sh, sw)), new long[]{s[0], gy[0], gx[0]});
        } else if (l instanceof GlobalPoolingLayer p && s.length == 3) {
            if (p.getPoolingType() != PoolingType.AVG && p.getPoolingType() != PoolingType.MAX) throw refuse(v, p.getPoolingType() + " global pooling");
            String y = g.node(p.getPoolingType() == PoolingType.AVG ? "GlobalAveragePool" : "GlobalMaxPool", v + "_pool", new String[]{x});
            put(v, g.node("Flatten", v, new String[]{y}, "axis", 1L), new long[]{s[0]});
        } else {
            throw refuse(v, "a " + l.getClass().getSimpleName());
        }
    }

    private String activate(String v, String x, org.nd4j.linalg.activations.IActivation a) {
        return switch (NetOps.act("ONNX export", -1, a)) {
            case IDENTITY -> x;
            case RELU -> g.node("Relu", v + "_relu", new String[]{x});
            case TANH -> g.node("Tanh", v + "_tanh", new String[]{x});
            case SIGMOID -> g.node("Sigmoid", v + "_sigmoid", new String[]{x});
            case SOFTMAX -> g.node("Softmax", v + "_softmax", new String[]{x}, "axis", 1L);
        };
    }

    private void put(String v, String name, long[] s) {
        value.put(v, name);
        shape.put(v, s);
    }

    private static float[] floats(INDArray a) {
        return a.dup('c').castTo(DataType.FLOAT).data().asFloat();
    }

    private static float[] toFloats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }

    private static float[] filled(long n, float v) {
        float[] f = new float[(int) n];
        java.util.Arrays.fill(f, v);
        return f;
    }
}
