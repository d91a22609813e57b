package io.squeeze.quantize;

import io.squeeze.core.BadInputException;

/**
 * A scale and zero point, computed from an observed range exactly as PyTorch 1.13's
 * {@code ObserverBase._calculate_qparams} does, in float32: the range is widened to include 0; symmetric schemes
 * use {@code max(|min|, max) / ((qmax − qmin) / 2)} with the zero point at the middle of quint8 (0 for qint8);
 * affine schemes use {@code (max − min) / (qmax − qmin)} and {@code qmin − round(min / scale)}, clamped; the scale is
 * at least float32's epsilon (so a range that collapses to one value does not divide by zero). Rounding is
 * half-to-even, as {@code torch.round}.
 */
public record QParams(float scale, int zeroPoint) implements java.io.Serializable {
    public static final float EPS = Math.ulp(1.0f); // torch.finfo(torch.float32).eps

    public static QParams fromMinMax(float min, float max, QDtype dtype, boolean symmetric, boolean reduceRange) {
        if (symmetric && reduceRange && dtype == QDtype.QUINT8)
            throw new BadInputException("reduce_range is not defined for symmetric quint8 quantization (as in PyTorch)");
        int[] q = dtype.range(reduceRange);
        return fromMinMax(min, max, q[0], q[1], symmetric, dtype == QDtype.QUINT8);
    }

    /** The same rule for any integer range (e.g. 4-bit [-8, 7]); {@code unsigned} puts a symmetric zero point mid-range. */
    public static QParams fromMinMax(float min, float max, int qmin, int qmax, boolean symmetric, boolean unsigned) {
        if (Float.isNaN(min) || Float.isNaN(max)) throw new BadInputException("observed range is NaN");
        float minNeg = Math.min(min, 0f), maxPos = Math.max(max, 0f);
        float scale;
        int zp;
        if (symmetric) {
            float m = Math.max(-minNeg, maxPos);
            scale = Math.max(m / ((float) (qmax - qmin) / 2f), EPS);
            zp = unsigned ? (qmin + qmax + 1) / 2 : 0;
        } else {
            scale = Math.max((maxPos - minNeg) / (float) (qmax - qmin), EPS);
            zp = (int) (qmin - Math.rint(minNeg / scale));
            zp = Math.max(qmin, Math.min(qmax, zp));
        }
        return new QParams(scale, zp);
    }

    /** {@code clamp(zero_point + round(x · (1/scale)), dtype)}, as ATen's quantize_val. */
    public int quantize(float x, QDtype dtype) {
        return quantize(x, dtype.min(), dtype.max());
    }

    /** Clamped to [lo, hi]. */
    public int quantize(float x, int lo, int hi) {
        float inv = 1.0f / scale;
        long v = zeroPoint + (long) Math.rint(x * inv);
        return (int) Math.max(lo, Math.min(hi, v));
    }

    public float dequantize(int q) {
        return (q - zeroPoint) * scale;
    }
}
