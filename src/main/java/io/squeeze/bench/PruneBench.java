package io.squeeze.bench;

import io.squeeze.prune.L1Unstructured;
import io.squeeze.prune.GlobalUnstructured;
import io.squeeze.prune.Amount;
import io.squeeze.prune.Chunk;
import io.squeeze.core.Mask;
import io.squeeze.prune.Pruner;
import io.squeeze.prune.Target;
import io.squeeze.spark.SparkPruner;
import io.squeeze.spark.SparkSessions;
import org.apache.spark.sql.SparkSession;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Pruning: (1) computing an l1 mask of 10 M weights by exact radix selection (O(n)) against a plain sort-based
 * reference (sort |w|, take the k-th); (2) the distributed global-pruning job over a model of 24 layers of
 * 512×512 on local[1] against local[2] (fresh Spark contexts in this run). Medians of three runs after a warm-up.
 */
final class PruneBench implements Bench.Benchmark {

    static float[] gaussian(int n, long seed) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    @Override
    public List<Bench.Result> run(SparkSession spark, PrintStream progress) {
        int n = 10_000_000;
        Target big = new Target(0, 0, "W", new long[]{n / 1000, 1000}, gaussian(n, 1), Mask.all(n), Amount.fraction(0.9), 1, 0);
        double[] radix = new double[3], sort = new double[3];
        for (int rep = -1; rep < 3; rep++) {
            long t0 = System.nanoTime();
            Mask m = Pruner.masks(List.of(big), new L1Unstructured(), big.amount(), Chunk.DEFAULT_SIZE).get(0);
            long t1 = System.nanoTime();
            float[] a = new float[n];
            for (int i = 0; i < n; i++) a[i] = Math.abs(big.values()[i]);
            Arrays.sort(a);
            float t = a[(int) Math.rint(0.9 * n) - 1];
            boolean[] kept = new boolean[n];
            for (int i = 0; i < n; i++) kept[i] = Math.abs(big.values()[i]) > t;
            Mask ref = Mask.of(kept);
            long t2 = System.nanoTime();
            if (!ref.equals(m)) throw new IllegalStateException("radix and sort masks differ");
            if (rep >= 0) {
                radix[rep] = (t1 - t0) / 1e9;
                sort[rep] = (t2 - t1) / 1e9;
            }
            progress.printf("bench: prune kernel run %d: radix %.2f s, sort %.2f s%n", rep, (t1 - t0) / 1e9, (t2 - t1) / 1e9);
        }
        List<Target> layers = new ArrayList<>();
        for (int i = 0; i < 24; i++) layers.add(new Target(i, i, "W", new long[]{512, 512}, gaussian(512 * 512, 10 + i), Mask.all(512 * 512), Amount.fraction(0.9), 1, 0));
        spark.stop(); // the next benchmark gets a fresh session on the requested master
        double[] secs = new double[2];
        String[] masters = {"local[1]", "local[2]"};
        Mask first = null;
        for (int k = 0; k < 2; k++) {
            SparkSession s = SparkSession.builder().config(SparkSessions.defaults("squeeze bench prune").setMaster(masters[k])).getOrCreate();
            double[] runs = new double[3];
            for (int rep = -1; rep < 3; rep++) {
                long t0 = System.nanoTime();
                var masks = SparkPruner.masks(SparkSessions.jsc(s), layers, new GlobalUnstructured(), Amount.fraction(0.9), 1 << 16);
                double sec = (System.nanoTime() - t0) / 1e9;
                if (first == null) first = masks.get(0);
                else if (!first.equals(masks.get(0))) throw new IllegalStateException("masks differ between runs");
                if (rep >= 0) runs[rep] = sec;
                progress.printf("bench: prune job %s run %d: %.2f s%n", masters[k], rep, sec);
            }
            secs[k] = median(runs);
            s.stop();
        }
        double mr = median(radix), ms = median(sort);
        return List.of(
                new Bench.Result("prune.mask_10M_weights_per_s", n / mr, "weights/s", n / ms, ms / mr,
                        "exact radix select vs sort-based reference, l1 amount 0.9, same mask"),
                new Bench.Result("prune.global_job_24x512x512_speedup", 1 / secs[1], "jobs/s", 1 / secs[0], secs[0] / secs[1],
                        String.format(java.util.Locale.ROOT, "local[2] %.2f s vs local[1] %.2f s, 6.3M weights, chunks of 65536", secs[1], secs[0])));
    }
}
