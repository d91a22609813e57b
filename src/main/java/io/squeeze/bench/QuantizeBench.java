package io.squeeze.bench;

import io.squeeze.quantize.Observer;
import io.squeeze.data.Batches;
import io.squeeze.data.Example;
import io.squeeze.data.Normalizer;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelMeta;
import io.squeeze.model.NetOps;
import io.squeeze.model.SourceKind;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.quantize.QuantRunner;
import io.squeeze.quantize.QuantizedModel;
import io.squeeze.quantize.QuantizedTensor;
import io.squeeze.spark.QuantizeJob;
import io.squeeze.spark.SparkEvaluator;
import io.squeeze.spark.SparkSessions;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.factory.Nd4j;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Quantization figures, each side by side with its baseline in one run:
 * <ol>
 * <li>a distributed min/max calibration pass (float network observing every activation) vs a plain distributed
 * inference pass ({@code evaluate}) over the same 150,000 cached MNIST-shaped rows on the same cores, LeNet-300-100,
 * batch 256, medians of 5 alternating runs (goal ≥ 0.7×);</li>
 * <li>the per-channel int8 weight-quantization kernel on 10 M weights vs PyTorch 1.13's PerChannelMinMaxObserver +
 * quantize_per_channel on the same shape and thread count ({@code bench/quant_torch.py}, when /usr/bin/python3 has
 * torch);</li>
 * <li>single-process inference rows/s of the integer path (int8 × int8 → int32) and of the fake-quant path vs DL4J's
 * float {@code output()}, for LeNet-300-100 and LeNet-5.</li>
 * </ol>
 */
final class QuantizeBench implements Bench.Benchmark {
    static final int ROWS = 150_000, FEATURES = 784, CLASSES = 10, BATCH = 256;


    static List<Example> rows(int n, long seed) {
        return BenchRows.list(n, BenchRows.mnistLike(FEATURES, CLASSES, seed));
    }

    static MultiLayerNetwork net(Arch arch) {
        MultiLayerNetwork net = new MultiLayerNetwork(Architectures.build(arch, FEATURES, CLASSES, arch instanceof Arch.LeNet5 ? new int[]{28, 28, 1} : null,
                new Architectures.Hyper(1, 1e-3, 0), null));
        net.init();
        return net;
    }

    static final QuantConfig STATIC8 = new QuantConfig(QuantConfig.Mode.STATIC, QuantConfig.Precision.INT8, QuantConfig.Granularity.CHANNEL,
            QuantConfig.Scheme.SYMMETRIC, false, new Observer.MinMax(), List.of());

    @Override
    public List<Bench.Result> run(SparkSession spark, PrintStream progress) throws Exception {
        List<Bench.Result> out = new ArrayList<>(calibration(spark, progress));
        out.add(kernel(progress));
        out.addAll(inference(new Arch.Mlp(new int[]{300, 100}), 20_000, progress));
        out.addAll(inference(new Arch.LeNet5(), 3_000, progress));
        return out;
    }

    private List<Bench.Result> calibration(SparkSession spark, PrintStream progress) {
        MultiLayerNetwork net = net(new Arch.Mlp(new int[]{300, 100}));
        ModelMeta meta = new ModelMeta(FEATURES, CLASSES, null, Normalizer.NONE, "bench");
        LoadedModel model = new LoadedModel(net, meta, "", "bench-mlp-300-100", SourceKind.DL4J_ZIP, 0);
        QuantizedModel qm = QuantizedModel.quantizeWeights(NetOps.of(net), STATIC8, Map.of());
        JavaSparkContext jsc = SparkSessions.jsc(spark);
        JavaRDD<Example> rdd = BenchRows.cached(jsc, ROWS, BenchRows.mnistLike(FEATURES, CLASSES, 1));
        List<Double> cal = new ArrayList<>(), inf = new ArrayList<>();
        PrintWriter quiet = new PrintWriter(java.io.Writer.nullWriter());
        for (int rep = 0; rep < 6; rep++) {
            SparkEvaluator.Result e = SparkEvaluator.evaluate(jsc, rdd, model, null, BATCH, "bench");
            QuantizeJob.Calibrated c = QuantizeJob.calibrate(new io.squeeze.spark.Execution.OnSpark(jsc), rdd, qm, Normalizer.NONE, FEATURES, BATCH, STATIC8, "bench", quiet);
            if (c.rows() != ROWS || e.stats().rows() != ROWS) throw new IllegalStateException("row counts differ");
            double cr = ROWS / c.seconds(), ir = e.rowsPerSecond();
            if (rep > 0) {
                cal.add(cr);
                inf.add(ir);
            }
            progress.printf("bench: quantize calibration run %d%s: calibration %.0f rows/s, inference %.0f rows/s%n", rep,
                    rep == 0 ? " (warm-up)" : "", cr, ir);
        }
        rdd.unpersist(false);
        double mc = EvaluateBench.median(cal), mi = EvaluateBench.median(inf);
        return List.of(new Bench.Result("quantize.calibration_rows_per_s[" + spark.sparkContext().master() + "]", mc, "rows/s", mi, mc / mi,
                "min/max pass observing 4 activation tensors vs distributed inference (evaluate), " + ROWS + " rows, median of 5; goal >= 0.7x"));
    }

    private Bench.Result kernel(PrintStream progress) throws Exception {
        int rows = 10_000, cols = 1_000;
        Random r = new Random(2);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        double best = Double.MAX_VALUE;
        for (int rep = 0; rep < 5; rep++) {
            long t0 = System.nanoTime();
            QuantizedTensor q = QuantizedTensor.quantize(w, new long[]{rows, cols}, QuantizedTensor.Format.INT8, true, 1);
            best = Math.min(best, (System.nanoTime() - t0) / 1e9);
            if (q.values().length != w.length) throw new IllegalStateException();
        }
        var json = Bench.python("quant_torch.py", Map.of(), List.of(Integer.toString(rows), Integer.toString(cols), "1"));
        double torch = json == null ? Double.NaN : json.get("seconds").asDouble();
        progress.printf("bench: quantize kernel 10M weights: %.3f s (PyTorch %.3f s)%n", best, torch);
        double rate = w.length / best;
        return new Bench.Result("quantize.kernel_weights_per_s[10M,int8,per-channel,1 thread]", rate, "weights/s",
                Double.isNaN(torch) ? Double.NaN : w.length / torch, Double.isNaN(torch) ? Double.NaN : rate / (w.length / torch),
                "best of 5; baseline: PyTorch 1.13 PerChannelMinMaxObserver + quantize_per_channel, 1 thread" + (Double.isNaN(torch) ? " (not installed)" : ""));
    }

    private List<Bench.Result> inference(Arch arch, int n, PrintStream progress) {
        List<Example> data = rows(n, 3);
        MultiLayerNetwork net = net(arch);
        QuantizedModel qm = QuantizedModel.quantizeWeights(NetOps.of(net), STATIC8, Map.of());
        QuantRunner runner = new QuantRunner(qm);
        var cal = new io.squeeze.quantize.Calibration(io.squeeze.quantize.Calibration.Pass.minMax(false));
        for (Iterator<Batches.Batch> it = Batches.of(data.subList(0, 1000).iterator(), BATCH, FEATURES, "bench"); it.hasNext(); ) {
            Batches.Batch b = it.next();
            runner.run(b.features(), b.rows(), FEATURES, QuantRunner.Path.FLOAT, cal::update);
        }
        runner = new QuantRunner(qm.withActivations(io.squeeze.quantize.Calibrator.qparams(
                io.squeeze.quantize.Calibrator.ranges(new Observer.MinMax(), cal, null, false))));
        io.squeeze.spark.Nd4jThreads.all();
        double[] best = {Double.MAX_VALUE, Double.MAX_VALUE, Double.MAX_VALUE};
        for (int rep = 0; rep < 4; rep++) {
            for (int path = 0; path < 3; path++) {
                long t0 = System.nanoTime();
                for (Iterator<Batches.Batch> it = Batches.of(data.iterator(), BATCH, FEATURES, "bench"); it.hasNext(); ) {
                    Batches.Batch b = it.next();
                    if (path == 0) net.output(Nd4j.create(b.features(), new long[]{b.rows(), FEATURES}, 'c'), false);
                    else runner.run(b.features(), b.rows(), FEATURES, path == 1 ? QuantRunner.Path.INTEGER : QuantRunner.Path.FAKE_QUANT, null);
                }
                if (rep > 0) best[path] = Math.min(best[path], (System.nanoTime() - t0) / 1e9);
            }
        }
        String name = arch instanceof Arch.LeNet5 ? "lenet5" : "mlp-300-100";
        progress.printf("bench: quantize inference %s: float %.0f, integer %.0f, fake-quant %.0f rows/s%n", name, n / best[0], n / best[1], n / best[2]);
        return List.of(new Bench.Result("quantize.integer_rows_per_s[" + name + "]", n / best[1], "rows/s", n / best[0], best[0] / best[1],
                        "pure-Java int8 x int8 -> int32 kernels vs DL4J float output() (OpenBLAS), in-process, all cores, best of 3, " + n + " rows"),
                new Bench.Result("quantize.fake_quant_rows_per_s[" + name + "]", n / best[2], "rows/s", n / best[0], best[0] / best[2],
                        "fake-quant path (ND4J float GEMM) vs DL4J output()"));
    }
}
