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


/**
 * Evaluation as a pass over the data ({@link Execution#fold}): the model (and baseline) are shared once (broadcast on
 * Spark), rebuilt once per executor thread, and each partition streams its rows through {@link Evaluator} in
 * fixed-size batches (a quantized model through its integer-arithmetic runtime, built once per partition); the
 * per-partition {@link EvalStats} merge ({@code treeReduce} on Spark).
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
    private record Engine(Execution.Shared<NetPayload> net, Execution.Shared<QuantizedModel> quant, QuantRunner.Path path, Normalizer norm, int k)
            implements java.io.Serializable {
        static Engine of(Execution exec, Loaded l, QuantRunner.Path path) {
            LoadedModel m = l.model();
            if (l.quant() != null) return new Engine(null, exec.share(l.quant()), path, m.meta().normalizer(), m.meta().numClasses());
            return new Engine(exec.share(NetPayload.of(m)), null, null, m.meta().normalizer(), m.meta().numClasses());
        }

        Inference inference() {
            return quant != null ? Inference.quantized(quant.value(), path, norm, k) : Inference.of(net.value(), norm, k);
        }

        void destroy() {
            if (net != null) net.close();
            if (quant != null) quant.close();
        }
    }

    /** Evaluates {@code model} (a quantized model on its integer path) against an optional baseline, on executors or in process. */
    public static Result evaluate(Execution exec, JavaRDD<Example> data, Loaded model, Loaded baseline, int batchSize, String where) {
        return run(exec, data, Engine.of(exec, model, QuantRunner.Path.INTEGER),
                baseline == null ? null : Engine.of(exec, baseline, QuantRunner.Path.INTEGER), model.model(), batchSize, where);
    }

    /** Evaluates {@code model} against an optional baseline on the executors of {@code jsc}. */
    public static Result evaluate(JavaSparkContext jsc, JavaRDD<Example> data, Loaded model, Loaded baseline, int batchSize, String where) {
        return evaluate(new Execution.OnSpark(jsc), data, model, baseline, batchSize, where);
    }

    /** Evaluates a float model against an optional float baseline. */
    public static Result evaluate(JavaSparkContext jsc, JavaRDD<Example> data, LoadedModel model, LoadedModel baseline,
                                  int batchSize, String where) {
        return evaluate(jsc, data, Loaded.plain(model), Loaded.plain(baseline), batchSize, where);
    }

    /** A quantized model's integer path, with its fake-quant path in the baseline's place (accuracy and agreement). */
    public static Result integerVsFakeQuant(Execution exec, JavaRDD<Example> data, Loaded model, int batchSize, String where) {
        if (model.quant() == null) throw new IllegalArgumentException(model.model().source() + " is not quantized");
        return run(exec, data, Engine.of(exec, model, QuantRunner.Path.INTEGER), Engine.of(exec, model, QuantRunner.Path.FAKE_QUANT),
                model.model(), batchSize, where);
    }

    private static Result run(Execution exec, JavaRDD<Example> data, Engine m, Engine b, LoadedModel model, int batchSize, String where) {
        int nf = model.meta().numFeatures();
        long t0 = System.nanoTime();
        try {
            EvalStats s = exec.fold(data, it -> Evaluator.run(it, m.inference(), b == null ? null : b.inference(), batchSize, nf, where),
                    EvalStats::merge, "evaluate " + model.source() + " on " + where);
            return new Result(s, (System.nanoTime() - t0) / 1e9);
        } finally {
            m.destroy();
            if (b != null) b.destroy();
        }
    }
}
