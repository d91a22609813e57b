package io.squeeze.quantize;

import io.squeeze.core.Mask;

import java.io.Serializable;
import java.util.Arrays;

/**
 * Weight sharing by one-dimensional k-means (Han, Mao and Dally 2016, "Deep Compression", section 3): a layer's
 * kept (non-pruned) weights are clustered into at most k = 2^bits shared values, minimizing the within-cluster sum
 * of squares. Centroids start <em>linearly</em> spaced over [min, max] of the weights — the paper's finding (section
 * 3.2, Figure 4): linear initialization keeps the few large weights, which matter most, where random and
 * density-based ones lose them. Lloyd's iterations follow: each weight goes to its nearest centroid (ascending
 * centroids, so the boundaries are midpoints found by binary search; a weight on a midpoint goes to the lower one),
 * each centroid becomes the mean of its weights (an empty cluster keeps its value), until the centroids no longer
 * change (nor, then, does any assignment) or {@code maxIterations}. Each pass sums the weights chunk by chunk
 * ({@link #CHUNK}) into mergeable {@link Sums} merged in chunk order, so a layer whose chunks run as executor tasks
 * gets bit for bit the centroids of one task. No randomness and a fixed order: the same weights give the same
 * codebook on any machine.
 * <p>
 * A layer with at most k distinct kept weights gets exactly those values (fewer clusters, lossless). Pruned weights
 * take no part and stay 0.
 */
public final class WeightSharing {
    /** Lloyd iterations at most (in practice 1-D k-means settles in a few dozen). */
    public static final int MAX_ITERATIONS = 300;

    private WeightSharing() {}

    /**
     * The clustering of one layer.
     *
     * @param centroids  the shared values, ascending
     * @param assignment each weight's centroid, -1 for a pruned weight
     * @param iterations Lloyd iterations run (0 when the distinct values were taken as they are)
     * @param sse        the within-cluster sum of squared errors
     */
    public record Clusters(float[] centroids, int[] assignment, int iterations, double sse) implements Serializable {
        /** The weights as shared: each kept weight replaced by its centroid, pruned ones 0. */
        public float[] shared() {
            float[] out = new float[assignment.length];
            for (int i = 0; i < out.length; i++) out[i] = assignment[i] < 0 ? 0f : centroids[assignment[i]];
            return out;
        }
    }

    /** Sums and counts per cluster: Lloyd's update step as a mergeable value (a layer split over tasks merges these). */
    public record Sums(double[] sum, long[] count, double sse) implements Serializable {
        public Sums merge(Sums o) {
            double[] s = sum.clone();
            long[] c = count.clone();
            for (int k = 0; k < s.length; k++) {
                s[k] += o.sum[k];
                c[k] += o.count[k];
            }
            return new Sums(s, c, sse + o.sse);
        }

        /** The next centroids: the mean of each cluster, the old value for an empty one, ascending. */
        public float[] centroids(float[] old) {
            float[] c = new float[old.length];
            for (int k = 0; k < c.length; k++) c[k] = count[k] == 0 ? old[k] : (float) (sum[k] / count[k]);
            Arrays.sort(c);
            return c;
        }
    }

    /** Clusters the kept weights of {@code w} into at most {@code k} shared values. */
    public static Clusters cluster(float[] w, Mask kept, int k, int maxIterations) {
        if (k < 1) throw new IllegalArgumentException("k must be >= 1, got " + k);
        if (kept != null && kept.size() != w.length) throw new IllegalArgumentException("mask of " + kept.size() + " for " + w.length + " weights");
        float[] distinct = distinct(w, kept, k);
        if (distinct != null) {
            if (distinct.length == 0) return new Clusters(new float[0], assignAll(w, kept, new float[]{0f}, true), 0, 0);
            return new Clusters(distinct, assignAll(w, kept, distinct, false), 0, 0);
        }
        float[] range = range(w, kept, 0, w.length);
        Lloyd l = lloyd(linear(range[0], range[1], k), maxIterations, c -> {
            Sums all = null;
            for (int from = 0; from < w.length; from += CHUNK) {
                Sums s = pass(w, kept, from, Math.min(w.length, from + CHUNK), c);
                all = all == null ? s : all.merge(s);
            }
            return all;
        });
        return new Clusters(l.centroids(), assignAll(w, kept, l.centroids(), false), l.iterations(), l.sse());
    }

    /** Weights per pass chunk: a layer's sums are merged chunk by chunk in this order wherever the chunks ran. */
    public static final int CHUNK = 1 << 20;

    /** Lloyd's outcome: the centroids, the iterations that moved them, and the last assignment's sse. */
    public record Lloyd(float[] centroids, int iterations, double sse) {}

    /**
     * Lloyd's iterations from {@code start}: {@code pass} gives the merged sums of every kept weight assigned to its
     * nearest of the given centroids (one pass over the weights, wherever they are); the centroids become the means,
     * until they no longer change (then neither do the assignments) or {@code maxIterations} updates.
     */
    public static Lloyd lloyd(float[] start, int maxIterations, java.util.function.Function<float[], Sums> pass) {
        float[] c = start;
        Sums s = pass.apply(c);
        int it = 0;
        while (it < maxIterations) {
            float[] next = s.centroids(c);
            if (Arrays.equals(next, c)) break;
            c = next;
            it++;
            s = pass.apply(c);
        }
        return new Lloyd(c, it, s.sse());
    }

    /** The sums of the kept weights in [from, to), each at its nearest centroid. */
    public static Sums pass(float[] w, Mask kept, int from, int to, float[] centroids) {
        double[] s = new double[centroids.length];
        long[] n = new long[centroids.length];
        double sse = 0;
        for (int i = from; i < to; i++) {
            if (kept != null && !kept.kept(i)) continue;
            int j = nearest(centroids, w[i]);
            s[j] += w[i];
            n[j]++;
            double d = w[i] - (double) centroids[j];
            sse += d * d;
        }
        return new Sums(s, n, sse);
    }

    /** {min, max} of the kept weights in [from, to) (+inf, -inf when none). */
    public static float[] range(float[] w, Mask kept, int from, int to) {
        float min = Float.POSITIVE_INFINITY, max = Float.NEGATIVE_INFINITY;
        for (int i = from; i < to; i++) if (kept == null || kept.kept(i)) {
            min = Math.min(min, w[i]);
            max = Math.max(max, w[i]);
        }
        return new float[]{min, max};
    }

    /** The clusters of {@code w} once Lloyd's centroids are known (each kept weight at its nearest). */
    public static Clusters assign(float[] w, Mask kept, Lloyd l) {
        return new Clusters(l.centroids(), assignAll(w, kept, l.centroids(), false), l.iterations(), l.sse());
    }

    /** The distinct kept values ascending when there are at most {@code k}, else null. */
    public static float[] distinct(float[] w, Mask kept, int k) {
        java.util.TreeSet<Float> seen = new java.util.TreeSet<>();
        for (int i = 0; i < w.length; i++) {
            if (kept != null && !kept.kept(i)) continue;
            if (seen.add(w[i]) && seen.size() > k) return null;
        }
        float[] d = new float[seen.size()];
        int j = 0;
        for (float f : seen) d[j++] = f;
        return d;
    }

    /** {@code k} centroids evenly spaced over [min, max] (one at their midpoint for k = 1). */
    public static float[] linear(float min, float max, int k) {
        float[] c = new float[k];
        if (k == 1) {
            c[0] = (float) ((min + (double) max) / 2);
            return c;
        }
        for (int j = 0; j < k; j++) c[j] = (float) (min + (max - (double) min) * j / (k - 1));
        return c;
    }

    /** The index of the nearest of the ascending {@code centroids} (a midpoint goes to the lower one). */
    public static int nearest(float[] centroids, float x) {
        int lo = 0, hi = centroids.length - 1;
        while (lo < hi) { // first k with x <= midpoint(k, k + 1)
            int mid = (lo + hi) >>> 1;
            double boundary = ((double) centroids[mid] + centroids[mid + 1]) / 2;
            if (x <= boundary) hi = mid;
            else lo = mid + 1;
        }
        return lo;
    }

    static int[] assignAll(float[] w, Mask kept, float[] c, boolean none) {
        int[] a = new int[w.length];
        for (int i = 0; i < w.length; i++) a[i] = none || kept != null && !kept.kept(i) ? -1 : nearest(c, w[i]);
        return a;
    }
}
