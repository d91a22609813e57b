package io.squeeze.eval;

import io.squeeze.data.Batches;
import io.squeeze.data.Example;

import java.util.Iterator;

/**
 * The evaluation kernel: streams rows in fixed-size batches through a model (and optionally a baseline) and
 * folds each batch into {@link EvalStats}. The same code runs in one process and inside each Spark partition.
 */
public final class Evaluator {
    private Evaluator() {}

    public static EvalStats run(Iterator<Example> rows, Inference model, Inference baseline, int batchSize,
                                int numFeatures, String where) {
        EvalStats s = new EvalStats(model.numClasses(), baseline != null);
        Iterator<Batches.Batch> it = Batches.of(rows, batchSize, numFeatures, where);
        while (it.hasNext()) {
            Batches.Batch b = it.next();
            long t0 = System.nanoTime();
            float[] p = model.probabilities(b);
            long t1 = System.nanoTime();
            float[] q = baseline == null ? null : baseline.probabilities(b);
            long t2 = System.nanoTime();
            s.update(b.labels(), b.ids(), p, q, t1 - t0, baseline == null ? 0 : t2 - t1, where);
        }
        return s;
    }
}
