package io.squeeze.model;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.layers.convolution.ConvolutionHelper;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.deeplearning4j.util.ConvolutionUtils;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * The forward pass of a training network's first convolution when its stride is 1 (LeNet-5's), as a direct
 * convolution in Java (Zhang, Franchetti and Low, ICML 2018): {@code z[n, o] = b[o] + Σ_{ci, a, b} W[o, ci, a, b] ·
 * x[n, ci] shifted by (a·dy − py, b·dx − px)}. Each image's planes are copied into zero-padded planes of row length
 * {@code wp = ow + (kw−1)·dx} ({@link StrideOneWeightGradients#pad}); each kernel tap's input is that plane shifted,
 * copied to its own array ({@link StrideOneWeightGradients#taps}), and each output plane is its bias plus the taps
 * scaled by their weights, four taps a pass ({@code acc[i] += (w0·t0[i] + w1·t1[i]) + (w2·t2[i] + w3·t3[i])}, every
 * operand at offset 0, a loop HotSpot 17's C2 vectorizes), its rows then copied out without the {@code wp − ow}
 * positions that wrap. For a 1-channel 28×28 input, oneDNN 1.0.0-M2's forward convolution ran at about 5 GMAC/s on
 * one thread (docs/BENCHMARKS.md, session 48). The sums run in a fixed order, so the same inputs give the same bits;
 * they round differently from oneDNN's, which the tests bound. Anything else (another stride, NHWC, asymmetric "same"
 * padding, not float, arrays too large) and the backward pass go to the layer's own helper, or to DL4J's path when
 * it has none (null).
 *
 * <p>Installed by {@link InputConvGradients#install}, under {@link ConvForwardOnce}: only on networks that train.
 * One instance serves one training thread.
 */
final class StrideOneConvForward extends WrappingConvHelper {
    private float[] xs, ws, bs, xp, out;
    private float[][] taps;
    private float[] acc;
    private int[] geometry; // the geometry xp's zeros were written for
    private long passes;

    StrideOneConvForward(ConvolutionHelper own) {
        super(own);
    }

    /** How many forward passes this helper computed itself. */
    long passes() {
        return passes;
    }

    @Override
    public INDArray preOutput(INDArray input, INDArray weights, INDArray bias, int[] kernel, int[] strides, int[] pad,
                              org.deeplearning4j.nn.conf.layers.ConvolutionLayer.AlgoMode mode,
                              org.deeplearning4j.nn.conf.layers.ConvolutionLayer.FwdAlgo fwdAlgo, ConvolutionMode convolutionMode, int[] dilation,
                              CNN2DFormat format, LayerWorkspaceMgr workspaceMgr) {
        INDArray z = direct(input, weights, bias, kernel, strides, pad, convolutionMode, dilation, format, workspaceMgr);
        return z != null ? z : super.preOutput(input, weights, bias, kernel, strides, pad, mode, fwdAlgo, convolutionMode, dilation, format, workspaceMgr);
    }

    private INDArray direct(INDArray input, INDArray weights, INDArray bias, int[] kernel, int[] strides, int[] pad,
                            ConvolutionMode convolutionMode, int[] dilation, CNN2DFormat format, LayerWorkspaceMgr workspaceMgr) {
        if (format != CNN2DFormat.NCHW || strides[0] != 1 || strides[1] != 1 || input.rank() != 4 || input.dataType() != DataType.FLOAT
                || weights.dataType() != DataType.FLOAT || bias != null && bias.dataType() != DataType.FLOAT
                || convolutionMode != ConvolutionMode.Same && convolutionMode != ConvolutionMode.Truncate)
            return null;
        long n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3), oc = weights.size(0);
        int kh = kernel[0], kw = kernel[1], dy = dilation[0], dx = dilation[1];
        if (weights.rank() != 4 || weights.size(1) != c || weights.size(2) != kh || weights.size(3) != kw) return null;
        int[] p = convolutionMode == ConvolutionMode.Same
                ? ConvolutionUtils.getSameModeTopLeftPadding(new int[]{(int) h, (int) w}, new int[]{(int) h, (int) w}, kernel, strides, dilation)
                : pad;
        long oh = h + 2L * p[0] - (long) (kh - 1) * dy, ow = w + 2L * p[1] - (long) (kw - 1) * dx;
        if (convolutionMode == ConvolutionMode.Same && (oh != h || ow != w)) return null; // asymmetric padding
        long wp = ow + (long) (kw - 1) * dx, hp = oh + (long) (kh - 1) * dy, len = oh * wp, t = c * kh * kw;
        if (oh < 1 || ow < 1 || n * c * h * w > Integer.MAX_VALUE || n * oc * oh * ow > Integer.MAX_VALUE
                || c * (hp * wp + (long) (kw - 1) * dx) > Integer.MAX_VALUE || t * len > StrideOneWeightGradients.MAX_ACCUMULATOR)
            return null;
        xs = ConvForwardOnce.read(input, xs);
        ws = ConvForwardOnce.read(weights, ws);
        bs = bias == null ? null : ConvForwardOnce.read(bias, bs);
        if (out == null || out.length != n * oc * oh * ow) out = new float[(int) (n * oc * oh * ow)];
        compute((int) n, (int) c, (int) h, (int) w, (int) oc, (int) oh, (int) ow, kh, kw, p[0], p[1], dy, dx);
        INDArray z = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, DataType.FLOAT, new long[]{n, oc, oh, ow}, 'c');
        NdRows.copyInto(out, out.length, z);
        passes++;
        return z;
    }

    /** z into {@code out} from {@code xs}, {@code ws} and {@code bs} (null: no bias). */
    private void compute(int n, int c, int h, int w, int oc, int oh, int ow, int kh, int kw, int py, int px, int dy, int dx) {
        int wp = ow + (kw - 1) * dx, hp = oh + (kh - 1) * dy, len = oh * wp, plane = hp * wp + (kw - 1) * dx, t = c * kh * kw;
        int[] shape = {c, h, w, oh, ow, kh, kw, py, px, dy, dx};
        if (!Arrays.equals(shape, geometry)) { // every position the input is not copied to stays zero
            xp = new float[c * plane];
            taps = new float[t][len];
            acc = new float[len];
            geometry = shape;
        }
        for (int ni = 0; ni < n; ni++) {
            StrideOneWeightGradients.pad(xs, ni * c, c, h, w, py, px, hp, wp, plane, xp);
            for (int ci = 0; ci < c; ci++) StrideOneWeightGradients.taps(xp, ci * plane, kh, kw, dy, dx, wp, len, taps, ci * kh * kw);
            for (int o = 0; o < oc; o++) {
                Arrays.fill(acc, 0, len, bs == null ? 0f : bs[o]);
                int k = 0, base = o * t;
                for (; k + 4 <= t; k += 4)
                    scaleAdd4(acc, ws[base + k], taps[k], ws[base + k + 1], taps[k + 1], ws[base + k + 2], taps[k + 2], ws[base + k + 3], taps[k + 3], len);
                for (; k < t; k++) scaleAdd(acc, ws[base + k], taps[k], len);
                for (int y = 0; y < oh; y++) System.arraycopy(acc, y * wp, out, ((ni * oc + o) * oh + y) * ow, ow);
            }
        }
    }

    /** {@code acc[i] += (w0·t0[i] + w1·t1[i]) + (w2·t2[i] + w3·t3[i])} for {@code i < len}. */
    static void scaleAdd4(float[] acc, float w0, float[] t0, float w1, float[] t1, float w2, float[] t2, float w3, float[] t3, int len) {
        for (int i = 0; i < len; i++) acc[i] += (w0 * t0[i] + w1 * t1[i]) + (w2 * t2[i] + w3 * t3[i]);
    }

    private static void scaleAdd(float[] acc, float w0, float[] t0, int len) {
        for (int i = 0; i < len; i++) acc[i] += w0 * t0[i];
    }
}
