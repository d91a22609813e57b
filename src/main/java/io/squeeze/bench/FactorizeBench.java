package io.squeeze.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.artifact.Npy;
import io.squeeze.data.Batches;
import io.squeeze.data.Example;
import io.squeeze.data.Normalizer;
import io.squeeze.eval.Inference;
import io.squeeze.lowrank.RankPolicy;
import io.squeeze.lowrank.Svd;
import io.squeeze.lowrank.SvdMethod;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelMeta;
import io.squeeze.model.SourceKind;
import io.squeeze.core.LayerSelector;
import io.squeeze.spark.FactorizeJob;
import io.squeeze.spark.Nd4jThreads;
import io.squeeze.spark.SparkEvaluator;
import io.squeeze.spark.SparkSessions;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.File;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Low-rank: (1) exact and randomized truncated SVD (p = 10, q = 2) of 1024², 2048² and 4096×1024 matrices at
 * k = 64 and 128 — time and relative Frobenius error — side by side with PyTorch 1.13's torch.linalg.svd and
 * torch.svd_lowrank on the same matrices and thread count ({@code bench/svd_torch.py}, run with /usr/bin/python3
 * when torch is installed); (2) inference rows/s of a 1024-1024-1024-10 MLP against its rank-128 and rank-256
 * factorizations, compared with the ideal speedup from the FLOP ratio — one ND4J thread (a Spark task) and all
 * cores, batches of 256 and 1024, through DL4J's {@code output()} and through Squeeze's inference path; and
 * distributed evaluation on the session's master (what {@code squeeze evaluate} runs on all cores).
 */
final class FactorizeBench implements Bench.Benchmark {
    static final int DIST_ROWS = 150_000;


    static INDArray matrix(int m, int n, long seed) {
        Nd4j.getRandom().setSeed(seed);
        INDArray x = Nd4j.randn(DataType.DOUBLE, m, 256), y = Nd4j.randn(DataType.DOUBLE, 256, n);
        return x.mmul(y).addi(Nd4j.randn(DataType.DOUBLE, m, n).muli(2.0));
    }

    @Override
    public List<Bench.Result> run(SparkSession spark, PrintStream progress) throws Exception {
        List<Bench.Result> out = new ArrayList<>();
        Nd4jThreads.all();
        int threads = Runtime.getRuntime().availableProcessors();
        File py = new File("/usr/bin/python3"), script = new File("bench/svd_torch.py");
        for (int[] mn : new int[][]{{1024, 1024}, {2048, 2048}, {4096, 1024}}) {
            INDArray a = matrix(mn[0], mn[1], mn[0] + mn[1]);
            double norm = a.norm2Number().doubleValue();
            String shape = mn[0] + "x" + mn[1];
            JsonNode torch = null;
            if (py.canExecute() && script.exists()) {
                Path npy = Files.createTempFile("squeeze-bench-", ".npy");
                Files.write(npy, Npy.float32(a.castTo(DataType.FLOAT).dup('c').data().asFloat(), a.shape()));
                Process p = new ProcessBuilder(py.getPath(), script.getPath(), npy.toString(), Integer.toString(threads), "64", "128")
                        .redirectErrorStream(false).start();
                String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                if (p.waitFor() == 0 && text.trim().startsWith("{")) torch = new ObjectMapper().readTree(text);
                else progress.println("bench: torch not available (" + new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).lines().reduce((x, y) -> y).orElse("") + ")");
                Files.deleteIfExists(npy);
            }
            INDArray af = a.castTo(DataType.FLOAT).castTo(DataType.DOUBLE); // the float32 matrix torch sees
            long t0 = System.nanoTime();
            Svd.Factors full = Svd.exact(af);
            double exactS = (System.nanoTime() - t0) / 1e9;
            for (int k : new int[]{64, 128}) {
                double ee = Svd.frobeniusError(af, full.truncate(k)) / norm;
                double best = Double.MAX_VALUE;
                Svd.Factors r = null;
                System.gc(); // a collection left from earlier work would land inside a 0.05-0.4 s measurement
                for (int rep = 0; rep < 5; rep++) {
                    long s0 = System.nanoTime();
                    r = Svd.randomized(af, k, 10, 2, rep);
                    best = Math.min(best, (System.nanoTime() - s0) / 1e9);
                }
                double re = Svd.frobeniusError(af, r) / norm;
                double te = torch == null ? Double.NaN : torch.get("exact").get(Integer.toString(k)).get("seconds").asDouble();
                double tr = torch == null ? Double.NaN : torch.get("randomized").get(Integer.toString(k)).get("seconds").asDouble();
                String terr = torch == null ? "torch n/a" : String.format(Locale.ROOT, "torch rel.err %.4f",
                        torch.get("randomized").get(Integer.toString(k)).get("rel_error").asDouble());
                out.add(new Bench.Result("svd.exact_seconds[" + shape + ",k=" + k + "]", exactS, "s", te, te / exactS,
                        String.format(Locale.ROOT, "rel.err %.4f; ratio = torch.linalg.svd time / ours", ee)));
                out.add(new Bench.Result("svd.randomized_seconds[" + shape + ",k=" + k + "]", best, "s", tr, tr / best,
                        String.format(Locale.ROOT, "rel.err %.4f (%.3fx optimal), %s; ratio = torch.svd_lowrank time / ours (goal >= 1)", re, re / ee, terr)));
                progress.printf(Locale.ROOT, "bench: svd %s k=%d exact %.2f s, randomized %.3f s (torch %.2f / %.3f s)%n", shape, k, exactS, best, te, tr);
            }
        }
        MultiLayerNetwork net = new MultiLayerNetwork(Architectures.build(new Arch.Mlp(new int[]{1024, 1024}), 1024, 10, null,
                new Architectures.Hyper(1, 1e-3, 0), null));
        net.init();
        LoadedModel m = new LoadedModel(net, new ModelMeta(1024, 10, null, Normalizer.NONE, "bench"), "", "bench", SourceKind.DL4J_ZIP, 0);
        for (int k : new int[]{128, 256}) {
            MultiLayerNetwork f = FactorizeJob.run(new io.squeeze.spark.Execution.InProcess(), m, LayerSelector.parse("0,1"), new RankPolicy.Fixed(k), new SvdMethod.Randomized(10, 2, 1)).net();
            double flopsOrig = 1024.0 * 1024 + 1024.0 * 1024 + 1024 * 10, flopsFact = (double) k * (1024 + 1024) * 2 + 1024 * 10;
            double ideal = flopsOrig / flopsFact;
            for (boolean perTask : new boolean[]{true, false}) {
                // per task: one ND4J thread, as every Spark task runs (Nd4jThreads.forTask); else all cores in one process
                if (perTask) Nd4jThreads.set(1);
                else Nd4jThreads.all();
                for (int batch : new int[]{256, 1024}) {
                    Nd4j.getRandom().setSeed(batch);
                    float[] x = Nd4j.rand(DataType.FLOAT, batch, 1024).data().asFloat();
                    for (boolean dl4j : new boolean[]{true, false}) {
                        double orig = rowsPerSecond(net, x, batch, dl4j), fact = rowsPerSecond(f, x, batch, dl4j);
                        double achieved = fact / orig;
                        out.add(new Bench.Result("factorize.inference_speedup[1024-1024-1024-10,k=" + k + ",batch=" + batch + ","
                                + (perTask ? "1 thread" : "all cores") + "," + (dl4j ? "DL4J output()" : "Squeeze inference") + "]",
                                achieved, "x", ideal, achieved / ideal, String.format(Locale.ROOT,
                                        "%.0f vs %.0f rows/s; ideal = FLOP ratio; ratio = achieved / ideal (goal >= 0.7)", fact, orig)));
                        progress.printf(Locale.ROOT, "bench: k=%d batch=%d %s %s: %.0f vs %.0f rows/s = %.2f of ideal%n", k, batch,
                                perTask ? "1 thread" : "all cores", dl4j ? "DL4J output()" : "Squeeze inference", fact, orig, achieved / ideal);
                    }
                }
            }
            Nd4jThreads.all();
            out.add(distributed(spark, m, new LoadedModel(f, m.meta(), "", "bench-rank-" + k, SourceKind.DL4J_ZIP, 0), k, ideal, progress));
        }
        return out;
    }

    /**
     * What {@code squeeze evaluate} does on all cores: {@link SparkEvaluator} over an in-memory RDD (one ND4J thread
     * per task, batch 256), the original against the factorized model, median of 5 alternating runs after a warm-up.
     */
    static Bench.Result distributed(SparkSession spark, LoadedModel orig, LoadedModel fact, int k, double ideal, PrintStream progress) {
        JavaSparkContext jsc = SparkSessions.jsc(spark);
        JavaRDD<Example> rdd = BenchRows.cached(jsc, DIST_ROWS, BenchRows.uniform(1024, 10, k));
        List<Double> o = new ArrayList<>(), f = new ArrayList<>();
        for (int rep = 0; rep < 6; rep++) {
            double ro = SparkEvaluator.evaluate(jsc, rdd, orig, null, 256, "bench").rowsPerSecond();
            double rf = SparkEvaluator.evaluate(jsc, rdd, fact, null, 256, "bench").rowsPerSecond();
            if (rep > 0) {
                o.add(ro);
                f.add(rf);
            }
        }
        rdd.unpersist(false);
        double mo = EvaluateBench.median(o), mf = EvaluateBench.median(f), achieved = mf / mo;
        progress.printf(Locale.ROOT, "bench: k=%d distributed evaluate (%s): %.0f vs %.0f rows/s = %.2f of ideal%n",
                k, spark.sparkContext().master(), mf, mo, achieved / ideal);
        return new Bench.Result("factorize.inference_speedup[1024-1024-1024-10,k=" + k + ",distributed evaluate "
                + spark.sparkContext().master() + ",batch=256]", achieved, "x", ideal, achieved / ideal, String.format(Locale.ROOT,
                "%.0f vs %.0f rows/s, median of 5, %d rows; ideal = FLOP ratio; ratio = achieved / ideal (goal >= 0.7)", mf, mo, DIST_ROWS));
    }

    /**
     * Best of 5 × 20 batches: DL4J's {@code output()} on the batch as an ND4J array, or Squeeze's inference path
     * ({@link Inference}: what {@code evaluate} and the teacher pass run — the float rows copied in, probabilities out).
     */
    static double rowsPerSecond(MultiLayerNetwork n, float[] x, int rows, boolean dl4j) {
        INDArray in = Nd4j.create(x, new long[]{rows, 1024}, 'c');
        Inference inference = new Inference(n, Normalizer.NONE, 10);
        Batches.Batch b = new Batches.Batch(rows, 1024, x, new int[rows], new long[rows]);
        Runnable once = dl4j ? () -> n.output(in, false) : () -> inference.probabilities(b);
        for (int i = 0; i < 5; i++) once.run();
        double best = 0;
        for (int rep = 0; rep < 5; rep++) {
            long t0 = System.nanoTime();
            for (int i = 0; i < 20; i++) once.run();
            best = Math.max(best, 20.0 * rows / ((System.nanoTime() - t0) / 1e9));
        }
        return best;
    }
}
