package io.squeeze.model;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.api.Updater;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.updater.BaseMultiLayerUpdater;
import org.deeplearning4j.nn.updater.MultiLayerUpdater;
import org.deeplearning4j.nn.updater.UpdaterBlock;
import org.deeplearning4j.optimize.api.StepFunction;
import org.deeplearning4j.optimize.solvers.BaseOptimizer;
import org.deeplearning4j.optimize.solvers.StochasticGradientDescent;
import org.deeplearning4j.optimize.stepfunctions.NegativeGradientStepFunction;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;

/**
 * A training step's optimizer in one pass over memory instead of three. DL4J's SGD step divides the gradient by the
 * minibatch size ({@code BaseMultiLayerUpdater.divideByMinibatch}, one pass reading and writing it), lets the updater
 * turn it into the update ({@link JavaAdam}: the gradient and Adam's two moments read and written) and subtracts the
 * update from the parameters ({@link NegativeGradientStepFunction}: the parameters and the update read, the
 * parameters written). For LeNet-300-100 those three passes move its 266,610 parameters' arrays about 11 MB a step,
 * and the division and the subtraction took 9 % of a one-thread step (docs/BENCHMARKS.md, session 54). Installed, each
 * of the network's {@link JavaAdam} blocks reads its gradient, divides it, runs Adam's kernel and subtracts the update
 * from its parameters chunk by chunk (the four arrays read, three written), in float arithmetic as ND4J's
 * {@code divi} and {@code subi} compute: the parameters, moments and scores are bit for bit those of the three passes
 * (tests), which is Kingma and Ba's Adam (2015, Algorithm 1) with DL4J's minibatch averaging.
 *
 * <p>It applies to a {@link MultiLayerNetwork} trained by DL4J's SGD optimizer with its default step function and no
 * gradient accumulator, whose every updater block runs {@link JavaAdam}, and whose layers have no regularization, no
 * gradient normalization and no batch normalization (whose running statistics DL4J does not divide); anything else
 * keeps DL4J's passes. The network's updater is told to divide nothing (its list of arrays to divide is emptied) and
 * its optimizer gets this step function, which leaves the parameters to the blocks as long as the network keeps the
 * updater it was installed with, and otherwise subtracts as DL4J's does; a block applies the update itself only while
 * this step function runs, and otherwise writes it out for the step function, as before.
 */
final class FusedAdamStep implements StepFunction {
    private final transient MultiLayerNetwork net;
    private final transient Updater updater;
    private final NegativeGradientStepFunction plain = new NegativeGradientStepFunction();

    private FusedAdamStep(MultiLayerNetwork net, Updater updater) {
        this.net = net;
        this.updater = updater;
    }

    /** Installs the fused step on {@code model} where it applies (see the class comment); returns whether it runs. Idempotent. */
    static boolean install(Model model) {
        if (!(model instanceof MultiLayerNetwork m) || !(m.getUpdater(false) instanceof MultiLayerUpdater u)
                || !(m.getOptimizer() instanceof StochasticGradientDescent sgd))
            return false;
        StepFunction current = Dl4jFields.get(BaseOptimizer.class, "stepFunction", sgd, StepFunction.class);
        if (current instanceof FusedAdamStep f) return f.net == m && f.updater == u;
        if (current == null || current.getClass() != NegativeGradientStepFunction.class
                || Dl4jFields.get(BaseOptimizer.class, "accumulator", sgd, Object.class) != null || !JavaAdam.fits(m.params()))
            return false;
        for (var layer : m.getLayers()) {
            if (!(layer.conf().getLayer() instanceof BaseLayer c) || c instanceof org.deeplearning4j.nn.conf.layers.BatchNormalization) {
                if (layer.numParams() > 0) return false;
                continue;
            }
            if (c.getGradientNormalization() != null && c.getGradientNormalization() != GradientNormalization.None) return false;
            if (c.getRegularization() != null && !c.getRegularization().isEmpty()
                    || c.getRegularizationBias() != null && !c.getRegularizationBias().isEmpty())
                return false;
        }
        if (u.getUpdaterBlocks().isEmpty()) return false;
        for (UpdaterBlock b : u.getUpdaterBlocks())
            if (!(b.getGradientUpdater() instanceof JavaAdam)) return false;
        FusedAdamStep f = new FusedAdamStep(m, u);
        for (UpdaterBlock b : u.getUpdaterBlocks())
            ((JavaAdam) b.getGradientUpdater()).fuse(f, b.getParamOffsetStart(), b.getParamOffsetEnd());
        // the blocks divide from now on: DL4J's updater is left no array to divide
        Dl4jFields.set(BaseMultiLayerUpdater.class, "gradientsForMinibatchDivision", u, new ArrayList<INDArray>());
        Dl4jFields.set(BaseMultiLayerUpdater.class, "initializedMinibatchDivision", u, true);
        Dl4jFields.set(BaseOptimizer.class, "stepFunction", sgd, f);
        return true;
    }

    /** What DL4J would divide the gradient by this step: the minibatch's size when the configuration averages over it. */
    float divisor() {
        return net.conf().isMiniBatch() ? net.batchSize() : 1f;
    }

    /** Whether the network still trains through this step function and the updater it was installed with. */
    boolean stepping() {
        return net.getUpdater(false) == updater && net.getOptimizer() instanceof BaseOptimizer o
                && Dl4jFields.get(BaseOptimizer.class, "stepFunction", o, StepFunction.class) == this;
    }

    /** The network's parameters {@code [from, to)}, a view of its flattened parameters. */
    INDArray params(int from, int to) {
        INDArray p = net.params();
        return p.get(NDArrayIndex.point(0), NDArrayIndex.interval(from, to));
    }

    @Override
    public void step(INDArray x, INDArray line, double step) {
        if (net.getUpdater(false) != updater) plain.step(x, line, step);
    }

    @Override
    public void step(INDArray x, INDArray line) {
        if (net.getUpdater(false) != updater) plain.step(x, line);
    }

    @Override
    public void step() {
        plain.step();
    }
}
