package io.squeeze.model;

import io.squeeze.core.BadInputException;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.activations.impl.ActivationReLU;
import org.nd4j.linalg.activations.impl.ActivationSigmoid;
import org.nd4j.linalg.activations.impl.ActivationSoftmax;
import org.nd4j.linalg.activations.impl.ActivationTanH;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * A DL4J network as a list of plain operations (weights as C-order float arrays, no DL4J types), for runtimes
 * that execute a network themselves — e.g. the integer-arithmetic runtime of quantization. Supports dense and
 * output layers, 2-d convolutions (NCHW, no dilation) and max pooling with DL4J's Truncate/Same padding, the
 * flat-to-image and image-to-flat preprocessors, activation layers, (inference-time no-op) dropout, and batch
 * normalization right after a dense layer or convolution, folded into that layer's op ({@link BatchNormFold}: the
 * op keeps the host's layer index), and LSTM layers on rows read as sequences with a last-step output.
 */
public final class NetOps {
    private NetOps() {}

    /** Activation functions the runtimes compute. */
    public enum Act { IDENTITY, RELU, SOFTMAX, TANH, SIGMOID }

    /** One operation; {@code layer} is the DL4J layer index it came from. */
    public sealed interface Op extends Serializable {
        int layer();
    }

    /** y = act(x·W + b), W [nIn, nOut] C order. */
    public record Dense(int layer, int nIn, int nOut, float[] w, float[] b, Act act) implements Op {}

    /** 2-d convolution; W [out, in, kh, kw] C order; padding top/left {@code ph, pw} (Same mode computed per input). */
    public record Conv(int layer, int out, int in, int kh, int kw, int sh, int sw, int ph, int pw, boolean same,
                       float[] w, float[] b, Act act) implements Op {}

    /** Max pooling. */
    public record MaxPool(int layer, int kh, int kw, int sh, int sw, int ph, int pw, boolean same) implements Op {}

    /** An activation on its own. */
    public record Activation(int layer, Act act) implements Op {}

    /**
     * A recurrent layer ({@link Recurrent}) over rows of {@code steps · nIn} values, step-major (NWC, as
     * {@link SequenceRows} reads them); out: every step's hidden state, rows of {@code steps · hidden}. Per step, with
     * {@code z = [x_t, h_{t−1}]·w + b}, {@code w} = [W; RW] of shape [nIn + hidden, gates·hidden] C order:
     * <ul>
     * <li>{@code gates} = 4, an LSTM (DL4J's {@code LSTM}: no peepholes): the four column blocks are DL4J's cell input
     * (activation {@code act}), forget, output and input gates (activation {@code gate});
     * {@code c_t = f ⊙ c_{t−1} + i ⊙ act(z)}, {@code h_t = o ⊙ act(c_t)} (Hochreiter &amp; Schmidhuber 1997; Gers et al. 2000);</li>
     * <li>{@code gates} = 1, a SimpleRnn: {@code h_t = act(z)} (Elman 1990; {@code gate} unused).</li>
     * </ul>
     */
    public record Rnn(int layer, int nIn, int hidden, float[] w, float[] b, Act act, Act gate, int gates) implements Op {
        /** Whether this is an LSTM (four gate blocks) rather than a SimpleRnn. */
        public boolean lstm() {
            return gates == 4;
        }

        /** "an LSTM" or "a SimpleRnn", for messages. */
        public String kind() {
            return (lstm() ? "an " : "a ") + Recurrent.name(lstm());
        }

        /** Stacks W [nIn, g·h] on RW [h, g·h] (both C order). */
        public static float[] stack(float[] w, float[] rw) {
            float[] out = java.util.Arrays.copyOf(w, w.length + rw.length);
            System.arraycopy(rw, 0, out, w.length, rw.length);
            return out;
        }
    }

    /** The last step of rows of {@code steps} steps of {@code width} values ({@link LastStep}). */
    public record Last(int layer, int steps, int width) implements Op {}

    /** Element-wise sum of two nodes' outputs of one shape (a residual add), then {@code act} ({@link GraphOps}). */
    public record Add(int layer, Act act) implements Op {}

    /** Its inputs side by side: images on the channel axis, flat rows as one longer row ({@link GraphOps}). */
    public record Concat(int layer) implements Op {}

    /** The mean of each channel of images [c, h, w]: flat rows of c ({@link GraphOps}). */
    public record GlobalAvgPool(int layer) implements Op {}

    /**
     * Flat rows [c·h·w] seen as images [c, h, w] (C order), or back to flat when {@code toImage} is false. With
     * {@code hwc} the rows hold each pixel's channels together ((height, width, channel) order, {@link HwcRows}) and
     * become channels-first images: value {@code (y·w + x)·c + k} moves to {@code k·h·w + y·w + x}.
     */
    public record Reshape(int layer, boolean toImage, boolean hwc, int c, int h, int w) implements Op {
        public Reshape {
            if (hwc && !toImage) throw new IllegalArgumentException("only image rows are read in (height, width, channel) order");
        }

        /**
         * The reshape layer {@code layer}'s preprocessor performs: flat rows to images ({@code FeedForwardToCnnPreProcessor},
         * channel by channel; {@link HwcRows}, pixel by pixel) or images to flat rows ({@code CnnToFeedForwardPreProcessor},
         * whose NCHW format the caller checks); null for any other preprocessor.
         */
        public static Reshape of(int layer, InputPreProcessor pre) {
            if (pre instanceof FeedForwardToCnnPreProcessor f)
                return new Reshape(layer, true, false, (int) f.getNumChannels(), (int) f.getInputHeight(), (int) f.getInputWidth());
            if (pre instanceof HwcRows r) return new Reshape(layer, true, true, r.channels(), r.height(), r.width());
            if (pre instanceof CnnToFeedForwardPreProcessor f)
                return new Reshape(layer, false, false, (int) f.getNumChannels(), (int) f.getInputHeight(), (int) f.getInputWidth());
            return null;
        }

        /** For each value of a channels-first image, the index of the value of an {@code hwc} row it is. */
        public int[] sourceIndex() {
            int hw = h * w;
            int[] src = new int[c * hw];
            for (int k = 0; k < c; k++)
                for (int p = 0; p < hw; p++) src[k * hw + p] = p * c + k;
            return src;
        }
    }

    /** The ops of {@code net}, in order; unsupported layers refused by index and type. */
    public static List<Op> of(MultiLayerNetwork net) {
        return of(net, "the quantized runtime");
    }

    /** As {@link #of(MultiLayerNetwork)}; {@code who} names the consumer in a refusal ("ONNX export"). */
    public static List<Op> of(MultiLayerNetwork net, String who) {
        List<Op> ops = new ArrayList<>();
        var conf = net.getLayerWiseConfigurations();
        for (int i = 0; i < net.getnLayers(); i++) {
            InputPreProcessor pre = conf.getInputPreProcess(i);
            if (pre instanceof CnnToFeedForwardPreProcessor f && f.getFormat() != CNN2DFormat.NCHW) throw refuse(who, i, "a " + f.getFormat() + " preprocessor");
            Reshape reshape = Reshape.of(i, pre);
            if (reshape != null) ops.add(reshape);
            else if (pre instanceof LastStep ls) {
                if (ops.isEmpty() || !(ops.get(ops.size() - 1) instanceof Rnn prev)) throw refuse(who, i, "a last-step preprocessor after a layer that is not recurrent");
                ops.add(new Last(i, ls.steps(), prev.hidden()));
            } else if (pre != null && !(pre instanceof SequenceRows && i == 0)) throw refuse(who, i, "input preprocessor " + pre.getClass().getSimpleName());
            Layer l = net.getLayer(i).conf().getLayer();
            if (l instanceof DenseLayer || l instanceof OutputLayer) {
                var ff = (org.deeplearning4j.nn.conf.layers.FeedForwardLayer) l;
                float[] b = net.getLayer(i).getParam("b") == null ? new float[(int) ff.getNOut()] : Surgery.values(net, i, "b");
                ops.add(new Dense(i, (int) ff.getNIn(), (int) ff.getNOut(), Surgery.values(net, i, "W"), b, act(who, i, ((BaseLayer) l).getActivationFn())));
            } else if (l.getClass() == ConvolutionLayer.class) {
                ConvolutionLayer c = (ConvolutionLayer) l;
                if (c.getCnn2dDataFormat() != CNN2DFormat.NCHW) throw refuse(who, i, "a " + c.getCnn2dDataFormat() + " convolution");
                if (c.getDilation()[0] != 1 || c.getDilation()[1] != 1) throw refuse(who, i, "a dilated convolution");
                float[] b = c.hasBias() ? Surgery.values(net, i, "b") : new float[(int) c.getNOut()];
                ops.add(new Conv(i, (int) c.getNOut(), (int) c.getNIn(), c.getKernelSize()[0], c.getKernelSize()[1],
                        c.getStride()[0], c.getStride()[1], c.getPadding()[0], c.getPadding()[1],
                        c.getConvolutionMode() == ConvolutionMode.Same, Surgery.values(net, i, "W"), b, act(who, i, c.getActivationFn())));
            } else if (Recurrent.is(l)) {
                var r = (org.deeplearning4j.nn.conf.layers.BaseRecurrentLayer) l;
                if (r.getRnnDataFormat() != org.deeplearning4j.nn.conf.RNNFormat.NWC) throw refuse(who, i, Recurrent.kind(l) + " in " + r.getRnnDataFormat() + " layout");
                Act act = act(who, i, r.getActivationFn());
                ops.add(new Rnn(i, (int) r.getNIn(), (int) r.getNOut(), Rnn.stack(recurrentMatrix(net, i, "W"), recurrentMatrix(net, i, "RW")),
                        Surgery.values(net, i, "b"), act, l instanceof LSTM lstm ? act(who, i, lstm.getGateActivationFn()) : act, Recurrent.gates(l)));
            } else if (l instanceof SubsamplingLayer s) {
                if (s.getPoolingType() != org.deeplearning4j.nn.conf.layers.PoolingType.MAX) throw refuse(who, i, s.getPoolingType() + " pooling");
                ops.add(new MaxPool(i, s.getKernelSize()[0], s.getKernelSize()[1], s.getStride()[0], s.getStride()[1],
                        s.getPadding()[0], s.getPadding()[1], s.getConvolutionMode() == ConvolutionMode.Same));
            } else if (l instanceof BatchNormalization) {
                ops.add(folded(ops.isEmpty() ? null : ops.remove(ops.size() - 1), net, i, who));
            } else if (l instanceof ActivationLayer a) {
                ops.add(new Activation(i, act(who, i, a.getActivationFn())));
            } else if (!(l instanceof DropoutLayer)) {
                throw refuse(who, i, "a " + l.getClass().getSimpleName());
            }
        }
        return ops;
    }

    /** A recurrent layer's W or RW (C order); a factored layer's product of factors ({@link FactoredRecurrent}), so it runs as the layer it computes. */
    private static float[] recurrentMatrix(MultiLayerNetwork net, int i, String param) {
        return net.getLayer(i) instanceof FactoredRecurrent.Running f ? f.product(param).dup('c').data().asFloat() : Surgery.values(net, i, param);
    }

    /** The dense or convolution op before a batch normalization at layer {@code i}, with it folded in ({@link BatchNormFold}). */
    private static Op folded(Op host, MultiLayerNetwork net, int i, String who) {
        if (!BatchNormFold.foldable(net.getLayerWiseConfigurations(), i) || host == null || host.layer() != i - 1)
            throw refuse(who, i, "a BatchNormalization that does not directly follow a dense layer or convolution without activation"
                    + " (only such a batch normalization folds into the layer before it)");
        BatchNormFold.Affine a = BatchNormFold.affine(net, i);
        Act act = Act.IDENTITY; // DL4J's batch normalization ignores its configured activation (see BatchNormFold)
        if (host instanceof Dense d) {
            float[][] wb = BatchNormFold.fold(d.w(), d.b(), true, a);
            return new Dense(d.layer(), d.nIn(), d.nOut(), wb[0], wb[1], act);
        }
        Conv c = (Conv) host;
        float[][] wb = BatchNormFold.fold(c.w(), c.b(), false, a);
        return new Conv(c.layer(), c.out(), c.in(), c.kh(), c.kw(), c.sh(), c.sw(), c.ph(), c.pw(), c.same(), wb[0], wb[1], act);
    }

    /** Output size and top/left padding of a sliding window, as DL4J computes them. */
    public static int[] window(int in, int k, int s, int p, boolean same) {
        if (same) {
            int out = (in + s - 1) / s;
            int total = Math.max(0, (out - 1) * s + k - in);
            return new int[]{out, total / 2};
        }
        return new int[]{(in + 2 * p - k) / s + 1, p};
    }

    /** The runtime's activation for DL4J's {@code a}, or a refusal naming {@code layer} and {@code who}. */
    public static Act act(String who, int layer, IActivation a) {
        if (a instanceof ActivationIdentity) return Act.IDENTITY;
        if (a instanceof ActivationReLU r) {
            boolean plain = (r.getMax() == null || r.getMax().isInfinite()) && (r.getThreshold() == null || r.getThreshold() == 0)
                    && (r.getNegativeSlope() == null || r.getNegativeSlope() == 0);
            if (plain) return Act.RELU;
            throw refuse(who, layer, "a ReLU with max " + r.getMax() + ", threshold " + r.getThreshold() + ", negative slope " + r.getNegativeSlope());
        }
        if (a instanceof ActivationSoftmax) return Act.SOFTMAX;
        if (a instanceof ActivationTanH) return Act.TANH;
        if (a instanceof ActivationSigmoid) return Act.SIGMOID;
        throw refuse(who, layer, "activation " + (a == null ? "null" : a.getClass().getSimpleName()));
    }

    private static BadInputException refuse(String who, int layer, String what) {
        return new BadInputException("layer " + layer + " is " + what + ", which " + who + " does not support");
    }
}
