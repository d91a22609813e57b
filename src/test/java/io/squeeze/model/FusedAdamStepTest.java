package io.squeeze.model;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.updater.MultiLayerUpdater;
import org.deeplearning4j.optimize.solvers.BaseOptimizer;
import org.deeplearning4j.optimize.api.StepFunction;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import static org.junit.jupiter.api.Assertions.*;

/** The fused step trains to the same bits as DL4J's three passes (division, JavaAdam, subtraction), or stays out. */
public class FusedAdamStepTest {

    /** 18,544 parameters: five of JavaAdam's chunks, the last one partial. */
    private static MultiLayerConfiguration stack(IUpdater updater, double l2) {
        var b = new NeuralNetConfiguration.Builder().seed(3).updater(updater);
        if (l2 > 0) b.l2(l2);
        return b.list()
                .layer(new DenseLayer.Builder().nIn(20).nOut(300).activation(Activation.RELU).build())
                .layer(new DenseLayer.Builder().nIn(300).nOut(40).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(40).nOut(4).activation(Activation.SOFTMAX).build())
                .build();
    }

    /** Minibatches of 32 rows, every fifth of 37 (a size whose reciprocal is not exact in float). */
    private static DataSet batch(int i, int features) {
        int rows = i % 5 == 4 ? 37 : 32;
        Nd4j.getRandom().setSeed(100 + i);
        INDArray x = Nd4j.rand(DataType.FLOAT, rows, features).subi(0.5);
        INDArray y = Nd4j.zeros(DataType.FLOAT, rows, features == 784 ? 10 : 4);
        for (int r = 0; r < rows; r++) y.putScalar(r, (r * 7 + i) % y.size(1), 1f);
        return new DataSet(x, y);
    }

    private static void fit(MultiLayerNetwork net, int from, int steps, int features) {
        for (int i = from; i < from + steps; i++) net.fit(batch(i, features));
    }

    private static void assertSameBits(MultiLayerNetwork expected, MultiLayerNetwork actual) {
        assertArrayEquals(expected.params().data().asFloat(), actual.params().data().asFloat(), 0f, "parameters");
        assertArrayEquals(expected.getUpdater().getStateViewArray().data().asFloat(), actual.getUpdater().getStateViewArray().data().asFloat(), 0f, "Adam's moments");
        assertEquals(expected.score(), actual.score(), 0.0, "score");
    }

    /** A network of {@code conf} training with {@link JavaAdam}: one updater block. */
    private static MultiLayerNetwork javaAdam(MultiLayerConfiguration conf) {
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        assertEquals(1, JavaAdam.install(net));
        return net;
    }

    private static StepFunction stepFunction(MultiLayerNetwork net) {
        return Dl4jFields.get(BaseOptimizer.class, "stepFunction", net.getOptimizer(), StepFunction.class);
    }

    @Test
    void aDenseStackTrainsToTheBitsOfTheThreePasses() {
        MultiLayerNetwork three = javaAdam(stack(new Adam(5e-3), 0)), one = javaAdam(stack(new Adam(5e-3), 0));
        assertTrue(FusedAdamStep.install(one));
        assertTrue(FusedAdamStep.install(one), "installing twice changes nothing");
        assertInstanceOf(FusedAdamStep.class, stepFunction(one));
        INDArray start = one.params().dup();
        fit(three, 0, 30, 20);
        fit(one, 0, 30, 20);
        assertTrue(one.params().sub(start).amaxNumber().doubleValue() > 0.05, "the network trained");
        assertSameBits(three, one);
    }

    @Test
    void leNet5TrainsToTheBitsOfTheThreePasses() {
        var conf = Architectures.build(new Arch.LeNet5(), 784, 10, new int[]{28, 28, 1}, new Architectures.Hyper(42, 1e-3, 0), null);
        MultiLayerNetwork three = javaAdam(conf.clone()), one = javaAdam(conf.clone());
        assertTrue(FusedAdamStep.install(one));
        fit(three, 0, 6, 784);
        fit(one, 0, 6, 784);
        assertSameBits(three, one);
    }

    @Test
    void anotherUpdaterPutInLaterTrainsAsDl4jDoes() {
        MultiLayerNetwork three = javaAdam(stack(new Adam(5e-3), 0)), one = javaAdam(stack(new Adam(5e-3), 0));
        assertTrue(FusedAdamStep.install(one));
        fit(three, 0, 5, 20);
        fit(one, 0, 5, 20);
        // DL4J's own Adam from the same state: its updater divides again and the step function subtracts again
        three.setUpdater(new MultiLayerUpdater(three, three.getUpdater().getStateViewArray().dup()));
        one.setUpdater(new MultiLayerUpdater(one, one.getUpdater().getStateViewArray().dup()));
        fit(three, 5, 10, 20);
        fit(one, 5, 10, 20);
        assertSameBits(three, one);
    }

    @Test
    void networksItDoesNotCoverKeepDl4jsPasses() {
        MultiLayerNetwork l2 = new MultiLayerNetwork(stack(new Adam(5e-3), 1e-4));
        l2.init();
        JavaAdam.install(l2);
        assertFalse(FusedAdamStep.install(l2), "regularization reads the divided gradient");
        MultiLayerNetwork nesterovs = new MultiLayerNetwork(stack(new Nesterovs(0.01, 0.9), 0));
        nesterovs.init();
        JavaAdam.install(nesterovs);
        assertFalse(FusedAdamStep.install(nesterovs), "no JavaAdam block");
        MultiLayerNetwork bare = new MultiLayerNetwork(stack(new Adam(5e-3), 0));
        bare.init();
        assertFalse(FusedAdamStep.install(bare), "DL4J's native Adam");
        assertFalse(stepFunction(bare) instanceof FusedAdamStep);
        ComputationGraph g = new ComputationGraph(new NeuralNetConfiguration.Builder().updater(new Adam(1e-3)).graphBuilder().addInputs("in")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(4).nOut(2).activation(Activation.SOFTMAX).build(), "in")
                .setOutputs("out").build());
        g.init();
        JavaAdam.install(g);
        assertFalse(FusedAdamStep.install(g), "graphs keep DL4J's passes");
    }

    @Test
    void trainingKernelsFuseTheStep() {
        MultiLayerNetwork net = new MultiLayerNetwork(stack(new Adam(5e-3), 0));
        net.init();
        TrainingKernels.install(net);
        assertInstanceOf(FusedAdamStep.class, stepFunction(net));
    }
    @Test
    void aGradientNotLaidOutForTheLoopTakesDl4jsOpAndStillStepsTheParameters() {
        MultiLayerNetwork net = javaAdam(stack(new Adam(5e-3), 0));
        assertTrue(FusedAdamStep.install(net));
        fit(net, 0, 3, 20); // some Adam state
        net.setInput(Nd4j.zeros(DataType.FLOAT, 32, 20)); // DL4J divides by the minibatch's rows
        assertEquals(32f, ((FusedAdamStep) stepFunction(net)).divisor());
        var blocks = ((MultiLayerUpdater) net.getUpdater()).getUpdaterBlocks();
        assertEquals(1, blocks.size());
        JavaAdam adam = (JavaAdam) blocks.get(0).getGradientUpdater();
        int n = (int) net.numParams();
        Nd4j.getRandom().setSeed(7);
        // every other element of a longer array: a gradient with gaps, which the Java loop does not take
        INDArray gradient = Nd4j.rand(DataType.FLOAT, 1, 2L * n).subi(0.5).get(NDArrayIndex.point(0), NDArrayIndex.interval(0, 2, 2L * n));
        assertFalse(JavaAdam.fits(gradient));
        assertEquals(n, gradient.length());
        // DL4J's three passes on copies: divide by the minibatch, its Adam op, subtract from the parameters
        INDArray g = gradient.dup().divi(32f), state = net.getUpdater().getStateViewArray().dup();
        var dl4j = new org.nd4j.linalg.learning.AdamUpdater(new Adam(5e-3));
        dl4j.setStateViewArray(state, g.shape(), g.ordering(), false);
        dl4j.applyUpdater(g, 3, 0);
        float[] params = net.params().dup().reshape(n).subi(g.reshape(n)).toFloatVector();
        adam.applyUpdater(gradient, 3, 0);
        assertArrayEquals(params, net.params().toFloatVector(), 0f, "the parameters stepped by DL4J's update");
        assertArrayEquals(state.toFloatVector(), net.getUpdater().getStateViewArray().toFloatVector(), 0f, "Adam's moments");
        assertEquals(0.0, gradient.amaxNumber().doubleValue(), "nothing left for a step function to subtract");
    }
}
