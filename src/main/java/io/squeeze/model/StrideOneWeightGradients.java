package io.squeeze.model;

import java.util.Arrays;

/**
 * The weight and bias gradients of a stride-1 2-D convolution (any padding and dilation), computed directly without
 * an im2col matrix: {@code dW[o, ci, a, b] = Σ_{n, y, x} δ[n, o, y, x] · x[n, ci, y + a·dy − py, x + b·dx − px]} and
 * {@code db[o] = Σ δ[n, o, ·, ·]} (the backward-weights correlation, Goodfellow et al., Deep Learning, §9.5), the
 * im2col-free "direct convolution" of Zhang, Franchetti and Low (ICML 2018) applied to the weight gradient.
 *
 * <p>The algorithm: each input plane is copied once into a zero-padded plane of row length {@code wp = ow + (kw−1)·dx}
 * and each δ plane into one of the same row length (zeros past {@code ow}). With both laid out alike, the input
 * under kernel tap {@code (a, b)} is the padded plane shifted by {@code a·dy·wp + b·dx}, copied to its own array;
 * every tap is then one element-wise multiply-add over {@code oh·wp} floats into that (o, ci, a, b)'s lane
 * accumulator ({@code acc[i] += δp[i] · tap[i]}), δ's zero columns cancelling the positions that wrap into the next
 * row. Every operand sits at offset 0, which HotSpot 17's C2 needs to vectorize the loop (with one operand at an
 * offset a scratch loop ran 3× slower), and the products of {@value #GROUP} images go into an accumulator in one pass
 * (a quarter of the accumulators' memory traffic: LeNet-5's 150 accumulators of 896 floats take 537 kB). At the
 * end each accumulator is summed pairwise. The zeros of both padded layouts are written once per geometry. For
 * LeNet-5's first layer (64 × 1 × 28 × 28, 6 × 5 × 5, "same") this replaced building a 5 MB im2col matrix, copying it
 * into ND4J and an OpenBLAS GEMM of inner dimension 50,176 (docs/BENCHMARKS.md, session 48). Sums run in a fixed
 * order: the same inputs give the same bits.
 *
 * <p>One instance serves one training thread (the arrays are reused from call to call).
 */
final class StrideOneWeightGradients {
    /** The most floats the lane accumulators may take (64 MB); larger layers go to im2col and a GEMM. */
    static final long MAX_ACCUMULATOR = 1L << 24;
    private float[] xp;
    /** Images whose products are added to an accumulator in one pass (a quarter of the accumulators' memory traffic). */
    static final int GROUP = 4;
    private float[][] dp, acc;
    private float[][][] taps;
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
        int[] shape = {n, c, h, w, oc, oh, ow, kh, kw, py, px, dy, dx};
        if (!Arrays.equals(shape, geometry)) { // every position that is not copied below stays zero
            xp = new float[n * c * plane];
            dp = new float[n * oc][len];
            taps = new float[GROUP][t][len];
            acc = new float[oc * c * t + oc][len];
            geometry = shape;
        }
        pad(x, 0, n * c, h, w, py, px, hp, wp, plane, xp);
        for (int p = 0; p < n * oc; p++)
            for (int y = 0; y < oh; y++) System.arraycopy(d, (p * oh + y) * ow, dp[p], y * wp, ow);
        for (float[] a : acc) Arrays.fill(a, 0f);
        for (int n0 = 0; n0 < n; n0 += GROUP) {
            int g = Math.min(GROUP, n - n0);
            for (int ci = 0; ci < c; ci++) {
                for (int j = 0; j < g; j++) taps(xp, ((n0 + j) * c + ci) * plane, kh, kw, dy, dx, wp, len, taps[j], 0);
                for (int o = 0; o < oc; o++)
                    for (int k = 0; k < t; k++) {
                        float[] into = acc[(o * c + ci) * t + k];
                        if (g == GROUP)
                            multiplyAdd4(into, dp[n0 * oc + o], taps[0][k], dp[(n0 + 1) * oc + o], taps[1][k],
                                    dp[(n0 + 2) * oc + o], taps[2][k], dp[(n0 + 3) * oc + o], taps[3][k], len);
                        else for (int j = 0; j < g; j++) multiplyAdd(into, dp[(n0 + j) * oc + o], taps[j][k], len);
                    }
            }
            if (db != null)
                for (int j = 0; j < g; j++)
                    for (int o = 0; o < oc; o++) add(acc[oc * c * t + o], dp[(n0 + j) * oc + o], len);
        }
        for (int k = 0; k < oc * c * t; k++) dw[k] = sum(acc[k], len);
        if (db != null)
            for (int o = 0; o < oc; o++) db[o] = sum(acc[oc * c * t + o], len);
    }

    /**
     * Copies {@code planes} input planes of h·w floats, from plane {@code first} of {@code x}, into padded planes of
     * {@code plane} floats each ({@code hp} rows of {@code wp}): input row iy at padded row iy + py, column ix at
     * ix + px; what falls outside the padded plane is dropped, and the padding positions are left as they are.
     */
    static void pad(float[] x, int first, int planes, int h, int w, int py, int px, int hp, int wp, int plane, float[] xp) {
        int lo = Math.max(0, -px), hi = Math.min(w, wp - px);
        if (lo >= hi) return;
        for (int p = 0; p < planes; p++)
            for (int iy = Math.max(0, -py); iy < h && iy + py < hp; iy++)
                System.arraycopy(x, ((first + p) * h + iy) * w + lo, xp, p * plane + (iy + py) * wp + lo + px, hi - lo);
    }

    /**
     * Copies the kh·kw taps of the padded plane at {@code xp[from]} — tap (a, b) is the plane shifted by
     * {@code a·dy·wp + b·dx} — each into its own array, {@code taps[first + a·kw + b]}, at offset 0 like every other
     * operand of the multiply-add loops.
     */
    static void taps(float[] xp, int from, int kh, int kw, int dy, int dx, int wp, int len, float[][] taps, int first) {
        for (int a = 0; a < kh; a++)
            for (int b = 0; b < kw; b++) System.arraycopy(xp, from + a * dy * wp + b * dx, taps[first + a * kw + b], 0, len);
    }

    /**
     * {@code acc[i] += u[i] · v[i]} for {@code i < len}. Every operand at offset 0: HotSpot 17's C2 vectorizes this
     * loop, and ran it 3× slower when one operand carried an offset (a scratch loop, session 48).
     */
    static void multiplyAdd(float[] acc, float[] u, float[] v, int len) {
        for (int i = 0; i < len; i++) acc[i] += u[i] * v[i];
    }

    /** {@code acc[i] += (u0[i]·v0[i] + u1[i]·v1[i]) + (u2[i]·v2[i] + u3[i]·v3[i])}: four images, one pass over {@code acc}. */
    static void multiplyAdd4(float[] acc, float[] u0, float[] v0, float[] u1, float[] v1, float[] u2, float[] v2, float[] u3, float[] v3, int len) {
        for (int i = 0; i < len; i++) acc[i] += (u0[i] * v0[i] + u1[i] * v1[i]) + (u2[i] * v2[i] + u3[i] * v3[i]);
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
