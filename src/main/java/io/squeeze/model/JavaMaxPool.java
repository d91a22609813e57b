package io.squeeze.model;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.convolution.subsampling.SubsamplingLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * Max pooling's forward and backward passes as Java loops over float arrays, for the non-overlapping windows of
 * LeNet-5-style networks (LeCun et al. 1998: 2×2 windows, stride 2). A window's output is its largest input; the
 * backward pass sends each output's gradient to the first largest input of its window in row-major order (strict
 * {@code >}, as oneDNN's and libnd4j's kernels compare), added onto zeros. DL4J 1.0.0-M2's layer runs libnd4j's
 * {@code maxpool2d} forward, and for the backward pass its oneDNN helper copies the input and the gradient, then runs a
 * native op that computes the forward pass again to find the maxima (with oneDNN's layout reorders) before scattering;
 * here each pass reads the input once and writes its result once. The forward pass keeps the index of each window's
 * first maximum together with a copy of the input it came from; a backward pass whose input equals that copy value for
 * value (the training step's own, as DL4J keeps a layer's input between the passes; the indices depend only on
 * comparisons, which ±0 pass alike, and the copy holds no NaN) scatters through the kept indices instead of scanning
 * the windows again (PyTorch's {@code max_pool2d_with_indices} keeps them likewise), and any other input is scanned
 * afresh. Anything else — average or p-norm pooling, overlapping, dilated or padded windows, NHWC, other types, and
 * any input holding an infinite or NaN value (whose ties the native kernels break their own way) — takes DL4J's path.
 *
 * <p>Only for training: {@link #install} swaps each plain DL4J subsampling layer of a {@link MultiLayerNetwork} for one
 * of these over the same configuration (a pooling layer has no parameters). A saved network names only DL4J's classes.
 * Tested to train LeNet-5 to DL4J's weights and scores bit for bit.
 */
final class JavaMaxPool extends SubsamplingLayer {
    private float[] x, e, y; // the input, the output's gradient, and the output or the input's gradient
    private float[] kept; // the input of the last forward pass this class computed, whose window maxima `at` holds
    private long[] keptShape;
    private int[] at; // at[o]: the index in `kept` of output o's first maximum
    private long forwards, backwards, reused;

    private JavaMaxPool(NeuralNetConfiguration conf, DataType type) {
        super(conf, type);
    }

    /**
     * Puts a {@code JavaMaxPool} in place of each plain DL4J subsampling layer of {@code net} (a {@link MultiLayerNetwork};
     * other models are left alone), over the same configuration; returns how many it holds. Idempotent.
     */
    static int install(org.deeplearning4j.nn.api.Model net) {
        if (!(net instanceof MultiLayerNetwork m) || m.getLayers() == null) return 0;
        Layer[] layers = m.getLayers();
        int n = 0;
        for (int i = 0; i < layers.length; i++) {
            if (layers[i] instanceof JavaMaxPool) n++;
            else if (layers[i].getClass() == SubsamplingLayer.class) {
                Dl4jFields.swapLayer(m, i, new JavaMaxPool(layers[i].conf(), ((SubsamplingLayer) layers[i]).getDataType()));
                n++;
            }
        }
        return n;
    }

    /** The pooling's sizes {n·c, h, w, kh, kw, sh, sw, oh, ow} when this class computes it for {@code in}, else null. */
    private int[] geometry(INDArray in) {
        var c = layerConf();
        int[] k = c.getKernelSize(), s = c.getStride(), d = c.getDilation(), pad = c.getPadding();
        boolean same = convolutionMode == ConvolutionMode.Same;
        if (c.getPoolingType() != PoolingType.MAX || c.getCnn2dDataFormat() != CNN2DFormat.NCHW || in.rank() != 4
                || in.dataType() != DataType.FLOAT || in.length() > Integer.MAX_VALUE / 2 || k.length != 2 || s.length != 2
                || (d != null && (d[0] != 1 || d[1] != 1)) || (!same && pad != null && (pad[0] != 0 || pad[1] != 0))
                || k[0] < 1 || k[1] < 1 || s[0] < k[0] || s[1] < k[1]
                || (convolutionMode != ConvolutionMode.Same && convolutionMode != ConvolutionMode.Truncate))
            return null;
        int h = (int) in.size(2), w = (int) in.size(3);
        int oh = same ? (h + s[0] - 1) / s[0] : (h - k[0]) / s[0] + 1, ow = same ? (w + s[1] - 1) / s[1] : (w - k[1]) / s[1] + 1;
        // windows inside the input: no padding (for Same mode, none is needed)
        if (oh < 1 || ow < 1 || (oh - 1) * s[0] + k[0] > h || (ow - 1) * s[1] + k[1] > w) return null;
        return new int[]{(int) (in.size(0) * in.size(1)), h, w, k[0], k[1], s[0], s[1], oh, ow};
    }

    private static boolean finite(float[] a) {
        for (float v : a) if ((Float.floatToRawIntBits(v) & 0x7f800000) == 0x7f800000) return false;
        return true;
    }

    /**
     * The index of the first largest value, in row-major order (strict {@code >}), of the {@code kh×kw} window of
     * {@code x} whose top-left element is at {@code base} in rows {@code w} wide.
     */
    private static int firstMax(float[] x, int base, int kh, int kw, int w) {
        if (kh == 2 && kw == 2) return firstMax2x2(x, base, w);
        int arg = base;
        float max = x[base];
        for (int a = 0; a < kh; a++)
            for (int b = 0, at = base + a * w; b < kw; b++)
                if (x[at + b] > max) {
                    max = x[at + b];
                    arg = at + b;
                }
        return arg;
    }

    /**
     * {@link #firstMax} of a 2×2 window: each strict {@code >} against the running maximum picks the index, and
     * {@code Math.max} carries the maximum (equal to it as floats: ±0 compare equal, and NaN never gets here). Written
     * as selects the JIT compiles without a branch on the values, so windows of random values cost no mispredicted
     * branches.
     */
    private static int firstMax2x2(float[] x, int at, int w) {
        float m = x[at], a1 = x[at + 1], a2 = x[at + w], a3 = x[at + w + 1];
        int k = at + (a1 > m ? 1 : 0);
        m = Math.max(m, a1);
        k = a2 > m ? at + w : k;
        m = Math.max(m, a2);
        return a3 > m ? at + w + 1 : k;
    }

    /**
     * Reads the input into {@code x} and fills {@code at[o]} with the index in it of the first maximum of output o's window
     * ({@link #geometry}'s {@code g}), and keeps {@code x} as the copy those indices belong to (its old copy's array
     * is read into next); returns false, keeping nothing, when {@code x} holds an infinite or NaN value.
     */
    private boolean keepMaxima(int[] g) {
        int planes = g[0], h = g[1], w = g[2], kh = g[3], kw = g[4], sh = g[5], sw = g[6], oh = g[7], ow = g[8];
        if (at == null || at.length < planes * oh * ow) at = new int[planes * oh * ow];
        x = ConvForwardOnce.read(input, x);
        boolean tiled = kh == 2 && kw == 2 && sh == 2 && sw == 2 && oh * 2 == h && ow * 2 == w;
        if (tiled ? !maxima2x2(x, at, planes, h, w) : !finite(x)) {
            keptShape = null; // `at` may hold part of this input's maxima: the kept copy no longer matches it
            return false;
        }
        if (!tiled) {
            int o = 0;
            for (int p = 0; p < planes; p++)
                for (int i = 0; i < oh; i++)
                    for (int j = 0; j < ow; j++) at[o++] = firstMax(x, p * h * w + i * sh * w + j * sw, kh, kw, w);
        }
        float[] t = kept;
        kept = x;
        x = t;
        keptShape = input.shape();
        return true;
    }

    /**
     * {@link #firstMax} of every 2×2 window of stride 2 of planes {@code h×w} that the windows tile exactly, into
     * {@code at}, in one pass that also checks the values: whether all are finite, as {@code v − v} is +0 for a finite
     * v and NaN for an infinite or NaN one, so the windows' sum of them is 0 exactly when all are. Each window's
     * index is {@link #firstMax2x2}'s, whose {@code Math.max} carries the running maximum: selects written as
     * {@code a > m ? a : m} compiled to branches here and took twice as long on random values (a scratch loop over LeNet-5's first pooling
     * input: 0.95 ms against 0.39–0.46 ms, and 0.45–0.55 ms for the separate finiteness scan and window loop before).
     */
    static boolean maxima2x2(float[] x, int[] at, int planes, int h, int w) {
        float check = 0;
        int o = 0;
        for (int r = 0, rows = planes * h; r < rows; r += 2)
            for (int c = r * w, end = c + w; c < end; c += 2) {
                float a0 = x[c], a1 = x[c + 1], a2 = x[c + w], a3 = x[c + w + 1];
                check += ((a0 - a0) + (a1 - a1)) + ((a2 - a2) + (a3 - a3));
                at[o++] = firstMax2x2(x, c, w);
            }
        return check == 0;
    }

    @Override
    public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(false);
        int[] g = geometry(input);
        if (g != null && keepMaxima(g)) {
            int oh = g[7], ow = g[8], n = g[0] * oh * ow;
            if (y == null || y.length < n) y = new float[n];
            for (int o = 0; o < n; o++) y[o] = kept[at[o]];
            INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, DataType.FLOAT, new long[]{input.size(0), input.size(1), oh, ow}, 'c');
            out.data().asNioFloat().put((int) out.offset(), y, 0, n);
            forwards++;
            return out;
        }
        return super.activate(training, workspaceMgr);
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
        assertInputSet(true);
        int[] g = geometry(input);
        if (g != null && epsilon.dataType() == DataType.FLOAT && Arrays.equals(epsilon.shape(), new long[]{input.size(0), input.size(1), g[7], g[8]})) {
            boolean same = kept != null && Arrays.equals(input.shape(), keptShape) && ConvForwardOnce.sameValues(input, kept);
            if (!same) { // another input than the last forward pass's: its own window maxima
                if (!keepMaxima(g)) return super.backpropGradient(epsilon, workspaceMgr);
            } else reused++;
            e = ConvForwardOnce.read(epsilon, e);
            int len = kept.length;
            if (y == null || y.length < len) y = new float[len];
            Arrays.fill(y, 0, len, 0f);
            for (int o = 0, n = e.length; o < n; o++) y[at[o]] += e[o];
            INDArray grad = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, DataType.FLOAT, input.shape(), 'c');
            grad.data().asNioFloat().put((int) grad.offset(), y, 0, len);
            backwards++;
            return new Pair<>(new DefaultGradient(), grad);
        }
        return super.backpropGradient(epsilon, workspaceMgr);
    }

    /** How many forward passes this class computed itself. */
    long forwards() {
        return forwards;
    }

    /** How many backward passes this class computed itself. */
    long backwards() {
        return backwards;
    }

    /** How many of those scattered through the window maxima kept by the forward pass of the same input. */
    long reused() {
        return reused;
    }
}
