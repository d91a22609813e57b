package io.squeeze.artifact;

import io.squeeze.core.BadInputException;
import io.squeeze.model.NetOps;

/**
 * Squeeze's recurrent layers ({@link NetOps.Rnn}, {@link NetOps.Last}) as ONNX nodes (opset 13): rows of
 * {@code steps · features} are reshaped to {@code [N, steps, features]} and transposed to ONNX's sequence-first
 * {@code [steps, N, features]}; each layer is one {@code LSTM} (or {@code RNN}) node whose every-step output {@code Y}
 * {@code [steps, 1, N, H]} is squeezed to the next layer's sequence; the last step is a {@code Gather} at
 * {@code steps − 1}. Weights: ONNX orders a layer's gate blocks input, output, forget, cell ({@code iofc}), each
 * {@code [4H, in]} (transposed), where DL4J orders cell input, forget, output, input gate along the columns of
 * {@code [in, 4H]}; DL4J's one bias goes in ONNX's input bias {@code Wb}, its recurrent bias {@code Rb} is zero.
 * The default activations (sigmoid gates, tanh cell) are ONNX's defaults; others are refused. fp16 weights go in as
 * float16 initializers cast to float. A dynamically quantized layer cannot be an {@code LSTM}/{@code RNN} node
 * (float only): {@link #dynamic} unrolls it over its steps instead.
 */
final class OnnxLstm {
    /** ONNX gate block k (i, o, f, c) is DL4J's column block DL4J_BLOCK[k] (DL4J: 0 cell input, 1 forget, 2 output, 3 input). */
    private static final int[] DL4J_BLOCK = {3, 2, 1, 0};

    private OnnxLstm() {}

    /** Rows {@code x} [N, steps · features] as the sequence [steps, N, features]. */
    static String sequence(OnnxGraph g, String x, int steps, int features, int layer) {
        String shape = g.int64s("seq_shape" + layer, new long[]{-1, steps, features}, 3);
        String r = g.node("Reshape", "seq" + layer, new String[]{x, shape});
        return g.node("Transpose", "seq_t" + layer, new String[]{r}, "perm", new long[]{1, 0, 2});
    }

    /**
     * One recurrent layer on the sequence {@code seq} [steps, N, nIn]; returns its outputs as the sequence [steps, N, H].
     * A SimpleRnn is ONNX's {@code RNN} node ({@code H_t = f(X_t·Wᵀ + H_{t−1}·Rᵀ + Wb + Rb)}, one block). With
     * {@code halves} W and R are stored as float16 (the values of fp16 weights, exactly) and {@code Cast} to float.
     */
    static String layer(OnnxGraph g, NetOps.Rnn op, String seq, boolean halves) {
        if (!op.lstm()) return simple(g, op, seq, halves);
        if (op.act() != NetOps.Act.TANH || op.gate() != NetOps.Act.SIGMOID)
            throw new BadInputException("ONNX export: layer " + op.layer() + " is an LSTM with activation " + op.act() + " and gates "
                    + op.gate() + "; the export writes LSTMs with tanh and sigmoid gates (ONNX's defaults)");
        int h = op.hidden(), in = op.nIn(), g4 = 4 * h;
        float[] w = new float[g4 * in], r = new float[g4 * h], b = new float[2 * g4];
        for (int k = 0; k < 4; k++) {
            int from = DL4J_BLOCK[k] * h;
            for (int u = 0; u < h; u++) {
                int row = k * h + u;
                for (int j = 0; j < in; j++) w[row * in + j] = op.w()[j * g4 + from + u];
                for (int j = 0; j < h; j++) r[row * h + j] = op.w()[(in + j) * g4 + from + u];
                b[row] = op.b()[from + u];
            }
        }
        String l = "L" + op.layer();
        String[] inputs = {seq, weights(g, l + "_W", w, halves, 1, g4, in), weights(g, l + "_R", r, halves, 1, g4, h), g.floats(l + "_B", b, 1, 2L * g4)};
        String y = g.node("LSTM", "lstm" + op.layer(), inputs, "hidden_size", (long) h);
        return g.node("Squeeze", "lstm_seq" + op.layer(), new String[]{y, g.int64s("squeeze_axes" + op.layer(), new long[]{1}, 1)});
    }

    /** A SimpleRnn as ONNX's {@code RNN}: W [1, H, in] and R [1, H, H] transposed from DL4J's [in, H] and [H, H]. */
    private static String simple(OnnxGraph g, NetOps.Rnn op, String seq, boolean halves) {
        String f = switch (op.act()) {
            case TANH -> "Tanh";
            case RELU -> "Relu";
            case SIGMOID -> "Sigmoid";
            default -> throw new BadInputException("ONNX export: layer " + op.layer() + " is a SimpleRnn with activation " + op.act()
                    + "; ONNX's RNN takes tanh, relu or sigmoid");
        };
        int h = op.hidden(), in = op.nIn();
        float[] w = new float[h * in], r = new float[h * h], b = new float[2 * h];
        for (int u = 0; u < h; u++) {
            for (int j = 0; j < in; j++) w[u * in + j] = op.w()[j * h + u];
            for (int j = 0; j < h; j++) r[u * h + j] = op.w()[(in + j) * h + u];
            b[u] = op.b()[u];
        }
        String l = "L" + op.layer();
        String[] inputs = {seq, weights(g, l + "_W", w, halves, 1, h, in), weights(g, l + "_R", r, halves, 1, h, h), g.floats(l + "_B", b, 1, 2L * h)};
        String y = g.node("RNN", "rnn" + op.layer(), inputs, "hidden_size", (long) h, "activations", new String[]{f});
        return g.node("Squeeze", "rnn_seq" + op.layer(), new String[]{y, g.int64s("squeeze_axes" + op.layer(), new long[]{1}, 1)});
    }

    /**
     * A dynamically quantized recurrent layer, unrolled over its {@code steps}: at step t, {@code [x_t, h_{t−1}]}
     * (a {@code Concat}) times the int8 {@code [W; RW]} as {@link OnnxExport#dynamicProduct} writes a dynamic int8
     * dense layer ({@code DynamicQuantizeLinear} from the step's own range, {@code MatMulInteger}, × s_x·s_w per gate
     * column, + b), then the cell update in float on DL4J's column blocks (an LSTM: cell input, forget, output, input
     * gate, {@code c_t = f ⊙ c_{t−1} + i ⊙ a}, {@code h_t = o ⊙ act(c_t)}; a SimpleRnn: {@code h_t = act(z)}) —
     * what Squeeze's quantized runtime and PyTorch's dynamically quantized LSTM compute, which ONNX's {@code LSTM}
     * node (float only) cannot. {@code h_0} and {@code c_0} are zeros; the result is the sequence [steps, N, H].
     */
    static String dynamic(OnnxGraph g, NetOps.Rnn op, String seq, int steps, String[] weights) {
        int h = op.hidden(), layer = op.layer();
        String zeros = g.floats("L" + layer + "_zero", new float[op.nIn() * h], op.nIn(), h);
        String first = step(g, seq, 0, layer);
        String hPrev = g.node("MatMul", "h" + layer + "_0", new String[]{first, zeros}), cPrev = hPrev; // [N, H] zeros
        String split = op.lstm() ? g.int64s("L" + layer + "_split", new long[]{h, h, h, h}, 4) : null;
        String axis0 = g.int64s("L" + layer + "_axis0", new long[]{0}, 1);
        String[] hs = new String[steps];
        for (int t = 0; t < steps; t++) {
            String tag = layer + "_t" + t;
            String xh = g.node("Concat", "xh" + tag, new String[]{t == 0 ? first : step(g, seq, t, layer), hPrev}, "axis", 1L);
            String z = OnnxExport.dynamicProduct(g, xh, weights, tag, false, new Object[0]);
            if (op.lstm()) {
                String[] blocks = {g.name("a" + tag), g.name("f" + tag), g.name("o" + tag), g.name("i" + tag)};
                g.node("Split", blocks, new String[]{z, split}, "axis", 1L);
                String a = OnnxExport.activate(g, blocks[0], op.act(), "a" + tag + "_act");
                String f = OnnxExport.activate(g, blocks[1], op.gate(), "f" + tag + "_gate");
                String o = OnnxExport.activate(g, blocks[2], op.gate(), "o" + tag + "_gate");
                String i = OnnxExport.activate(g, blocks[3], op.gate(), "i" + tag + "_gate");
                cPrev = g.node("Add", "c" + tag, new String[]{g.node("Mul", "fc" + tag, new String[]{f, cPrev}), g.node("Mul", "ia" + tag, new String[]{i, a})});
                hPrev = g.node("Mul", "h" + tag, new String[]{o, OnnxExport.activate(g, cPrev, op.act(), "c" + tag + "_act")});
            } else {
                hPrev = OnnxExport.activate(g, z, op.act(), "h" + tag);
            }
            hs[t] = g.node("Unsqueeze", "h" + tag + "_seq", new String[]{hPrev, axis0});
        }
        return steps == 1 ? hs[0] : g.node("Concat", "seq" + layer + "_out", hs, "axis", 0L);
    }

    /** Step {@code t} [N, features] of the sequence {@code seq} [steps, N, features]. */
    private static String step(OnnxGraph g, String seq, int t, int layer) {
        return g.node("Gather", "x" + layer + "_t" + t, new String[]{seq, g.int64s("L" + layer + "_step" + t, new long[]{t})}, "axis", 0L);
    }

    /** A float weight initializer, or a float16 one cast to float. */
    private static String weights(OnnxGraph g, String name, float[] v, boolean halves, long... dims) {
        if (!halves) return g.floats(name, v, dims);
        short[] h = new short[v.length];
        for (int i = 0; i < v.length; i++) h[i] = io.squeeze.quantize.Half.fromFloat(v[i]);
        return g.node("Cast", name, new String[]{g.halves(name + "_fp16", h, dims)}, "to", ai.onnx.proto.OnnxMl.TensorProto.DataType.FLOAT.getNumber());
    }

    /** The last step [N, H] of the sequence {@code seq} [steps, N, H]. */
    static String last(OnnxGraph g, NetOps.Last op, String seq) {
        return g.node("Gather", "last" + op.layer(), new String[]{seq, g.int64s("last_step" + op.layer(), new long[]{op.steps() - 1})}, "axis", 0L);
    }
}
