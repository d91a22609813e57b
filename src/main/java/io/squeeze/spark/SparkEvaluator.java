package io.squeeze.spark;

import io.squeeze.artifact.Loaded;
import io.squeeze.data.Example;
import io.squeeze.data.Normalizer;
import io.squeeze.eval.EvalStats;
import io.squeeze.eval.Evaluator;
import io.squeeze.eval.Inference;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.NetPayload;
import io.squeeze.quantize.QuantRunner;
import io.squeeze.quantize.QuantizedModel;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;

import java.util.List;

/**
 * Distributed evaluation: the model (and baseline) are broadcast once, rebuilt once per executor thread, and each
 * partition streams its rows through {@link Evaluator} in fixed-size batches (a quantized model through its
 * integer-arithmetic runtime, built once per partition); the per-partition
 * {@link EvalStats} are combined with {@code treeReduce}.
 */
public final class SparkEvaluator {
    private SparkEvaluator() {}

    /** Metrics and the wall-clock time of the whole distributed pass. */
    public record Result(EvalStats stats, double wallSeconds) {
        public double rowsPerSecond() {
            return stats.rows() / Math.max(wallSeconds, 1e-9);
        }
    }

    /** A model as it travels to executors: a DL4J network, or a quantized model with the path to run. */
    private record Engine(Broadcast<NetPayload> net, Broadcast<QuantizedModel> quant, QuantRunner.Path path, Normalizer norm, int k)
            implements java.io.Serializable {
        static Engine of(JavaSparkContext jsc, Loaded l, QuantRunner.Path path) {
            LoadedModel m = l.model();
            if (l.quant() != null) return new Engine(null, jsc.broadcast(l.quant()), path, m.meta().normalizer(), m.meta().numClasses());
            return new Engine(jsc.broadcast(NetPayload.of(m.net())), null, null, m.meta().normalizer(), m.meta().numClasses());
        }

        Inference inference() {
            return quant != null ? Inference.quantized(quant.value(), path, norm, k) : new Inference(net.value().network(), norm, k);
        }

        void destroy() {
            if (net != null) net.destroy();
            if (quant != null) quant.destroy();
        }
    }

    /** Evaluates {@code model} (a quantized model on its integer path) against an optional baseline. */
    public static Result evaluate(JavaSparkContext jsc, JavaRDD<Example> data, Loaded model, Loaded baseline,
                                  int batchSize, String where) {
        return run(jsc, data, Engine.of(jsc, model, QuantRunner.Path.INTEGER),
                baseline == null ? null : Engine.of(jsc, baseline, QuantRunner.Path.INTEGER), model.model(), batchSize, where);
    }

    /** Evaluates a float model against an optional float baseline. */
    public static Result evaluate(JavaSparkContext jsc, JavaRDD<Example> data, LoadedModel model, LoadedModel baseline,
                                  int batchSize, String where) {
        return evaluate(jsc, data, Loaded.plain(model), Loaded.plain(baseline), batchSize, where);
    }

    /** A quantized model's integer path, with its fake-quant path in the baseline's place (accuracy and agreement). */
    public static Result integerVsFakeQuant(JavaSparkContext jsc, JavaRDD<Example> data, Loaded model, int batchSize, String where) {
        if (model.quant() == null) throw new IllegalArgumentException(model.model().source() + " is not quantized");
        return run(jsc, data, Engine.of(jsc, model, QuantRunner.Path.INTEGER), Engine.of(jsc, model, QuantRunner.Path.FAKE_QUANT),
                model.model(), batchSize, where);
    }

    private static Result run(JavaSparkContext jsc, JavaRDD<Example> data, Engine m, Engine b, LoadedModel model, int batchSize, String where) {
        int nf = model.meta().numFeatures();
        jsc.setJobDescription("squeeze evaluate " + model.source() + " on " + where);
        long t0 = System.nanoTime();
        try {
            EvalStats s = data.mapPartitions(it -> {
                Nd4jThreads.forTask();
                return List.of(Evaluator.run(it, m.inference(), b == null ? null : b.inference(), batchSize, nf, where)).iterator();
            }).treeReduce(EvalStats::merge);
            return new Result(s, (System.nanoTime() - t0) / 1e9);
        } finally {
            jsc.clearJobGroup();
            if (jsc.isLocal()) Nd4jThreads.all();
            m.destroy();
            if (b != null) b.destroy();
        }
    }
}
