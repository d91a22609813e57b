package io.squeeze.bench;

import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.OnnxExport;
import io.squeeze.data.Normalizer;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.GraphOps;
import io.squeeze.model.Graphs;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelMeta;
import io.squeeze.model.ResNetGraph;
import io.squeeze.model.SourceKind;
import io.squeeze.prune.Amount;
import io.squeeze.prune.ChannelGroups;
import io.squeeze.prune.GroupPruning;
import io.squeeze.prune.PruneMethod;
import io.squeeze.quantize.Calibration;
import io.squeeze.quantize.Calibrator;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.quantize.QuantRunner;
import io.squeeze.quantize.QuantizedModel;
import io.squeeze.spark.Nd4jThreads;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.PrintStream;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A ResNet before and after dependency-group pruning: {@code resnet:1} and {@code resnet:2} on 28×28 inputs, and the
 * same graphs with half of every channel group removed and shrunk ({@link GroupPruning}), inference rows/s in DL4J
 * ({@code output()}, all cores) and in ONNX Runtime (the graph's float export, all cores), batches of 256 — the
 * speedup measured against the ideal one, the ratio of multiply-adds ({@link Graphs#multiplyAdds}); and each graph
 * quantized to static int8, in ONNX Runtime (its QDQ export) against the float export, and in Squeeze's integer runtime.
 */
final class GraphBench implements Bench.Benchmark {
    static final int ROWS = 2048, BATCH = 256;

    @Override
    public List<Bench.Result> run(SparkSession spark, PrintStream progress) throws Exception {
        List<Bench.Result> out = new ArrayList<>();
        Nd4jThreads.all();
        Nd4j.getRandom().setSeed(7);
        float[] x = Nd4j.rand(DataType.FLOAT, ROWS, 784).data().asFloat();
        for (int blocks : new int[]{1, 2}) {
            ComputationGraph g = new ComputationGraph(ResNetGraph.build(new Arch.ResNet(blocks), 784, 10, new int[]{28, 28, 1},
                    new Architectures.Hyper(1, 1e-3, 0)));
            g.init();
            ChannelGroups groups = ChannelGroups.of(g, "resnet:" + blocks);
            ComputationGraph half = GroupPruning.shrink(g, groups, GroupPruning.choose(g, groups, Amount.fraction(0.5), PruneMethod.Norm.L2));
            double ideal = Graphs.multiplyAdds(g, 784) / (double) Graphs.multiplyAdds(half, 784);
            String name = "resnet:" + blocks;
            double dl4jFull = dl4j(g, x), dl4jHalf = dl4j(half, x);
            double ortFull = ort(floatOnnx(g), x), ortHalf = ort(floatOnnx(half), x);
            progress.printf(Locale.ROOT, "bench: %s DL4J %.0f -> %.0f rows/s, ONNX Runtime %.0f -> %.0f rows/s; ideal %.2fx%n", name, dl4jFull, dl4jHalf,
                    ortFull, ortHalf, ideal);
            out.add(new Bench.Result("graph.pruned50_speedup[" + name + ",DL4J]", dl4jHalf / dl4jFull, "x", ideal, dl4jHalf / dl4jFull / ideal,
                    String.format(Locale.ROOT, "%.0f vs %.0f rows/s; ideal = multiply-add ratio; ratio = achieved / ideal", dl4jHalf, dl4jFull)));
            out.add(new Bench.Result("graph.pruned50_speedup[" + name + ",ONNX Runtime]", ortHalf / ortFull, "x", ideal, ortHalf / ortFull / ideal,
                    String.format(Locale.ROOT, "%.0f vs %.0f rows/s; ideal = multiply-add ratio; ratio = achieved / ideal", ortHalf, ortFull)));
            out.add(new Bench.Result("graph.onnx_vs_dl4j[" + name + "]", ortFull, "rows/s", dl4jFull, ortFull / dl4jFull, "ONNX Runtime vs DL4J output(), the unpruned graph"));
            // static int8 (calibrated on the first batch): its QDQ export in ONNX Runtime, and Squeeze's integer runtime
            QuantizedModel qm = int8(g, x);
            double ortInt8 = ort(OnnxExport.export(new Loaded(meta(g), qm)).bytes(), x), integer = integer(qm, x);
            progress.printf(Locale.ROOT, "bench: %s int8: ONNX Runtime %.0f rows/s (float %.0f), Squeeze's integer runtime %.0f rows/s%n", name, ortInt8, ortFull, integer);
            out.add(new Bench.Result("graph.int8_onnx_vs_float_onnx[" + name + "]", ortInt8, "rows/s", ortFull, ortInt8 / ortFull,
                    "ONNX Runtime on the static QDQ export vs on the float export"));
            out.add(new Bench.Result("graph.int8_integer_runtime_vs_dl4j[" + name + "]", integer, "rows/s", dl4jFull, integer / dl4jFull,
                    "Squeeze's integer runtime (one thread, plain Java) vs DL4J's float output()"));
        }
        return out;
    }

    /** Rows/s of DL4J's output() in batches, the best of 3 passes after a warm-up pass. */
    private static double dl4j(ComputationGraph g, float[] x) {
        INDArray[] batches = new INDArray[ROWS / BATCH];
        for (int b = 0; b < batches.length; b++) batches[b] = Nd4j.create(java.util.Arrays.copyOfRange(x, b * BATCH * 784, (b + 1) * BATCH * 784), new long[]{BATCH, 784}, 'c');
        double best = Double.MAX_VALUE;
        for (int rep = 0; rep < 4; rep++) {
            long t0 = System.nanoTime();
            for (INDArray b : batches) g.outputSingle(false, b);
            if (rep > 0) best = Math.min(best, (System.nanoTime() - t0) / 1e9);
        }
        return ROWS / best;
    }

    private static LoadedModel meta(ComputationGraph g) {
        return LoadedModel.ofGraph(g, new ModelMeta(784, 10, new int[]{28, 28, 1}, Normalizer.NONE, "bench"), "", "bench", SourceKind.DL4J_ZIP, 0);
    }

    private static byte[] floatOnnx(ComputationGraph g) {
        return OnnxExport.export(Loaded.plain(meta(g))).bytes();
    }

    /** {@code g} quantized to static int8 per channel, its activations calibrated (min/max) on the first batch of {@code x}. */
    private static QuantizedModel int8(ComputationGraph g, float[] x) {
        QuantConfig cfg = new QuantConfig(QuantConfig.Mode.STATIC, QuantConfig.Precision.INT8, QuantConfig.Granularity.CHANNEL, null, false,
                QuantConfig.observer("minmax"), List.of(), QuantConfig.Rounding.NEAREST);
        QuantizedModel qm = QuantizedModel.quantizeWeights(GraphOps.of(g, "bench"), cfg);
        Calibration c = new Calibration(cfg.observer().firstPass());
        new QuantRunner(qm).run(java.util.Arrays.copyOf(x, BATCH * 784), BATCH, 784, QuantRunner.Path.FLOAT, c::update);
        return qm.withActivations(Calibrator.qparams(Calibrator.ranges(cfg.observer(), c, null, false)));
    }

    /** Rows/s of the integer path on one batch, the best of 2 passes after a warm-up pass. */
    private static double integer(QuantizedModel qm, float[] x) {
        QuantRunner r = new QuantRunner(qm);
        float[] batch = java.util.Arrays.copyOf(x, BATCH * 784);
        double best = Double.MAX_VALUE;
        for (int rep = 0; rep < 3; rep++) {
            long t0 = System.nanoTime();
            r.run(batch, BATCH, 784, QuantRunner.Path.INTEGER, null);
            if (rep > 0) best = Math.min(best, (System.nanoTime() - t0) / 1e9);
        }
        return BATCH / best;
    }

    /** Rows/s of ONNX Runtime on an exported model, as above. */
    private static double ort(byte[] model, float[] x) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions(); OrtSession s = env.createSession(model, o)) {
            double best = Double.MAX_VALUE;
            for (int rep = 0; rep < 4; rep++) {
                long t0 = System.nanoTime();
                for (int b = 0; b < ROWS / BATCH; b++) {
                    try (OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(x, b * BATCH * 784, BATCH * 784), new long[]{BATCH, 784});
                         OrtSession.Result r = s.run(Map.of("input", in))) {
                        r.get(0);
                    }
                }
                if (rep > 0) best = Math.min(best, (System.nanoTime() - t0) / 1e9);
            }
            return ROWS / best;
        }
    }
}
