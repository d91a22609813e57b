package io.squeeze.quantize;

/**
 * The kernels of a graph's merges and global pooling, in float and on uint8 values with affine qparams, as
 * QNNPACK's and FBGEMM's quantized operators compute them (PyTorch's {@code FloatFunctional.add}/{@code add_relu},
 * {@code torch.cat} on quantized tensors, {@code adaptive_avg_pool2d}; Jacob et al. 2018, section 2.4):
 * <ul>
 * <li><b>add</b>: both inputs rescaled to the output's scale, {@code q = z_o + round(s_a/s_o·(q_a − z_a) + s_b/s_o·(q_b − z_b))},
 * clamped to [0, 255] — to [z_o, 255] with a fused ReLU;</li>
 * <li><b>concatenation</b>: every input requantized to the output's qparams, {@code q = z_o + round(s_k/s_o·(q_k − z_k))}
 * (unchanged when an input already has them), laid side by side per row (channels of NCHW images are contiguous
 * blocks of a row);</li>
 * <li><b>global average pooling</b>: per channel {@code round(Σq / (h·w))} with the input's qparams (the mean of values
 * on one grid, rounded to that grid; the zero point passes through the mean unchanged).</li>
 * </ul>
 * Rounding is half to even ({@link Math#rint}), as the rest of the integer runtime.
 */
final class GraphMerges {
    private static final int QMIN = 0, QMAX = 255;

    private GraphMerges() {}

    static float[] add(float[] a, float[] b, io.squeeze.model.NetOps.Act act) {
        float[] y = new float[a.length];
        for (int i = 0; i < y.length; i++) y[i] = a[i] + b[i];
        if (act == io.squeeze.model.NetOps.Act.RELU) for (int i = 0; i < y.length; i++) y[i] = Math.max(0f, y[i]);
        return y;
    }

    static int[] add(int[] a, QParams pa, int[] b, QParams pb, QParams out, boolean relu) {
        double ma = pa.scale() / (double) out.scale(), mb = pb.scale() / (double) out.scale();
        int za = pa.zeroPoint(), zb = pb.zeroPoint(), lo = relu ? Math.max(QMIN, out.zeroPoint()) : QMIN;
        int[] q = new int[a.length];
        for (int i = 0; i < q.length; i++) {
            long v = out.zeroPoint() + (long) Math.rint(ma * (a[i] - za) + mb * (b[i] - zb));
            q[i] = (int) Math.max(lo, Math.min(QMAX, v));
        }
        return q;
    }

    /** Rows of {@code widths[k]} values from each input, side by side. */
    static float[] concat(float[][] in, int rows, int[] widths) {
        int total = 0;
        for (int w : widths) total += w;
        float[] y = new float[rows * total];
        for (int r = 0; r < rows; r++) {
            int at = r * total;
            for (int k = 0; k < in.length; k++) {
                System.arraycopy(in[k], r * widths[k], y, at, widths[k]);
                at += widths[k];
            }
        }
        return y;
    }

    static int[] concat(int[][] in, QParams[] qp, int rows, int[] widths, QParams out) {
        int total = 0;
        for (int w : widths) total += w;
        int[] y = new int[rows * total];
        int offset = 0;
        for (int k = 0; k < in.length; k++) {
            boolean same = qp[k].scale() == out.scale() && qp[k].zeroPoint() == out.zeroPoint();
            double mult = qp[k].scale() / (double) out.scale();
            int z = qp[k].zeroPoint();
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < widths[k]; j++) {
                    int v = in[k][r * widths[k] + j];
                    y[r * total + offset + j] = same ? v : (int) Math.max(QMIN, Math.min(QMAX, out.zeroPoint() + (long) Math.rint(mult * (v - z))));
                }
            offset += widths[k];
        }
        return y;
    }

    /** The shape of a concatenation of {@code in} into {@code t}: images stack their channels, flat rows their widths. */
    static void concatShape(Batch t, Batch[] in) {
        int n = 0, c = 0;
        for (Batch x : in) {
            n += x.n;
            c += x.c;
            if ((x.h > 0) != (t.h > 0) || x.h != t.h || x.w != t.w)
                throw new IllegalStateException("concatenation of " + x.c + "×" + x.h + "×" + x.w + " with " + t.c + "×" + t.h + "×" + t.w);
        }
        t.n = n;
        if (t.h > 0) t.c = c;
    }

    static float[] meanPool(float[] x, int rows, int c, int hw) {
        float[] y = new float[rows * c];
        for (int i = 0; i < y.length; i++) {
            double s = 0;
            for (int p = 0; p < hw; p++) s += x[i * hw + p];
            y[i] = (float) (s / hw);
        }
        return y;
    }

    static int[] meanPool(int[] x, int rows, int c, int hw) {
        int[] y = new int[rows * c];
        for (int i = 0; i < y.length; i++) {
            long s = 0;
            for (int p = 0; p < hw; p++) s += x[i * hw + p];
            y[i] = (int) Math.rint(s / (double) hw);
        }
        return y;
    }
}
