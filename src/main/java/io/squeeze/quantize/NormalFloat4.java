package io.squeeze.quantize;

/**
 * 4-bit NormalFloat (NF4) with double quantization, QLoRA's storage for a frozen base (Dettmers, Pagnoni, Holtzman and
 * Zettlemoyer 2023, "QLoRA: Efficient Finetuning of Quantized LLMs", sections 3–4). Weights are cut into blocks of
 * {@link #BLOCK} in C order (the last block may be shorter: it is quantized over its own values, as if padded with
 * zeros); each block is scaled by its absolute maximum into [-1, 1] and every value takes the nearest of the 16 NF4
 * levels ({@link #LEVELS}, the paper's and bitsandbytes' table: quantiles of N(0, 1) with an exact 0; a value on a
 * midpoint takes the lower level). Double quantization stores the block maxima themselves in 8 bits: their mean is
 * subtracted, and each group of {@link #GROUP} blocks is scaled into [-127, 127] by its largest deviation and rounded
 * half to even — symmetric int8 where bitsandbytes uses its 8-bit dynamic float map (documented difference); the
 * levels are chosen with the exact maxima, dequantization uses the double-quantized ones, as bitsandbytes does.
 * Storage: 4 bits per weight, 8 bits per 64 weights and 32 bits per 16,384 (≈ 4.127 bits per weight).
 */
public final class NormalFloat4 {
    /** Weights per block. */
    public static final int BLOCK = 64;
    /** Blocks per double-quantization group. */
    public static final int GROUP = 256;
    /** The 16 NF4 levels (bitsandbytes' {@code NF4} code, the QLoRA paper's appendix E). */
    public static final float[] LEVELS = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
            -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f,
            0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
            0.7229568362236023f, 1.0f};
    /** The code of 0.0 (a pruned weight). */
    public static final int ZERO = 7;

    private NormalFloat4() {}

    /**
     * A quantized tensor: the codes, each block's 8-bit maximum, each group's scale and the maxima's mean.
     *
     * @param codes  one level index (0–15) per weight
     * @param q8     each block's double-quantized maximum, in [-127, 127]
     * @param scales each group's scale of the maxima's deviations
     * @param offset the mean of the block maxima
     */
    public record Blocks(short[] codes, byte[] q8, float[] scales, float offset) {
        /** Block {@code b}'s maximum as dequantization uses it. */
        public float absmax(int b) {
            return q8[b] * scales[b / GROUP] + offset;
        }

        public float[] dequantize() {
            float[] out = new float[codes.length];
            for (int i = 0; i < out.length; i++) out[i] = LEVELS[codes[i]] * absmax(i / BLOCK);
            return out;
        }
    }

    /** The number of blocks of {@code n} weights, and of groups of those blocks. */
    public static int blocks(long n) {
        return (int) ((n + BLOCK - 1) / BLOCK);
    }

    public static int groups(int blocks) {
        return (blocks + GROUP - 1) / GROUP;
    }

    public static Blocks quantize(float[] w) {
        int nb = blocks(w.length);
        float[] absmax = new float[nb];
        short[] codes = new short[w.length];
        for (int b = 0; b < nb; b++) {
            int from = b * BLOCK, to = Math.min(w.length, from + BLOCK);
            float m = 0;
            for (int i = from; i < to; i++) m = Math.max(m, Math.abs(w[i]));
            absmax[b] = m;
            for (int i = from; i < to; i++) codes[i] = (short) (m == 0 ? ZERO : nearest(w[i] / m));
        }
        double sum = 0;
        for (float a : absmax) sum += a;
        float offset = nb == 0 ? 0f : (float) (sum / nb);
        int ng = groups(nb);
        float[] scales = new float[ng];
        byte[] q8 = new byte[nb];
        for (int g = 0; g < ng; g++) {
            int from = g * GROUP, to = Math.min(nb, from + GROUP);
            float dev = 0;
            for (int b = from; b < to; b++) dev = Math.max(dev, Math.abs(absmax[b] - offset));
            scales[g] = dev == 0 ? 1f : dev / 127f;
            for (int b = from; b < to; b++) q8[b] = (byte) Math.max(-127, Math.min(127, Math.rint((absmax[b] - offset) / scales[g])));
        }
        return new Blocks(codes, q8, scales, offset);
    }

    /** The index of the level nearest {@code x} in [-1, 1] (a midpoint takes the lower level). */
    public static int nearest(float x) {
        int lo = 0, hi = LEVELS.length - 1;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (x <= (LEVELS[mid] + LEVELS[mid + 1]) / 2) hi = mid;
            else lo = mid + 1;
        }
        return lo;
    }
}
