package io.squeeze.model;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.convolution.ConvolutionHelper;
import org.deeplearning4j.nn.layers.convolution.ConvolutionLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.params.ConvolutionParamInitializer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.util.ConvolutionUtils;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Arrays;

/**
 * Training without the gradient nobody reads: a {@link MultiLayerNetwork} whose first layer is a 2-D convolution
 * back-propagates into the network's input too, and DL4J then drops that gradient. For LeNet-5 on MNIST that
 * gradient (oneDNN's backward-data convolution of a 1-channel 28×28 input) was 44 % of oneDNN's time in a training
 * step (docs/BENCHMARKS.md, "Where a LeNet-5 step goes"); PyTorch never computes it, as its input does not require a
 * gradient. This helper, installed on that first layer only, computes the layer's weight and bias gradients — the
 * sums of the backward-weights convolution (Goodfellow et al., Deep Learning, §9.5), tested equal to oneDNN's and
 * DL4J's paths to float rounding — and returns an uninitialized array as the input's gradient. A stride-1 layer
 * (LeNet-5's) goes to {@link StrideOneWeightGradients}, without an im2col matrix; any other stride, or accumulators
 * too large, to one GEMM {@code dW[oc, (c,kh,kw)] = δ[oc, (n,oh,ow)] · im2col(x)[(c,kh,kw), (n,oh,ow)]ᵀ} over an
 * im2col matrix built in Java arrays (row copies, zeros where the kernel meets padding), the bias gradient in the same
 * GEMM through a last im2col row of ones. The forward pass of a stride-1 layer goes to {@link StrideOneConvForward}
 * (in Java, under {@link ConvForwardOnce} when the layer has it), any other to the layer's own helper (oneDNN) or
 * DL4J's path. Layouts it does not cover (NHWC, asymmetric "same" padding, non-float) go to the layer's own helper.
 * On LeNet-5 it took a local[1] epoch from 11.1–12.6 s to 9.2–9.8 s (session 34, docs/BENCHMARKS.md).
 */
public final class InputConvGradients extends WrappingConvHelper {
    private float[] xs, cols, ds, dcols, dwValues, dbValues; // reused: a layer's helper serves one training thread
    private final StrideOneWeightGradients direct = new StrideOneWeightGradients();
    private INDArray colsArray, dArray;
    private int[] colsGeometry; // the geometry `cols` holds zeros for: where the kernel meets padding
    private long passes, directPasses;

    private InputConvGradients(ConvolutionHelper own) {
        super(own);
    }

    /**
     * Installs the helper on {@code net}'s first layer when the network is a {@link MultiLayerNetwork} whose first
     * layer is a plain 2-D convolution; returns whether it did. Only for training: the network's input gradient
     * ({@code backpropGradient}'s result) is then undefined.
     */
    public static boolean install(Model net) {
        if (!(net instanceof MultiLayerNetwork m) || m.getnLayers() == 0) return false;
        Layer first = m.getLayer(0);
        if (first.getClass() != ConvolutionLayer.class) return false;
        ConvolutionHelper own = ConvForwardOnce.helper(first);
        if (own instanceof InputConvGradients) return true;
        // the forward pass in Java where it applies, under ConvForwardOnce when the layer has it
        ConvolutionHelper forward = own instanceof ConvForwardOnce once ? new ConvForwardOnce(new StrideOneConvForward(once.own()))
                : new StrideOneConvForward(own);
        ConvForwardOnce.setHelper(first, new InputConvGradients(forward));
        return true;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray input, INDArray weights, INDArray bias, INDArray delta, int[] kernel,
                                                     int[] strides, int[] pad, INDArray biasGradView, INDArray weightGradView, IActivation afn,
                                                     org.deeplearning4j.nn.conf.layers.ConvolutionLayer.AlgoMode mode,
                                                     org.deeplearning4j.nn.conf.layers.ConvolutionLayer.BwdFilterAlgo bwdFilterAlgo,
                                                     org.deeplearning4j.nn.conf.layers.ConvolutionLayer.BwdDataAlgo bwdDataAlgo,
                                                     ConvolutionMode convolutionMode, int[] dilation, CNN2DFormat format, LayerWorkspaceMgr workspaceMgr) {
        long n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
        long oc = delta.size(1), oh = delta.size(2), ow = delta.size(3);
        int[] p = convolutionMode == ConvolutionMode.Same
                ? ConvolutionUtils.getSameModeTopLeftPadding(new int[]{(int) oh, (int) ow}, new int[]{(int) h, (int) w}, kernel, strides, dilation)
                : pad;
        int k = (int) (c * kernel[0] * kernel[1]);
        long columns = n * oh * ow;
        boolean covered = format == CNN2DFormat.NCHW && input.dataType() == DataType.FLOAT && delta.dataType() == DataType.FLOAT
                && out(h, kernel[0], strides[0], p[0], dilation[0]) == oh && out(w, kernel[1], strides[1], p[1], dilation[1]) == ow
                && columns * Math.max(k + 1, oc) <= Integer.MAX_VALUE && n * c * h * w <= Integer.MAX_VALUE; // Java arrays
        if (!covered)
            return super.backpropGradient(input, weights, bias, delta, kernel, strides, pad, biasGradView, weightGradView, afn,
                    mode, bwdFilterAlgo, bwdDataAlgo, convolutionMode, dilation, format, workspaceMgr);
        if (strides[0] == 1 && strides[1] == 1 && StrideOneWeightGradients.fits(n, c, oc, oh, ow, kernel[0], kernel[1], dilation[0], dilation[1])) {
            xs = ConvForwardOnce.read(input, xs);
            ds = ConvForwardOnce.read(delta, ds);
            if (dwValues == null || dwValues.length != oc * k) dwValues = new float[(int) (oc * k)];
            if (dbValues == null || dbValues.length != oc) dbValues = new float[(int) oc];
            direct.compute(xs, ds, (int) n, (int) c, (int) h, (int) w, (int) oc, (int) oh, (int) ow, kernel[0], kernel[1],
                    p[0], p[1], dilation[0], dilation[1], dwValues, biasGradView == null ? null : dbValues);
            weightGradView.assign(NdRows.of(dwValues, (int) oc, k).reshape('c', oc, c, kernel[0], kernel[1]));
            if (biasGradView != null) biasGradView.assign(NdRows.of(dbValues, 1, (int) oc).reshape(biasGradView.shape()));
            directPasses++;
            return gradients(input, biasGradView, weightGradView, workspaceMgr);
        }
        INDArray cols = im2col(input, (int) n, (int) c, (int) h, (int) w, kernel, strides, p, dilation, (int) oh, (int) ow);
        // δ as [oc, (n, oh, ow)]: the im2col matrix's column order
        int plane = (int) (oh * ow), per = (int) columns;
        ds = ConvForwardOnce.read(delta, ds);
        if (dcols == null || dcols.length != ds.length) {
            dcols = new float[ds.length];
            try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                dArray = Nd4j.createUninitialized(DataType.FLOAT, oc, columns);
            }
        }
        for (int ni = 0; ni < n; ni++)
            for (int o = 0; o < oc; o++)
                System.arraycopy(ds, (int) ((ni * oc + o) * plane), dcols, o * per + ni * plane, plane);
        dArray.data().asNioFloat().put(0, dcols, 0, dcols.length);
        // [dW | db] in one GEMM: the im2col matrix's last row is ones, so the last column sums δ over rows and positions
        INDArray dw = Nd4j.createUninitialized(DataType.FLOAT, oc, k + 1);
        Nd4j.gemm(dArray, cols, dw, false, true, 1.0, 0.0);
        weightGradView.assign(dw.get(NDArrayIndex.all(), NDArrayIndex.interval(0, k)).reshape('c', oc, c, kernel[0], kernel[1]));
        if (biasGradView != null) biasGradView.assign(dw.get(NDArrayIndex.all(), NDArrayIndex.point(k)).reshape(biasGradView.shape()));
        return gradients(input, biasGradView, weightGradView, workspaceMgr);
    }

    /** The gradient DL4J expects from a helper, with an input gradient of the right shape that is not computed. */
    private Pair<Gradient, INDArray> gradients(INDArray input, INDArray biasGradView, INDArray weightGradView, LayerWorkspaceMgr workspaceMgr) {
        passes++;
        Gradient g = new DefaultGradient();
        if (biasGradView != null) g.gradientForVariable().put(ConvolutionParamInitializer.BIAS_KEY, biasGradView);
        g.gradientForVariable().put(ConvolutionParamInitializer.WEIGHT_KEY, weightGradView);
        // the network's input has no use for its gradient: an array of the right shape, not computed
        return new Pair<>(g, workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, input.dataType(), input.shape()));
    }

    /**
     * The im2col matrix {@code [(c, kh, kw), (n, oh, ow)]} of a c-order NCHW float input, zero where the kernel falls on
     * padding, with a last row of ones; built in a Java array reused from call to call (its zeros and ones are written
     * when the geometry changes, the input's rows copied every call) and copied into one array kept out of DL4J's
     * workspaces.
     */
    private INDArray im2col(INDArray input, int n, int c, int h, int w, int[] kernel, int[] strides, int[] pad, int[] dilation, int oh, int ow) {
        int kh = kernel[0], kw = kernel[1], per = n * oh * ow;
        int rows = c * kh * kw + 1;
        xs = ConvForwardOnce.read(input, xs);
        int[] geometry = {n, c, h, w, kh, kw, strides[0], strides[1], pad[0], pad[1], dilation[0], dilation[1], oh, ow};
        if (!Arrays.equals(geometry, colsGeometry)) { // zeros where the kernel meets padding, written once per geometry
            if (cols == null || cols.length != rows * per) cols = new float[rows * per];
            else Arrays.fill(cols, 0f);
            if (colsArray == null || colsArray.size(0) != rows || colsArray.size(1) != per)
                try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                    colsArray = Nd4j.createUninitialized(DataType.FLOAT, rows, per);
                }
            Arrays.fill(cols, (rows - 1) * per, rows * per, 1f);
            colsGeometry = geometry;
        }
        for (int ci = 0; ci < c; ci++)
            for (int a = 0; a < kh; a++)
                for (int b = 0; b < kw; b++) {
                    int base = ((ci * kh + a) * kw + b) * per, dx = b * dilation[1] - pad[1];
                    // the output columns whose input column lies inside the image: ox in [lo, hi)
                    int lo = Math.max(0, ceilDiv(-dx, strides[1])), hi = Math.min(ow, ceilDiv(w - dx, strides[1]));
                    if (lo >= hi) continue;
                    for (int ni = 0; ni < n; ni++)
                        for (int oy = 0; oy < oh; oy++) {
                            int iy = oy * strides[0] - pad[0] + a * dilation[0], dst = base + (ni * oh + oy) * ow;
                            if (iy < 0 || iy >= h) continue;
                            int src = ((ni * c + ci) * h + iy) * w + dx;
                            if (strides[1] == 1) System.arraycopy(xs, src + lo, cols, dst + lo, hi - lo);
                            else for (int ox = lo; ox < hi; ox++) cols[dst + ox] = xs[src + ox * strides[1]];
                        }
                }
        colsArray.data().asNioFloat().put(0, cols, 0, cols.length);
        return colsArray;
    }

    /** How many backward passes this helper computed itself (DL4J falls back to its own path silently when a helper throws). */
    long passes() {
        return passes;
    }

    /** How many of those {@link StrideOneWeightGradients} computed (stride 1), without an im2col matrix. */
    long directPasses() {
        return directPasses;
    }

    private static int ceilDiv(int a, int b) {
        return -Math.floorDiv(-a, b);
    }

    private static long out(long in, int k, int s, int p, int d) {
        return (in + 2L * p - (long) (k - 1) * d - 1) / s + 1;
    }
}
