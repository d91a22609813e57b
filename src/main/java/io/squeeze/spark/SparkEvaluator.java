package io.squeeze.spark;

import io.squeeze.data.Example;
import io.squeeze.data.Normalizer;
import io.squeeze.eval.EvalStats;
import io.squeeze.eval.Evaluator;
import io.squeeze.eval.Inference;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.NetPayload;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;

import java.util.List;

/**
 * Distributed evaluation: the model (and baseline) are broadcast once, rebuilt once per executor thread, and each
 * partition streams its rows through {@link Evaluator} in fixed-size batches; the per-partition
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

    public static Result evaluate(JavaSparkContext jsc, JavaRDD<Example> data, LoadedModel model, LoadedModel baseline,
                                  int batchSize, String where) {
        Broadcast<NetPayload> m = jsc.broadcast(NetPayload.of(model.net()));
        Broadcast<NetPayload> b = baseline == null ? null : jsc.broadcast(NetPayload.of(baseline.net()));
        Normalizer nm = model.meta().normalizer();
        Normalizer nb = baseline == null ? null : baseline.meta().normalizer();
        int k = model.meta().numClasses(), nf = model.meta().numFeatures();
        jsc.setJobDescription("squeeze evaluate " + model.source() + " on " + where);
        long t0 = System.nanoTime();
        try {
            EvalStats s = data.mapPartitions(it -> {
                Nd4jThreads.forTask();
                return List.of(Evaluator.run(it, new Inference(m.value().network(), nm, k),
                        b == null ? null : new Inference(b.value().network(), nb, k), batchSize, nf, where)).iterator();
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
