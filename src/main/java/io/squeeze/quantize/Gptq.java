package io.squeeze.quantize;

/**
 * GPTQ rounding (Frantar, Ashkboos, Hoefler & Alistarh 2023, "GPTQ: Accurate Post-Training Quantization for
 * Generative Pre-trained Transformers", ICLR; Algorithm 1, the Optimal Brain Quantization step of Frantar & Alistarh
 * 2022): instead of rounding every weight to its nearest level, the inputs of a layer are quantized one at a time
 * and each one's rounding error is pushed onto the inputs not yet quantized, weighted by the inverse Hessian
 * {@code H = 2XᵀX} of the layer's squared output error on calibration data, so that {@code ‖XW − XQ‖²} rather than
 * {@code ‖W − Q‖²} is (greedily) minimized. The qparams are fixed before rounding (per channel or per tensor, from the
 * weights' min/max as for nearest rounding), so the stored format and the integer runtime do not change.
 * <p>
 * As the reference implementation (and llm-compressor's GPTQModifier): inputs that are zero on every calibration row
 * ("dead": MNIST's border pixels) get {@code H_ii = 1} and weight 0; {@code H += λ·mean(diag H)·I} with
 * {@code λ = damp} (0.01 there); with {@code actOrder} inputs are taken in decreasing {@code H_ii} ("act order");
 * the updates use the upper Cholesky factor U of {@code H⁻¹} — the error of input i is {@code (w_i − q_i) / U_ii},
 * and row j &gt; i moves by {@code −err·U_ij}. Without lazy batching (the columns here are at most a few thousand);
 * all arithmetic in double, the rounding itself as {@link QParams#quantize(float, int, int)} (half to even). With a
 * diagonal H the updates vanish and GPTQ is nearest rounding ({@code GptqTest}). A pruned weight (mask false) is
 * set to the level of 0 and its error — the updates it received — is pushed on like any other, as SparseGPT does
 * for its pruned weights (Frantar &amp; Alistarh 2023), so a pruned model stays exactly as sparse.
 */
public final class Gptq {
    private Gptq() {}

    /**
     * Rounds {@code w} (k inputs × c channels, row-major: row i holds input i's weight into every channel).
     *
     * @param params one qparams per channel (or one for all)
     * @param kept   which weights are kept (same layout), or null when none is pruned
     * @return the integer values in the same layout
     */
    public static int[] round(float[] w, int k, int c, Gram gram, QParams[] params, int qmin, int qmax, double damp, boolean actOrder,
                              boolean[] kept) {
        if (kept != null && kept.length != w.length) throw new IllegalArgumentException("a mask of " + kept.length + " for " + w.length + " weights");
        if ((long) k * c != w.length) throw new IllegalArgumentException("expected " + k + "×" + c + " weights, got " + w.length);
        if (gram.columns() != k) throw new IllegalArgumentException("the Gram matrix has " + gram.columns() + " columns, the weights " + k + " inputs");
        if (!(damp > 0 && damp < 1)) throw new IllegalArgumentException("GPTQ's dampening must be in (0, 1), got " + damp);
        double[] h = new double[k * k];
        for (int i = 0; i < k; i++) for (int j = 0; j < k; j++) h[i * k + j] = gram.get(i, j);
        boolean[] dead = new boolean[k];
        double mean = 0;
        for (int i = 0; i < k; i++) {
            if (h[i * k + i] == 0) {
                dead[i] = true;
                h[i * k + i] = 1;
            }
            mean += h[i * k + i];
        }
        mean /= k;
        for (int i = 0; i < k; i++) h[i * k + i] += damp * mean;
        Integer[] order = new Integer[k];
        for (int i = 0; i < k; i++) order[i] = i;
        if (actOrder) java.util.Arrays.sort(order, (a, b) -> Double.compare(h[b * k + b], h[a * k + a])); // stable: ties keep input order
        double[] hp = new double[k * k], wp = new double[k * c];
        for (int i = 0; i < k; i++) {
            int oi = order[i];
            for (int j = 0; j < k; j++) hp[i * k + j] = h[oi * k + order[j]];
            if (!dead[oi]) for (int ch = 0; ch < c; ch++) wp[i * c + ch] = w[oi * c + ch];
        }
        double[] u = upperCholeskyOfInverse(hp, k);
        int[] q = new int[k * c];
        double[] err = new double[c];
        for (int i = 0; i < k; i++) {
            double d = u[i * k + i];
            int oi = order[i];
            for (int ch = 0; ch < c; ch++) {
                QParams p = params[params.length == 1 ? 0 : ch];
                double v = wp[i * c + ch];
                int qv = kept == null || kept[oi * c + ch] ? p.quantize((float) v, qmin, qmax) : p.zeroPoint();
                q[oi * c + ch] = qv;
                err[ch] = (v - p.dequantize(qv)) / d;
            }
            for (int j = i + 1; j < k; j++) {
                double uij = u[i * k + j];
                if (uij == 0) continue;
                int row = j * c;
                for (int ch = 0; ch < c; ch++) wp[row + ch] -= err[ch] * uij;
            }
        }
        return q;
    }

    /** U upper triangular with {@code UᵀU = A⁻¹}, for A symmetric positive definite (k × k, row-major). */
    static double[] upperCholeskyOfInverse(double[] a, int k) {
        double[] l = cholesky(a, k);
        double[] li = new double[k * k]; // L⁻¹, lower triangular
        for (int j = 0; j < k; j++) {
            li[j * k + j] = 1 / l[j * k + j];
            for (int i = j + 1; i < k; i++) {
                double s = 0;
                for (int m = j; m < i; m++) s += l[i * k + m] * li[m * k + j];
                li[i * k + j] = -s / l[i * k + i];
            }
        }
        double[] inv = new double[k * k]; // A⁻¹ = L⁻ᵀ L⁻¹
        for (int m = 0; m < k; m++)
            for (int i = 0; i <= m; i++) {
                double lmi = li[m * k + i];
                if (lmi == 0) continue;
                for (int j = 0; j <= i; j++) inv[i * k + j] += lmi * li[m * k + j];
            }
        for (int i = 0; i < k; i++) for (int j = 0; j < i; j++) inv[j * k + i] = inv[i * k + j];
        double[] m = cholesky(inv, k);
        double[] up = new double[k * k];
        for (int i = 0; i < k; i++) for (int j = i; j < k; j++) up[i * k + j] = m[j * k + i];
        return up;
    }

    /** Lower-triangular L with {@code LLᵀ = A}; fails on a matrix that is not positive definite. */
    static double[] cholesky(double[] a, int k) {
        double[] l = new double[k * k];
        for (int i = 0; i < k; i++)
            for (int j = 0; j <= i; j++) {
                double s = a[i * k + j];
                for (int m = 0; m < j; m++) s -= l[i * k + m] * l[j * k + m];
                if (i == j) {
                    if (!(s > 0)) throw new IllegalStateException("GPTQ: the dampened Hessian is not positive definite at input " + i + " (pivot " + s + ")");
                    l[i * k + i] = Math.sqrt(s);
                } else l[i * k + j] = s / l[j * k + j];
            }
        return l;
    }
}
