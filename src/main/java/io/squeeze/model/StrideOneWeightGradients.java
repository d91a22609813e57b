package io.squeeze.model;

import java.util.Arrays;

/**
 * The weight and bias gradients of a stride-1 2-D convolution (any padding and dilation), computed directly without
 * an im2col matrix: {@code dW[o, ci, a, b] = Σ_{n, y, x} δ[n, o, y, x] · x[n, ci, y + a·dy − py, x + b·dx − px]} and
 * {@code db[o] = Σ δ[n, o, ·, ·]} (the backward-weights correlation, Goodfellow et al., Deep Learning, §9.5), the
 * im2col-free "direct convolution" of Zhang, Franchetti and Low (ICML 2018) applied to the weight gradient.
 *
 * <p>The algorithm: each input plane is copied once into a zero-padded plane of row length {@code wp = ow + (kw−1)·dx}
 * and each δ plane into one of the same row length (zeros past {@code ow}). With both planes laid out alike, the
 * input under kernel tap {@code (a, b)} is the padded plane shifted by {@code a·dy·wp + b·dx}, so every tap is one
 * element-wise multiply-add over {@code oh·wp} floats ({@code acc[i] += δp[i] · xp[i + shift]}), a loop the JIT
 * vectorizes; δ's zero columns cancel the positions that wrap into the next row. Lanes accumulate over the minibatch
 * for the {@code kw} taps of one kernel row at a time (for LeNet-5, 5 × 896 floats: 18 kB, in L1), then each lane
 * vector is summed pairwise. The zeros of both padded layouts are written once per geometry. For LeNet-5's first
 * layer (64 × 1 × 28 × 28, 6 × 5 × 5, "same") this replaced building a 5 MB im2col matrix, copying it into ND4J and an
 * OpenBLAS GEMM of inner dimension 50,176 (docs/BENCHMARKS.md, session 48). Sums run in a fixed order: the same inputs
 * give the same bits.
 *
 * <p>One instance serves one training thread (the arrays are reused from call to call).
 */
final class StrideOneWeightGradients {
    /** The most floats the lane accumulators may take (64 MB); larger layers go to im2col and a GEMM. */
    static final long MAX_ACCUMULATOR = 1L << 24;
    private float[] xp;
    private float[][] dp, taps, acc;
    private int[] geometry; // the geometry xp's and dp's zeros were written for

    /** Whether this geometry's padded planes fit in Java arrays and its accumulators in {@link #MAX_ACCUMULATOR}. */
    static boolean fits(long n, long c, long oc, long oh, long ow, int kh, int kw, int dy, int dx) {
        long wp = ow + (long) (kw - 1) * dx, hp = oh + (long) (kh - 1) * dy, len = oh * wp;
        return n * c * (hp * wp + (long) (kw - 1) * dx) <= Integer.MAX_VALUE && len <= Integer.MAX_VALUE
                && (oc * c * kh * kw + oc) * len <= MAX_ACCUMULATOR;
    }

    /**
     * Computes the gradients from {@code x} (the input, NCHW in c order: n·c·h·w floats) and {@code d} (δ, n·oc·oh·ow
     * floats) into {@code dw} (oc·c·kh·kw floats, c order) and {@code db} (oc floats; null: no bias).
     *
     * @param py the rows of zeros above the input; those below are whatever the output size implies
     * @param px the columns of zeros to the left of the input
     */
    void compute(float[] x, float[] d, int n, int c, int h, int w, int oc, int oh, int ow, int kh, int kw,
                 int py, int px, int dy, int dx, float[] dw, float[] db) {
        int wp = ow + (kw - 1) * dx, hp = oh + (kh - 1) * dy, len = oh * wp, plane = hp * wp + (kw - 1) * dx, t = kh * kw;
        int[] g = {n, c, h, w, oc, oh, ow, kh, kw, py, px, dy, dx};
        if (!Arrays.equals(g, geometry)) { // every position that is not copied below stays zero
            xp = new float[n * c * plane];
            dp = new float[n * oc][len];
            taps = new float[t][len];
            acc = new float[oc * c * t + oc][len];
            geometry = g;
        }
        // input rows into the padded planes: row iy at padded row iy + py, columns [lo, hi) at lo + px
        int lo = Math.max(0, -px), hi = Math.min(w, wp - px);
        for (int p = 0; p < n * c; p++)
            for (int iy = Math.max(0, -py); iy < h && iy + py < hp; iy++)
                if (lo < hi) System.arraycopy(x, (p * h + iy) * w + lo, xp, p * plane + (iy + py) * wp + lo + px, hi - lo);
        for (int p = 0; p < n * oc; p++)
            for (int y = 0; y < oh; y++) System.arraycopy(d, (p * oh + y) * ow, dp[p], y * wp, ow);
        for (float[] a : acc) Arrays.fill(a, 0f);
        for (int ni = 0; ni < n; ni++) {
            for (int ci = 0; ci < c; ci++) {
                for (int a = 0; a < kh; a++) // tap (a, b)'s input: the padded plane shifted, at offset 0 like every other operand
                    for (int b = 0; b < kw; b++) System.arraycopy(xp, (ni * c + ci) * plane + a * dy * wp + b * dx, taps[a * kw + b], 0, len);
                for (int o = 0; o < oc; o++) {
                    float[] delta = dp[ni * oc + o];
                    for (int k = 0; k < t; k++) multiplyAdd(acc[(o * c + ci) * t + k], delta, taps[k], len);
                }
            }
            if (db != null)
                for (int o = 0; o < oc; o++) add(acc[oc * c * t + o], dp[ni * oc + o], len);
        }
        for (int k = 0; k < oc * c * t; k++) dw[k] = sum(acc[k], len);
        if (db != null)
            for (int o = 0; o < oc; o++) db[o] = sum(acc[oc * c * t + o], len);
    }

    /**
     * {@code acc[i] += u[i] · v[i]} for {@code i < len}. Every operand at offset 0: HotSpot 17's C2 vectorizes this
     * loop, and ran it 3× slower when one operand carried an offset (a scratch loop, session 48).
     */
    static void multiplyAdd(float[] acc, float[] u, float[] v, int len) {
        for (int i = 0; i < len; i++) acc[i] += u[i] * v[i];
    }

    private static void add(float[] acc, float[] u, int len) {
        for (int i = 0; i < len; i++) acc[i] += u[i];
    }

    /**
     * The sum of {@code a[0, len)}, pairwise: the upper half is added onto the lower until at most 32 values remain,
     * which are summed in double. Overwrites the range.
     */
    static float sum(float[] a, int len) {
        int m = len;
        while (m > 32) {
            int half = m >>> 1, keep = m - half; // [keep, m) onto [0, half); half ≤ keep
            for (int i = 0; i < half; i++) a[i] += a[keep + i];
            m = keep;
        }
        double s = 0;
        for (int i = 0; i < m; i++) s += a[i];
        return (float) s;
    }
}
