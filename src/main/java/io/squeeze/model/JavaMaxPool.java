package io.squeeze.model;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingHelper;
import org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;
import java.util.Map;

/**
 * Max pooling's backward pass as a Java loop over float arrays, for the non-overlapping windows of LeNet-5-style
 * networks (LeCun et al. 1998: 2×2 windows, stride 2): each output's gradient goes to the first largest input of its
 * window in row-major order (strict {@code >}, as oneDNN's and libnd4j's kernels compare), accumulated onto zeros. DL4J
 * 1.0.0-M2's oneDNN helper copies the input and the gradient, then runs a native op that computes the forward pass
 * again to find the maxima (with oneDNN's layout reorders) before the backward pass; this reads the input once and
 * writes the input's gradient once. (The forward pass stays libnd4j's: M2's layer does not ask its helper for it.)
 * Anything else — average or p-norm pooling, overlapping or dilated or padded windows,
 * NHWC, other types, and any input with an infinite or NaN value (whose ties the native kernels break their own way)
 * — goes to the layer's own helper (or DL4J's built-in path when it has none). Tested to train LeNet-5 to DL4J's
 * weights bit for bit.
 */
final class JavaMaxPool implements SubsamplingHelper {
    private final SubsamplingHelper own; // null: DL4J's built-in ops
    private float[] x, e, y; // the input, the output's gradient and the input's gradient
    private long passes;

    JavaMaxPool(SubsamplingHelper own) {
        this.own = own;
    }

    /** Puts a {@code JavaMaxPool} on every subsampling layer of {@code net} (a {@link MultiLayerNetwork}); returns how many have one. Idempotent. */
    static int install(org.deeplearning4j.nn.api.Model net) {
        if (!(net instanceof MultiLayerNetwork m)) return 0;
        int n = 0;
        for (var l : m.getLayers()) {
            if (l.getClass() != SubsamplingLayer.class) continue;
            SubsamplingHelper h = helper(l);
            if (!(h instanceof JavaMaxPool)) setHelper(l, new JavaMaxPool(h));
            n++;
        }
        return n;
    }

    static SubsamplingHelper helper(org.deeplearning4j.nn.api.Layer l) {
        return Dl4jFields.get(SubsamplingLayer.class, "helper", l, SubsamplingHelper.class);
    }

    static void setHelper(org.deeplearning4j.nn.api.Layer l, SubsamplingHelper h) {
        Dl4jFields.set(SubsamplingLayer.class, "helper", l, h);
    }

    /** The pooling's sizes {n·c, h, w, kh, kw, sh, sw, oh, ow} when this class computes it, else null. */
    private static int[] geometry(INDArray input, int[] kernel, int[] strides, int[] pad, PoolingType type, ConvolutionMode mode,
                                  int[] dilation, CNN2DFormat format) {
        if (type != PoolingType.MAX || format != CNN2DFormat.NCHW || input.rank() != 4 || input.dataType() != DataType.FLOAT
                || input.length() > Integer.MAX_VALUE / 2 || kernel.length != 2 || strides.length != 2
                || (pad != null && (pad[0] != 0 || pad[1] != 0)) || (dilation != null && (dilation[0] != 1 || dilation[1] != 1))
                || strides[0] < kernel[0] || strides[1] < kernel[1] || kernel[0] < 1 || kernel[1] < 1)
            return null;
        int h = (int) input.size(2), w = (int) input.size(3);
        int oh = mode == ConvolutionMode.Same ? (h + strides[0] - 1) / strides[0] : (h - kernel[0]) / strides[0] + 1;
        int ow = mode == ConvolutionMode.Same ? (w + strides[1] - 1) / strides[1] : (w - kernel[1]) / strides[1] + 1;
        if (oh < 1 || ow < 1 || (oh - 1) * strides[0] + kernel[0] > h || (ow - 1) * strides[1] + kernel[1] > w) return null;
        return new int[]{(int) (input.size(0) * input.size(1)), h, w, kernel[0], kernel[1], strides[0], strides[1], oh, ow};
    }

    private static boolean finite(float[] a, int n) {
        for (int i = 0; i < n; i++) if ((Float.floatToRawIntBits(a[i]) & 0x7f800000) == 0x7f800000) return false;
        return true;
    }

    /** DL4J 1.0.0-M2's {@code SubsamplingLayer.activate} runs libnd4j's pooling op without asking its helper; for other callers, the layer's own helper's. */
    @Override
    public INDArray activate(INDArray input, boolean training, int[] kernel, int[] strides, int[] pad, PoolingType poolingType,
                             ConvolutionMode convolutionMode, int[] dilation, CNN2DFormat format, LayerWorkspaceMgr workspaceMgr) {
        return own == null ? null : own.activate(input, training, kernel, strides, pad, poolingType, convolutionMode, dilation, format, workspaceMgr);
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray input, INDArray epsilon, int[] kernel, int[] strides, int[] pad,
                                                     PoolingType poolingType, ConvolutionMode convolutionMode, int[] dilation,
                                                     CNN2DFormat format, LayerWorkspaceMgr workspaceMgr) {
        int[] g = geometry(input, kernel, strides, pad, poolingType, convolutionMode, dilation, format);
        if (g != null && epsilon.dataType() == DataType.FLOAT
                && Arrays.equals(epsilon.shape(), new long[]{input.size(0), input.size(1), g[7], g[8]})) {
            x = ConvForwardOnce.read(input, x);
            if (finite(x, x.length)) {
                e = ConvForwardOnce.read(epsilon, e);
                int planes = g[0], h = g[1], w = g[2], kh = g[3], kw = g[4], sh = g[5], sw = g[6], oh = g[7], ow = g[8];
                if (y == null || y.length < x.length) y = new float[x.length];
                Arrays.fill(y, 0, x.length, 0f);
                int o = 0;
                for (int p = 0; p < planes; p++) {
                    int plane = p * h * w;
                    for (int i = 0; i < oh; i++)
                        for (int j = 0; j < ow; j++) {
                            int base = plane + i * sh * w + j * sw, arg = base;
                            float max = x[base];
                            for (int a = 0; a < kh; a++)
                                for (int b = 0, at = base + a * w; b < kw; b++)
                                    if (x[at + b] > max) {
                                        max = x[at + b];
                                        arg = at + b;
                                    }
                            y[arg] += e[o++];
                        }
                }
                INDArray grad = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, DataType.FLOAT, input.shape(), 'c');
                grad.data().asNioFloat().put((int) grad.offset(), y, 0, x.length);
                passes++;
                return new Pair<>(new DefaultGradient(), grad);
            }
        }
        return own == null ? null : own.backpropGradient(input, epsilon, kernel, strides, pad, poolingType, convolutionMode, dilation, format, workspaceMgr);
    }

    /** How many backward passes this class computed itself. */
    long passes() {
        return passes;
    }

    SubsamplingHelper own() {
        return own;
    }

    @Override
    public boolean checkSupported() {
        return true;
    }

    @Override
    public Map<String, Long> helperMemoryUse() {
        return own == null ? Map.of() : own.helperMemoryUse();
    }
}
