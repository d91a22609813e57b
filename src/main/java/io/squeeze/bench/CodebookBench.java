package io.squeeze.bench;

import io.squeeze.core.Huffman;
import io.squeeze.core.Mask;
import io.squeeze.model.DenseRuntime;
import io.squeeze.quantize.WeightSharing;
import io.squeeze.spark.CodebookJob;
import io.squeeze.spark.Execution;
import io.squeeze.spark.SparkSessions;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * Weight sharing (Deep Compression): (1) k-means of a 784×300 layer at 8 % kept (LeNet-300-100's first layer) and of
 * a dense 300×100 layer, 64 clusters: {@link WeightSharing#cluster} (binary search over sorted centroids) against a
 * plain single-threaded Lloyd (every weight against every centroid) run for the same iterations — the centroids are
 * checked equal; (2) Lloyd's passes over a 4096×4096 layer (weights around 64 modes) kept on the executors, local[1]
 * against local[2] (fresh Spark contexts, identical centroids checked); (3) Huffman encode and decode of 10 M skewed 6-bit codes against
 * DEFLATE (level 9) of the same codes as bytes, in MB of codes per second and bits per code; (4) inference rows/s of
 * a codebook-shared LeNet-300-100 against its dense twin through {@link DenseRuntime}, one thread, batch 256.
 * Medians of three runs after a warm-up.
 */
final class CodebookBench implements Bench.Benchmark {

    static float[] gaussian(int n, long seed, double sd) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * sd);
        return v;
    }

    /** Every weight against every centroid, for the given number of updates from the linear start. */
    static float[] plainLloyd(float[] w, Mask kept, int k, int updates) {
        float min = Float.POSITIVE_INFINITY, max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < w.length; i++) if (kept == null || kept.kept(i)) { min = Math.min(min, w[i]); max = Math.max(max, w[i]); }
        float[] c = WeightSharing.linear(min, max, k);
        for (int it = 0; it <= updates; it++) {
            double[] s = new double[k];
            long[] n = new long[k];
            for (int i = 0; i < w.length; i++) {
                if (kept != null && !kept.kept(i)) continue;
                int best = 0;
                for (int j = 1; j < k; j++) if (Math.abs(w[i] - c[j]) < Math.abs(w[i] - c[best])) best = j;
                s[best] += w[i];
                n[best]++;
            }
            if (it == updates) break;
            float[] next = new float[k];
            for (int j = 0; j < k; j++) next[j] = n[j] == 0 ? c[j] : (float) (s[j] / n[j]);
            Arrays.sort(next);
            c = next;
        }
        return c;
    }

    @Override
    public List<Bench.Result> run(SparkSession spark, PrintStream progress) {
        List<Bench.Result> out = new ArrayList<>();
        Random r = new Random(5);
        boolean[] keep = new boolean[784 * 300];
        for (int i = 0; i < keep.length; i++) keep[i] = r.nextDouble() < 0.08;
        Object[][] layers = {{"784x300_8pct", gaussian(784 * 300, 1, 0.05), Mask.of(keep)}, {"300x100", gaussian(300 * 100, 2, 0.05), null}};
        for (Object[] l : layers) {
            float[] w = (float[]) l[1];
            Mask m = (Mask) l[2];
            double[] mine = new double[3], plain = new double[3];
            for (int rep = -1; rep < 3; rep++) {
                long t0 = System.nanoTime();
                WeightSharing.Clusters c = WeightSharing.cluster(w, m, 64, WeightSharing.MAX_ITERATIONS);
                long t1 = System.nanoTime();
                float[] ref = plainLloyd(w, m, 64, c.iterations());
                long t2 = System.nanoTime();
                if (!Arrays.equals(ref, c.centroids())) throw new IllegalStateException("k-means centroids differ from the plain Lloyd's on " + l[0]);
                if (rep >= 0) { mine[rep] = (t1 - t0) / 1e9; plain[rep] = (t2 - t1) / 1e9; }
                progress.printf(Locale.ROOT, "bench: k-means %s run %d: %.3f s (%d iterations), plain Lloyd %.3f s%n", l[0], rep, (t1 - t0) / 1e9, c.iterations(), (t2 - t1) / 1e9);
            }
            out.add(new Bench.Result("codebook.kmeans_" + l[0] + "_per_s", 1 / PruneBench.median(mine), "layers/s", 1 / PruneBench.median(plain), PruneBench.median(plain) / PruneBench.median(mine),
                    "64 clusters, linear init, same centroids as a plain O(n·k) Lloyd of the same iterations"));
        }
        out.add(huffman(progress));
        out.add(inference(progress));
        out.add(distributed(spark, progress)); // last: it stops the session, and classes the job jar holds load from its copy

        return out;
    }

    /** Lloyd's passes over a 16 M-weight layer on local[1] and local[2]. */
    private static Bench.Result distributed(SparkSession spark, PrintStream progress) {
        // weights around 64 values (a trained layer's modes), so Lloyd settles in a few passes: the figure is per pass
        float[] w = gaussian(4096 * 4096, 3, 0.002);
        Random r = new Random(4);
        for (int i = 0; i < w.length; i++) w[i] += (r.nextInt(64) - 32) * 0.02f;
        CodebookJob.Task t = new CodebookJob.Task(0, w, null, 64);
        spark.stop();
        String[] masters = {"local[1]", "local[2]"};
        double[] secs = new double[2];
        float[] first = null;
        for (int k = 0; k < 2; k++) {
            SparkSession s = SparkSession.builder().config(SparkSessions.defaults("squeeze bench codebook").setMaster(masters[k])).getOrCreate();
            double[] runs = new double[3];
            for (int rep = -1; rep < 3; rep++) {
                long t0 = System.nanoTime();
                WeightSharing.Clusters c = CodebookJob.distributedLloyd(Execution.of(SparkSessions.jsc(s), false), t, new PrintWriter(PrintWriter.nullWriter()));
                double sec = (System.nanoTime() - t0) / 1e9;
                if (first == null) first = c.centroids();
                else if (!Arrays.equals(first, c.centroids())) throw new IllegalStateException("distributed centroids differ between runs");
                if (rep >= 0) runs[rep] = sec;
                progress.printf(Locale.ROOT, "bench: distributed Lloyd 4096x4096 %s run %d: %.2f s (%d iterations)%n", masters[k], rep, sec, c.iterations());
            }
            secs[k] = PruneBench.median(runs);
            s.stop();
        }
        return new Bench.Result("codebook.distributed_lloyd_4096x4096_speedup", 1 / secs[1], "layers/s", 1 / secs[0], secs[0] / secs[1],
                String.format(Locale.ROOT, "local[2] %.2f s vs local[1] %.2f s, 16 chunks of 1M weights kept on the executors", secs[1], secs[0]));
    }

    /** Huffman coding of skewed 6-bit codes against DEFLATE of the same codes. */
    private static Bench.Result huffman(PrintStream progress) {
        int n = 10_000_000;
        Random r = new Random(8);
        int[] codes = new int[n];
        byte[] raw = new byte[n];
        for (int i = 0; i < n; i++) {
            codes[i] = Math.min(63, (int) Math.abs(r.nextGaussian() * 10));
            raw[i] = (byte) codes[i];
        }
        double[] enc = new double[3], dec = new double[3], denc = new double[3], ddec = new double[3];
        int hBytes = 0, dBytes = 0;
        for (int rep = -1; rep < 3; rep++) {
            long t0 = System.nanoTime();
            byte[] h = Huffman.encode(codes, 64);
            long t1 = System.nanoTime();
            int[] back = Huffman.decode(h, 64);
            long t2 = System.nanoTime();
            byte[] d = deflate(raw);
            long t3 = System.nanoTime();
            byte[] dback = inflate(d, n);
            long t4 = System.nanoTime();
            if (!Arrays.equals(back, codes) || !Arrays.equals(dback, raw)) throw new IllegalStateException("round trip failed");
            hBytes = h.length;
            dBytes = d.length;
            if (rep >= 0) { enc[rep] = (t1 - t0) / 1e9; dec[rep] = (t2 - t1) / 1e9; denc[rep] = (t3 - t2) / 1e9; ddec[rep] = (t4 - t3) / 1e9; }
            progress.printf(Locale.ROOT, "bench: huffman run %d: encode %.3f s, decode %.3f s; deflate %.3f s, inflate %.3f s%n", rep, (t1 - t0) / 1e9,
                    (t2 - t1) / 1e9, (t3 - t2) / 1e9, (t4 - t3) / 1e9);
        }
        double mb = n / 1e6;
        return new Bench.Result("codebook.huffman_decode_MB_per_s", mb / PruneBench.median(dec), "MB/s", mb / PruneBench.median(ddec), PruneBench.median(ddec) / PruneBench.median(dec),
                String.format(Locale.ROOT, "10M 6-bit codes (1 byte each): encode %.0f MB/s vs DEFLATE-9 %.0f MB/s; %.2f bits/code vs DEFLATE %.2f",
                        mb / PruneBench.median(enc), mb / PruneBench.median(denc), hBytes * 8.0 / n, dBytes * 8.0 / n));
    }

    /** DenseRuntime rows/s of a codebook-shared LeNet-300-100 against its dense twin. */
    private static Bench.Result inference(PrintStream progress) {
        MultiLayerNetwork dense = new MultiLayerNetwork(io.squeeze.model.Architectures.build(new io.squeeze.model.Arch.Mlp(new int[]{300, 100}), 784, 10, null,
                new io.squeeze.model.Architectures.Hyper(1, 1e-3, 0), null));
        dense.init();
        var shared = CodebookJob.share(new Execution.InProcess(), dense, Map.of(), new io.squeeze.quantize.CodebookConfig(6, List.of()),
                new PrintWriter(PrintWriter.nullWriter())).net();
        float[] x = gaussian(256 * 784, 9, 1);
        double[] twin = new double[3], cb = new double[3];
        io.squeeze.spark.Nd4jThreads.set(1);
        try {
            DenseRuntime a = DenseRuntime.of(dense).orElseThrow(), b = DenseRuntime.of(shared).orElseThrow();
            for (int rep = -1; rep < 3; rep++) {
                twin[Math.max(rep, 0)] = rowsPerSecond(a, x);
                cb[Math.max(rep, 0)] = rowsPerSecond(b, x);
                progress.printf(Locale.ROOT, "bench: inference run %d: dense %.0f rows/s, codebook %.0f rows/s%n", rep, twin[Math.max(rep, 0)], cb[Math.max(rep, 0)]);
            }
        } finally {
            io.squeeze.spark.Nd4jThreads.all();
        }
        return new Bench.Result("codebook.lenet300_rows_per_s", PruneBench.median(cb), "rows/s", PruneBench.median(twin), PruneBench.median(cb) / PruneBench.median(twin),
                "6-bit codebook (decoded once to float) vs its dense twin, DenseRuntime, 1 thread, batch 256");
    }

    private static double rowsPerSecond(DenseRuntime rt, float[] x) {
        org.nd4j.linalg.api.ndarray.INDArray in = org.nd4j.linalg.factory.Nd4j.create(x, new long[]{256, 784}, 'c');
        long t0 = System.nanoTime();
        int batches = 0;
        while (System.nanoTime() - t0 < 1_000_000_000L) {
            rt.output(in);
            batches++;
        }
        return batches * 256 / ((System.nanoTime() - t0) / 1e9);
    }

    private static byte[] deflate(byte[] raw) {
        Deflater d = new Deflater(9, true);
        d.setInput(raw);
        d.finish();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[1 << 16];
        while (!d.finished()) out.write(buf, 0, d.deflate(buf));
        d.end();
        return out.toByteArray();
    }

    private static byte[] inflate(byte[] packed, int n) {
        Inflater inf = new Inflater(true);
        inf.setInput(packed);
        byte[] out = new byte[n];
        try {
            int k = 0;
            while (k < n && !inf.finished()) k += inf.inflate(out, k, n - k);
        } catch (java.util.zip.DataFormatException e) {
            throw new IllegalStateException(e);
        } finally {
            inf.end();
        }
        return out;
    }
}
