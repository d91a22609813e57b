package io.squeeze.spark;

import java.util.List;

/**
 * The arithmetic {@link LocalSgd}'s driver and {@link BarrierEpoch}'s workers share, so that both ways of meeting give
 * the same weights: the element-wise mean of the workers' states, summed in worker order and divided once, and the
 * order in which a worker fits its minibatches in an epoch, a permutation drawn from (seed, epoch, worker).
 */
final class Averaging {
    private Averaging() {}

    /** The element-wise mean of the workers' arrays: the first worker's values, each next one's {@link #add}ed in worker order, then {@link #divide}d. */
    static float[] mean(List<LocalSgd.Result> results, java.util.function.Function<LocalSgd.Result, float[]> of) {
        float[] sum = of.apply(results.get(0)).clone();
        for (int w = 1; w < results.size(); w++) add(sum, of.apply(results.get(w)), sum.length);
        divide(sum, sum.length, results.size());
        return sum;
    }

    /** {@code sum[i] += a[i]} for the first {@code n} values: one worker's step of the mean (also {@link BarrierEpoch.Exchange}'s). */
    static void add(float[] sum, float[] a, int n) {
        for (int i = 0; i < n; i++) sum[i] += a[i];
    }

    /** {@code sum[i] /= count} for the first {@code n} values: the mean's last step (also {@link BarrierEpoch.Exchange}'s). */
    static void divide(float[] sum, int n, int count) {
        float c = count;
        for (int i = 0; i < n; i++) sum[i] /= c;
    }

    /** The order in which a worker fits its minibatches in an epoch: a permutation drawn from (seed, epoch, worker). */
    static int[] order(int n, long seed, int epoch, int worker) {
        int[] o = new int[n];
        for (int i = 0; i < n; i++) o[i] = i;
        var rnd = new java.util.SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch * 0xBF58476D1CE4E5B9L + worker);
        for (int i = n - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = o[i];
            o[i] = o[j];
            o[j] = t;
        }
        return o;
    }
}
