package io.squeeze.spark;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.util.DoubleAccumulator;
import org.apache.spark.util.LongAccumulator;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.optimize.api.BaseTrainingListener;

import java.io.Serializable;

/**
 * The mean loss of an epoch's minibatches: a DL4J training listener that adds each fitted minibatch's score to two
 * Spark accumulators wherever it is fitted — in the executors' training workers ({@link LocalSgd} ships the listener
 * with every round's task) or in this process — read and reset by the driver after the epoch. A barrier stage
 * returns each epoch's sums in the workers' results instead ({@link #partialSum}), and the driver resets these.
 */
final class EpochLoss extends BaseTrainingListener implements Serializable {
    private final DoubleAccumulator sum;
    private final LongAccumulator count;

    EpochLoss(JavaSparkContext jsc) {
        sum = jsc.sc().doubleAccumulator("squeeze epoch loss");
        count = jsc.sc().longAccumulator("squeeze epoch minibatches");
    }

    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        double s = model.score();
        if (Double.isFinite(s)) {
            sum.add(s);
            count.add(1);
        }
    }

    /**
     * The losses this copy has added: in a task, those of the task's minibatches so far ({@link BarrierEpoch} takes
     * each epoch's from them when one stage runs several epochs).
     */
    double partialSum() {
        return sum.value();
    }

    /** The minibatches this copy has counted (see {@link #partialSum}). */
    long partialCount() {
        return count.value();
    }

    /** The mean since the last call (NaN when no minibatch reported), then zero again. */
    double take() {
        double mean = count.value() == 0 ? Double.NaN : sum.value() / count.value();
        sum.reset();
        count.reset();
        return mean;
    }
}
