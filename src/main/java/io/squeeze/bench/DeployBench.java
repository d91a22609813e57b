package io.squeeze.bench;

import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.OnnxExport;
import io.squeeze.data.Batches;
import io.squeeze.data.Example;
import io.squeeze.data.Normalizer;
import io.squeeze.distill.Teacher;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.core.LayerSelector;
import io.squeeze.lowrank.RankPolicy;
import io.squeeze.lowrank.SvdMethod;
import io.squeeze.model.DenseRuntime;
import io.squeeze.model.NetPayload;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.spark.Execution;
import io.squeeze.spark.FactorizeJob;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelMeta;
import io.squeeze.model.NetOps;
import io.squeeze.model.SourceKind;
import io.squeeze.quantize.Observer;
import io.squeeze.quantize.QuantRunner;
import io.squeeze.quantize.QuantizedModel;
import io.squeeze.spark.Nd4jThreads;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Deployment speed: inference rows/s on one thread (ND4J/OpenBLAS and ONNX Runtime limited to one), batch 256, of
 * one network in each form Squeeze produces — fp32 in Squeeze's {@link DenseRuntime} and in ONNX Runtime (the
 * {@code export --format onnx} graph), static int8 in ONNX Runtime (the QDQ graph) and in Squeeze's pure-Java
 * integer path, dynamic int8 in ONNX Runtime, 90 % unstructured-sparse (the smallest weights of each layer zeroed)
 * in {@link DenseRuntime} with and without its sparse kernel and in ONNX Runtime, factorized at rank 128 and shrunk to
 * half the neurons (MLPs) — and PyTorch 1.13's float and dynamically quantized int8 inference of the same shapes
 * ({@code bench/deploy_torch.py}, when /usr/bin/python3 has torch). For LeNet-300-100 (784-300-100-10), a
 * 1024-1024-1024-10 MLP and LeNet-5 (whose fp32 Squeeze path is DL4J's {@code output()}: DenseRuntime takes dense
 * layers only); random weights (speed does not depend on their values), best of 3 timed passes after a warm-up.
 * {@link DeployScaling} adds the same forms distributed over the session's task slots and the sparse kernel's
 * crossover against SGEMM. Goals (issue 18): int8 ≥ 3× the fp32 DenseRuntime; the best Squeeze fp32 ≥ 0.8× ONNX
 * Runtime fp32 and ≥ 1.0× PyTorch float; compressed forms ≥ 0.7 of their ideal speedup.
 */
final class DeployBench implements Bench.Benchmark {
    static final int BATCH = 256, CLASSES = 10, RANK = 128;
    static final QuantConfig DYNAMIC8 = new QuantConfig(QuantConfig.Mode.DYNAMIC, QuantConfig.Precision.INT8, QuantConfig.Granularity.CHANNEL,
            QuantConfig.Scheme.SYMMETRIC, false, new Observer.MinMax(), List.of());

    @Override
    public List<Bench.Result> run(SparkSession spark, PrintStream progress) throws Exception {
        List<Bench.Result> out = new ArrayList<>();
        out.addAll(model(spark, "mlp-300-100", new Arch.Mlp(new int[]{300, 100}), 784, 20_000, progress));
        out.addAll(model(spark, "mlp-1024x3", new Arch.Mlp(new int[]{1024, 1024}), 1024, 5_000, progress));
        out.addAll(model(spark, "lenet5", new Arch.LeNet5(), 784, 3_000, progress));
        out.addAll(DeployScaling.sparseLayers(progress));
        return out;
    }

    /** Rows → outputs, one batch at a time. */
    interface Runner {
        float[] run(float[] x, int rows);
    }

    private List<Bench.Result> model(SparkSession spark, String name, Arch arch, int features, int n, PrintStream progress) throws Exception {
        boolean conv = arch instanceof Arch.LeNet5;
        MultiLayerNetwork net = new MultiLayerNetwork(Architectures.build(arch, features, CLASSES, conv ? new int[]{28, 28, 1} : null,
                new Architectures.Hyper(1, 1e-3, 0), null));
        net.init();
        List<Example> data = BenchRows.list(n, BenchRows.mnistLike(features, CLASSES, 3));
        List<float[]> batches = new ArrayList<>();
        for (Iterator<Batches.Batch> it = Batches.of(data.iterator(), BATCH, features, "bench"); it.hasNext(); ) batches.add(it.next().features().clone());
        ModelMeta meta = new ModelMeta(features, CLASSES, conv ? new int[]{28, 28, 1} : null, Normalizer.NONE, "bench");
        LoadedModel lm = new LoadedModel(net, meta, "", "bench-" + name, SourceKind.DL4J_ZIP, 0);

        QuantizedModel qm = QuantizedModel.quantizeWeights(NetOps.of(net), QuantizeBench.STATIC8, Map.of());
        var cal = new io.squeeze.quantize.Calibration(io.squeeze.quantize.Calibration.Pass.minMax(false));
        QuantRunner calibrating = new QuantRunner(qm);
        for (float[] b : batches.subList(0, 4)) calibrating.run(b, b.length / features, features, QuantRunner.Path.FLOAT, cal::update);
        qm = qm.withActivations(io.squeeze.quantize.Calibrator.qparams(io.squeeze.quantize.Calibrator.ranges(new Observer.MinMax(), cal, null, false)));
        QuantRunner integer = new QuantRunner(qm);

        MultiLayerNetwork sparse = net.clone();
        for (int i = 0; i < sparse.getnLayers(); i++) if (sparse.getLayer(i).getParam("W") != null) zeroSmallest(sparse.getLayer(i).getParam("W"), 0.9);
        LoadedModel sparseModel = new LoadedModel(sparse, meta, "", "bench-" + name + "-sparse", SourceKind.DL4J_ZIP, 0);

        QuantizedModel dyn = QuantizedModel.quantizeWeights(NetOps.of(net), DYNAMIC8, Map.of());
        MultiLayerNetwork factorized = conv ? null : FactorizeJob.run(new Execution.InProcess(), lm, LayerSelector.parse(wideLayers(net)),
                new RankPolicy.Fixed(RANK), new SvdMethod.Exact()).net();
        MultiLayerNetwork shrunk = conv ? null : half(arch, features);
        Nd4jThreads.set(1);
        try {
            Runner fp32 = squeezeFp32(net, features, true), fp32Sparse = squeezeFp32(sparse, features, true);
            byte[] fp32Onnx = OnnxExport.export(Loaded.plain(lm)).bytes(), int8Onnx = OnnxExport.export(new Loaded(lm, qm)).bytes();
            Teacher.Runner onnx = ort(fp32Onnx, features);
            Teacher.Runner onnxInt8 = ort(int8Onnx, features);
            Teacher.Runner onnxDyn = ort(OnnxExport.export(new Loaded(lm, dyn)).bytes(), features);
            Teacher.Runner onnxSparse = ort(OnnxExport.export(Loaded.plain(sparseModel)).bytes(), features);
            String fp = conv ? "dl4j" : "dense";
            List<String> forms = new ArrayList<>(List.of("fp32_" + fp, "fp32_onnx", "int8_onnx", "int8dyn_onnx", "int8_java", "sparse90_" + fp, "sparse90_onnx"));
            List<Runner> runners = new ArrayList<>(List.of(fp32, onnx::logits, onnxInt8::logits, onnxDyn::logits,
                    (x, r) -> integer.run(x, r, features, QuantRunner.Path.INTEGER, null), fp32Sparse, onnxSparse::logits));
            if (!conv) {
                forms.addAll(List.of("sparse90_sgemm", "factorized" + RANK + "_dense", "shrunk50_dense"));
                runners.addAll(List.of(squeezeFp32(sparse, features, false), squeezeFp32(factorized, features, true), squeezeFp32(shrunk, features, true)));
            }
            double[] rate = new double[forms.size()];
            for (int f = 0; f < rate.length; f++) rate[f] = rowsPerSecond(runners.get(f), batches, features, n);
            double[] torch = torch(n, features, conv ? null : ((Arch.Mlp) arch).hidden());
            progress.printf(java.util.Locale.ROOT, "bench: deploy %s rows/s (1 thread): %s; PyTorch float %.0f, dynamic int8 %.0f (NaN: not run)%n", name,
                    java.util.stream.IntStream.range(0, rate.length).mapToObj(i -> String.format(java.util.Locale.ROOT, "%s %.0f", forms.get(i), rate[i]))
                            .reduce((a, b) -> a + ", " + b).orElse(""), torch[0], torch[1]);
            String tag = "[" + name + ",1 thread,batch " + BATCH + "]";
            double bestFp32 = Math.max(rate[0], rate[1]);
            List<Bench.Result> r = new ArrayList<>(List.of(
                    result("deploy.fp32_" + fp + "_rows_per_s" + tag, rate[0], rate[1], "Squeeze's fp32 (" + fp + ") vs ONNX Runtime fp32 of the exported graph; goal >= 0.8x"),
                    result("deploy.int8_onnx_rows_per_s" + tag, rate[2], rate[0], "static int8 QDQ export in ONNX Runtime vs Squeeze's fp32 " + fp + "; goal >= 3x"),
                    result("deploy.int8dyn_onnx_rows_per_s" + tag, rate[3], rate[0], "dynamic int8 export (MatMulInteger) in ONNX Runtime vs Squeeze's fp32 " + fp),
                    result("deploy.int8_java_rows_per_s" + tag, rate[4], rate[0], "Squeeze's pure-Java integer path vs its fp32 " + fp),
                    result("deploy.sparse90_" + fp + "_rows_per_s" + tag, rate[5], rate[0], "90 % zeros in " + fp + (conv
                            ? " vs dense (convolutions have no sparse kernel)" : " (SparseDense kernel) vs dense; ideal 10x")),
                    result("deploy.sparse90_onnx_rows_per_s" + tag, rate[6], rate[1], "90 % zeros in ONNX Runtime (sparse constants densified at load) vs dense")));
            if (!conv) {
                double[] macs = {macs(net), macs(factorized), macs(shrunk)};
                r.add(result("deploy.sparse90_dense_vs_onnx_rows_per_s" + tag, rate[5], rate[1], "90 % zeros: SparseDense vs ONNX Runtime's fp32 (what predict --runtime auto chooses between)"));
                r.add(result("deploy.sparse90_sgemm_rows_per_s" + tag, rate[7], rate[0], "90 % zeros through SGEMM (no sparse kernel) vs dense"));
                r.add(result("deploy.factorized" + RANK + "_dense_rows_per_s" + tag, rate[8], rate[0], String.format(java.util.Locale.ROOT,
                        "rank-%d factorization of the layers wider than 256 vs dense; ideal %.2fx (multiply-adds)", RANK, macs[0] / macs[1])));
                r.add(result("deploy.shrunk50_dense_rows_per_s" + tag, rate[9], rate[0], String.format(java.util.Locale.ROOT,
                        "half of each hidden layer's neurons (what --shrink leaves after 50 %% structured pruning) vs dense; ideal %.2fx", macs[0] / macs[2])));
            }
            if (!Double.isNaN(torch[0])) {
                r.add(result("deploy.best_fp32_vs_torch_rows_per_s" + tag, bestFp32, torch[0], "Squeeze's faster fp32 runtime vs PyTorch 1.13 float; goal >= 1.0x"));
                r.add(result("deploy.int8_onnx_vs_torch_dynamic_rows_per_s" + tag, Math.max(rate[2], rate[3]), torch[1],
                        "Squeeze's faster int8 export in ONNX Runtime vs PyTorch 1.13 quantize_dynamic"));
            }
            r.addAll(DeployScaling.run(spark, name, features, batches, n, NetPayload.of(net), NetPayload.of(sparse),
                    fp32Onnx, int8Onnx, rate[0], rate[5], rate[1], rate[2], progress));
            return r;
        } finally {
            Nd4jThreads.all();
        }
    }

    /** The indices of dense layers with both widths above 256, comma-separated (the ones a rank-128 factorization shrinks). */
    private static String wideLayers(MultiLayerNetwork net) {
        List<String> wide = new ArrayList<>();
        for (int i = 0; i < net.getnLayers(); i++) {
            INDArray w = net.getLayer(i).getParam("W");
            if (w != null && w.rows() > 2 * RANK && w.columns() > 2 * RANK) wide.add(Integer.toString(i));
        }
        return String.join(",", wide);
    }

    /** The MLP with half the neurons in each hidden layer. */
    private static MultiLayerNetwork half(Arch arch, int features) {
        int[] h = ((Arch.Mlp) arch).hidden().clone();
        for (int i = 0; i < h.length; i++) h[i] /= 2;
        MultiLayerNetwork s = new MultiLayerNetwork(Architectures.build(new Arch.Mlp(h), features, CLASSES, null, new Architectures.Hyper(1, 1e-3, 0), null));
        s.init();
        return s;
    }

    /** Multiply-adds per row of a network's dense layers. */
    private static double macs(MultiLayerNetwork net) {
        double m = 0;
        for (int i = 0; i < net.getnLayers(); i++) if (net.getLayer(i).getParam("W") != null) m += net.getLayer(i).getParam("W").length();
        return m;
    }

    /** Squeeze's own fp32 path: {@link DenseRuntime} where it runs the network, else DL4J's {@code output()}. */
    static Runner squeezeFp32(MultiLayerNetwork net, int features, boolean sparseKernel) {
        var dense = DenseRuntime.of(net, sparseKernel);
        if (dense.isPresent()) return (x, r) -> dense.get().output(x, r, features);
        return (x, r) -> net.output(org.nd4j.linalg.factory.Nd4j.create(x, new long[]{r, features}, 'c'), false).dup('c').data().asFloat();
    }

    static Bench.Result result(String name, double value, double baseline, String note) {
        return new Bench.Result(name, value, "rows/s", baseline, value / baseline, note);
    }

    /** An ONNX Runtime session of its own (one intra-op thread), kept open for the benchmark's life. */
    static Teacher.Runner ort(byte[] model, int features) throws ai.onnxruntime.OrtException {
        ai.onnxruntime.OrtEnvironment env = ai.onnxruntime.OrtEnvironment.getEnvironment();
        ai.onnxruntime.OrtSession.SessionOptions o = new ai.onnxruntime.OrtSession.SessionOptions();
        o.setIntraOpNumThreads(1);
        o.setInterOpNumThreads(1);
        ai.onnxruntime.OrtSession s = env.createSession(model, o);
        return (x, rows) -> {
            try (var in = ai.onnxruntime.OnnxTensor.createTensor(env, java.nio.FloatBuffer.wrap(x), new long[]{rows, features});
                 var r = s.run(Map.of("input", in), java.util.Set.of("output"))) {
                java.nio.FloatBuffer fb = ((ai.onnxruntime.OnnxTensor) r.get(0)).getFloatBuffer();
                float[] y = new float[fb.remaining()];
                fb.get(y);
                return y;
            } catch (ai.onnxruntime.OrtException e) {
                throw new IllegalStateException(e);
            }
        };
    }

    /** Best of 3 timed passes over every batch after one warm-up pass. */
    static double rowsPerSecond(Runner r, List<float[]> batches, int features, int n) {
        double best = Double.MAX_VALUE;
        for (int rep = 0; rep < 4; rep++) {
            long t0 = System.nanoTime();
            for (float[] b : batches) {
                float[] y = r.run(b, b.length / features);
                if (y.length != b.length / features * CLASSES) throw new IllegalStateException("got " + y.length + " outputs");
            }
            if (rep > 0) best = Math.min(best, (System.nanoTime() - t0) / 1e9);
        }
        return n / best;
    }

    /** Zeroes the {@code fraction} smallest-magnitude entries of {@code w} in place. */
    static void zeroSmallest(INDArray w, double fraction) {
        float[] v = w.dup('c').data().asFloat(), a = new float[v.length];
        for (int i = 0; i < v.length; i++) a[i] = Math.abs(v[i]);
        Arrays.sort(a);
        float t = a[(int) Math.min(a.length - 1, Math.round(fraction * a.length))];
        for (int i = 0; i < v.length; i++) if (Math.abs(v[i]) < t) v[i] = 0f;
        w.assign(org.nd4j.linalg.factory.Nd4j.create(v, w.shape(), 'c'));
    }

    /** PyTorch's float and dynamic-int8 rows/s, or NaN when /usr/bin/python3 has no torch. */
    private static double[] torch(int n, int features, int[] hidden) throws Exception { // hidden null: LeNet-5
        List<String> args = new ArrayList<>(List.of(Integer.toString(n), hidden == null ? "lenet5" : Integer.toString(features)));
        if (hidden != null) {
            for (int h : hidden) args.add(Integer.toString(h));
            args.add(Integer.toString(CLASSES));
        }
        // one thread for PyTorch's BLAS too (OpenBLAS would otherwise start a thread per core)
        var j = Bench.python("deploy_torch.py", Map.of("OMP_NUM_THREADS", "1", "OPENBLAS_NUM_THREADS", "1", "MKL_NUM_THREADS", "1"), args);
        if (j == null) return new double[]{Double.NaN, Double.NaN};
        return new double[]{j.get("float_rows_per_s").asDouble(), j.get("dynamic_int8_rows_per_s").asDouble()};
    }
}
