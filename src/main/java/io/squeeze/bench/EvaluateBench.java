package io.squeeze.bench;

import io.squeeze.data.Example;
import io.squeeze.data.Normalizer;
import io.squeeze.eval.EvalStats;
import io.squeeze.eval.Evaluator;
import io.squeeze.eval.Inference;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelMeta;
import io.squeeze.model.SourceKind;
import io.squeeze.spark.SparkEvaluator;
import io.squeeze.spark.SparkSessions;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Distributed evaluation (rows/s on the session's master, e.g. local[2]) against the same evaluation kernel run
 * in-process ({@link Inference}: DL4J's layers through {@code DenseRuntime}) on the same rows and cores. Both
 * sides evaluate a LeNet-300-100 MLP on 150,000 MNIST-shaped rows held in memory (the RDD made on the executors,
 * cached and materialised first), batch 256; each side is warmed up once, then run seven times, alternating; the
 * medians are compared (the best runs are printed too).
 */
final class EvaluateBench implements Bench.Benchmark {
    static final int ROWS = 150_000, FEATURES = 784, CLASSES = 10, BATCH = 256;


    @Override
    public List<Bench.Result> run(SparkSession spark, PrintStream progress) {
        BenchRows.Maker maker = BenchRows.mnistLike(FEATURES, CLASSES, 1);
        List<Example> rows = BenchRows.list(ROWS, maker);
        MultiLayerNetwork net = new MultiLayerNetwork(Architectures.build(new Arch.Mlp(new int[]{300, 100}), FEATURES, CLASSES, null,
                new Architectures.Hyper(1, 1e-3, 0), null));
        net.init();
        ModelMeta meta = new ModelMeta(FEATURES, CLASSES, null, Normalizer.NONE, "bench");
        LoadedModel model = new LoadedModel(net, meta, "", "bench-mlp-300-100", SourceKind.DL4J_ZIP, 0);
        JavaSparkContext jsc = SparkSessions.jsc(spark);
        JavaRDD<Example> rdd = BenchRows.cached(jsc, ROWS, maker);

        List<Double> dist = new ArrayList<>(), local = new ArrayList<>();
        long distRows = 0, localRows = 0;
        for (int rep = 0; rep < 8; rep++) {
            SparkEvaluator.Result d = SparkEvaluator.evaluate(jsc, rdd, model, null, BATCH, "bench");
            io.squeeze.spark.Nd4jThreads.all();
            long t0 = System.nanoTime();
            EvalStats s = Evaluator.run(rows.iterator(), new Inference(net, Normalizer.NONE, CLASSES), null, BATCH, FEATURES, "bench");
            double localRate = s.rows() / ((System.nanoTime() - t0) / 1e9);
            if (rep > 0) {
                dist.add(d.rowsPerSecond());
                local.add(localRate);
            }
            distRows = d.stats().rows();
            localRows = s.rows();
            progress.printf("bench: evaluate run %d%s: distributed %.0f rows/s, in-process %.0f rows/s%n", rep,
                    rep == 0 ? " (warm-up)" : "", d.rowsPerSecond(), localRate);
        }
        rdd.unpersist(false);
        if (distRows != ROWS || localRows != ROWS) throw new IllegalStateException("row counts differ: " + distRows + " vs " + localRows);
        String master = spark.sparkContext().master();
        double md = median(dist), ml = median(local);
        double bd = java.util.Collections.max(dist), bl = java.util.Collections.max(local);
        return List.of(new Bench.Result("evaluate.rows_per_s[" + master + "]", md, "rows/s", ml, md / ml,
                        "median of 7; baseline: the same inference in-process on the same cores, " + ROWS + " rows, batch " + BATCH + "; goal >= 0.9x"),
                new Bench.Result("evaluate.best_rows_per_s[" + master + "]", bd, "rows/s", bl, bd / bl, "best of 7"));
    }

    static double median(List<Double> v) {
        List<Double> s = new ArrayList<>(v);
        java.util.Collections.sort(s);
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }
}
