package io.squeeze.quantize;

import org.apache.datasketches.req.ReqSketch;

/**
 * Choosing an activation's clipping range [lo, hi] from calibration statistics.
 * <ul>
 * <li>{@link #histogramL2}: PyTorch 1.13's {@code HistogramObserver._non_linear_param_search}: shrink the range
 * from whichever side drops fewer counts, in quantile steps of 1e-5, while the estimated L2 quantization error
 * (each source bin's density integrated against 256 destination bins) keeps falling. Tested equal to PyTorch's on
 * the same histogram. (PyTorch 1.13's own forward bins with {@code histc(min=int(min), max=int(max))}, truncating
 * the edges to integers; Squeeze bins over the true [min, max].)</li>
 * <li>{@link #entropy}: TensorRT's entropy calibration (Migacz 2017, "8-bit Inference with TensorRT"): over a
 * 2048-bin histogram of |x|, the threshold t whose clipped distribution P and its 128-level (256 for
 * non-negative tensors) quantization Q minimise KL(P‖Q), outliers folded into P's last bin, both smoothed as in
 * MXNet's and TVM's {@code _get_optimal_threshold}. Unlike those, the bin holding |x| ≈ 0 is a level of its own in Q:
 * zero is exactly representable, and merging the spike of exact zeros after a ReLU into its neighbours' level
 * biases the search toward tiny thresholds (it clipped LeNet-5's activations to a quarter of their range, −6.5
 * points).</li>
 * <li>{@link #percentile}: the P-th percentile of x and of −x from REQ sketches.</li>
 * </ul>
 */
public final class RangeChoice {
    private RangeChoice() {}

    /** PyTorch's search; {@code dstBins} = 256 for 8-bit activations. */
    public static float[] histogramL2(Histogram h, int dstBins) {
        long[] hist = h.counts();
        int bins = hist.length;
        double binWidth = ((double) h.hi() - h.lo()) / bins;
        double total = 0;
        double[] cSum = new double[bins];
        for (int i = 0; i < bins; i++) cSum[i] = total += hist[i];
        double stepsize = 1e-5, alpha = 0, beta = 1;
        int startBin = 0, endBin = bins - 1;
        double normMin = Double.POSITIVE_INFINITY;
        while (alpha < beta) {
            double nextAlpha = alpha + stepsize, nextBeta = beta - stepsize;
            int l = startBin, r = endBin;
            while (l < endBin && cSum[l] < nextAlpha * total) l++;
            while (r > startBin && cSum[r] > nextBeta * total) r--;
            int nextStart = startBin, nextEnd = endBin;
            if (l - startBin > endBin - r) {
                nextStart = l;
                alpha = nextAlpha;
            } else {
                nextEnd = r;
                beta = nextBeta;
            }
            if (nextStart == startBin && nextEnd == endBin) continue;
            double norm = quantizationError(hist, binWidth, nextStart, nextEnd, dstBins);
            if (norm > normMin) break;
            normMin = norm;
            startBin = nextStart;
            endBin = nextEnd;
        }
        return new float[]{(float) (h.lo() + binWidth * startBin), (float) (h.lo() + binWidth * (endBin + 1))};
    }

    static double quantizationError(long[] hist, double binWidth, int start, int end, int dstBins) {
        double dstWidth = binWidth * (end - start + 1) / dstBins;
        if (dstWidth == 0) return 0;
        double norm = 0;
        for (int s = 0; s < hist.length; s++) {
            if (hist[s] == 0) continue;
            double density = hist[s] / binWidth;
            double begin = (s - start) * binWidth, endPos = begin + binWidth;
            double dBegin = clamp(Math.floor(begin / dstWidth), 0, dstBins - 1), dEnd = clamp(Math.floor(endPos / dstWidth), 0, dstBins - 1);
            double beginCenter = (dBegin + 0.5) * dstWidth;
            norm += density * cubeDiff(begin - beginCenter, dstWidth / 2);
            norm += (dEnd - dBegin - 1) * density * cubeDiff(-dstWidth / 2, dstWidth / 2);
            double endCenter = dEnd * dstWidth + dstWidth / 2;
            norm += density * cubeDiff(-dstWidth / 2, endPos - endCenter);
        }
        return norm;
    }

    private static double cubeDiff(double a, double b) {
        return (b * b * b - a * a * a) / 3;
    }

    private static double clamp(double v, double lo, double hi) {
        return Math.max(lo, Math.min(hi, v));
    }

    /**
     * The KL-optimal threshold over a histogram of |x| on [0, max|x|]; {@code levels} quantized bins (128 for a
     * signed tensor, 256 for a non-negative one). Returns t; the range is [−t, t], or [0, t] when non-negative.
     */
    public static float entropy(Histogram absHist, int levels) {
        long[] hist = absHist.counts();
        int bins = hist.length;
        double binWidth = ((double) absHist.hi() - absHist.lo()) / bins;
        if (bins <= levels) return absHist.hi();
        double best = Double.POSITIVE_INFINITY;
        int bestI = bins;
        double[] p = new double[bins], q = new double[bins];
        for (int i = levels; i <= bins; i++) {
            double outliers = 0;
            for (int j = i; j < bins; j++) outliers += hist[j];
            for (int j = 0; j < i; j++) p[j] = hist[j];
            p[i - 1] += outliers;
            // quantize hist[0, i) into `levels` groups, each group's mass spread over its non-empty bins; bin 0 (|x| ≈ 0,
            // e.g. the exact zeros after a ReLU) is a group of its own, since 0 is exactly representable (the zero point)
            java.util.Arrays.fill(q, 0, i, 0);
            q[0] = hist[0];
            for (int g = 0; g < levels - 1; g++) {
                int from = 1 + (int) ((long) g * (i - 1) / (levels - 1)), to = 1 + (int) ((long) (g + 1) * (i - 1) / (levels - 1));
                double sum = 0;
                int nonzero = 0;
                for (int j = from; j < to; j++) {
                    sum += hist[j];
                    if (hist[j] != 0) nonzero++;
                }
                for (int j = from; j < to; j++) if (hist[j] != 0) q[j] = sum / nonzero;
            }
            double kl = kl(p, q, i);
            if (kl < best) {
                best = kl;
                bestI = i;
            }
        }
        return (float) (absHist.lo() + binWidth * bestI);
    }

    /**
     * KL(P‖Q) over the first n bins after MXNet's/TVM's smoothing (zero bins get ε = 1e-4 counts, taken
     * proportionally from the non-zero ones), so a Q that misses P's folded-in outliers is penalised, not infinite.
     */
    private static double kl(double[] p, double[] q, int n) {
        double[] ps = smooth(p, n), qs = smooth(q, n);
        if (ps == null || qs == null) return Double.POSITIVE_INFINITY;
        double sp = 0, sq = 0;
        for (int j = 0; j < n; j++) {
            sp += ps[j];
            sq += qs[j];
        }
        double d = 0;
        for (int j = 0; j < n; j++) {
            if (ps[j] <= 0) continue;
            double pj = ps[j] / sp, qj = qs[j] / sq;
            d += pj * Math.log(pj / qj);
        }
        return d;
    }

    private static double[] smooth(double[] h, int n) {
        final double eps = 1e-4;
        int zeros = 0;
        for (int j = 0; j < n; j++) if (h[j] == 0) zeros++;
        int nonzeros = n - zeros;
        if (nonzeros == 0) return null;
        double eps1 = eps * zeros / nonzeros;
        double[] out = new double[n];
        for (int j = 0; j < n; j++) out[j] = h[j] == 0 ? eps : h[j] - eps1;
        for (int j = 0; j < n; j++) if (out[j] <= 0) return null;
        return out;
    }

    /** [−quantile(−x, p), quantile(x, p)] with p in (0, 1]. */
    public static float[] percentile(ReqSketch up, ReqSketch down, double p) {
        return new float[]{-down.getQuantile(p), up.getQuantile(p)};
    }
}
