package io.squeeze.model;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.weightnoise.DropConnect;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import static org.junit.jupiter.api.Assertions.*;

/**
 * An output layer that computes its pre-activation once a step trains to DL4J's weights and reports DL4J's score bit
 * for bit, never reads a copy made before its weights moved, and leaves to DL4J's path what it does not cover.
 */
class OutputForwardOnceTest {
    private static final int ROWS = 32, IN = 20, CLASSES = 3;

    @Test
    void anMlpWithDropoutTrainsToDl4jsWeightsAndScoresBitForBit() {
        // LeNet-300-100's shape, small, with l2 (the score adds the regularization term) and dropout before the output layer
        MultiLayerConfiguration conf = Architectures.build(Arch.parse("mlp:16,12"), IN, CLASSES, null,
                new Architectures.Hyper(7, 1e-2, 1e-4, 0.1, 0.2, null), null);
        MultiLayerNetwork ours = ours(conf), dl4j = dl4j(conf);
        OutputForwardOnce o = assertInstanceOf(OutputForwardOnce.class, ours.getOutputLayer());
        assertSame(o, ours.getLayer(o.conf().getLayer().getLayerName()), "the name finds the new layer");
        assertEquals(1, OutputForwardOnce.install(ours), "idempotent");
        fitBoth(ours, dl4j, 6, false);
        assertEquals(6, o.computed(), "one pre-activation a step");
        assertEquals(6, o.reused(), "the score read the backward pass's copy every step");
        assertEquals(6, o.backprops(), "its own backward pass every step");
    }

    @Test
    void aLoneOutputLayerFitOnTheSameArrayTwiceComputesAfreshAfterItsWeightsMoved() {
        // no hidden layer and no workspaces: the output layer's input is the minibatch's own array, the same object in
        // every step (with workspaces DL4J would copy it into one)
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(3).updater(new Adam(0.05)).dataType(DataType.FLOAT)
                .trainingWorkspaceMode(org.deeplearning4j.nn.conf.WorkspaceMode.NONE).list()
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(IN).nOut(CLASSES).activation(Activation.SOFTMAX).build())
                .build();
        MultiLayerNetwork ours = net(conf), dl4j = net(conf);
        TrainingKernels.install(ours);
        JavaAdam.install(dl4j);
        fitBoth(ours, dl4j, 5, true);
        OutputForwardOnce o = (OutputForwardOnce) ours.getOutputLayer();
        assertEquals(5, o.computed(), "one a step");
        assertEquals(5, o.reused());
        assertEquals(5, o.backprops());
    }

    @Test
    void onlyTheScoreAfterABackwardPassReadsTheCopyAndOnlyOnce() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(3).updater(new Adam(0.05)).dataType(DataType.FLOAT).list()
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(IN).nOut(CLASSES).activation(Activation.SOFTMAX).build())
                .build();
        MultiLayerNetwork ours = net(conf), dl4j = net(conf);
        ours.initGradientsView(); // what a first fit() would do: the layers' gradient views
        dl4j.initGradientsView();
        TrainingKernels.install(ours);
        var o = (OutputForwardOnce) ours.getOutputLayer();
        var d = (org.deeplearning4j.nn.layers.OutputLayer) dl4j.getOutputLayer();
        INDArray x = Nd4j.rand(DataType.FLOAT, ROWS, IN), y = Nd4j.eye(CLASSES).getRows(new int[ROWS]).castTo(DataType.FLOAT);
        var mgr = org.deeplearning4j.nn.workspace.LayerWorkspaceMgr.noWorkspaces();
        for (var l : new org.deeplearning4j.nn.layers.BaseOutputLayer<?>[]{o, d}) {
            l.setInput(x, mgr);
            l.setLabels(y);
        }
        o.backpropGradient(null, mgr);
        assertEquals(d.computeScore(0, true, mgr), o.computeScore(0, true, mgr), 0d);
        assertEquals(1, o.reused(), "the score after the backward pass");
        for (var l : new org.deeplearning4j.nn.layers.BaseOutputLayer<?>[]{o, d}) l.params().muli(1.5f); // by hand, outside a step
        assertEquals(d.computeScore(0, true, mgr), o.computeScore(0, true, mgr), 0d, "a second score computes z from the new weights");
        o.backpropGradient(null, mgr);
        o.setInput(x, mgr); // the same array, set again
        assertEquals(d.computeScore(0, true, mgr), o.computeScore(0, true, mgr), 0d);
        o.computeGradientAndScore(mgr); // DL4J's own layer-level step: its first z is not a backward pass's
        d.computeGradientAndScore(mgr);
        assertEquals(d.score(), o.score(), 0d);
        assertEquals(1, o.reused(), "read once, after the one backward pass the score directly followed");
        assertEquals(6, o.computed(), "backward, score, backward, score, and the layer-level step's two");
    }

    @Test
    void anotherLossAndActivationAreCoveredAndWeightNoiseTakesDl4jsPath() {
        for (boolean noise : new boolean[]{false, true}) {
            var out = new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nIn(8).nOut(CLASSES).activation(Activation.IDENTITY);
            if (noise) out.weightNoise(new DropConnect(0.9));
            MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(5).updater(new Adam(1e-2)).dataType(DataType.FLOAT).list()
                    .layer(new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().nIn(IN).nOut(8).activation(Activation.RELU).build())
                    .layer(out.build())
                    .build();
            MultiLayerNetwork ours = ours(conf), dl4j = dl4j(conf);
            fitBoth(ours, dl4j, 4, false);
            OutputForwardOnce o = (OutputForwardOnce) ours.getOutputLayer();
            assertEquals(noise ? 0 : 4, o.computed(), "weight noise " + noise);
            assertEquals(noise ? 0 : 4, o.reused(), "weight noise " + noise);
            assertEquals(noise ? 0 : 4, o.backprops(), "weight noise " + noise);
        }
    }

    @Test
    void inferenceIsDl4jsAndNeverReadsTheCopy() {
        MultiLayerConfiguration conf = Architectures.build(Arch.parse("mlp:16,12"), IN, CLASSES, null,
                new Architectures.Hyper(7, 1e-2, 0, 0, 0, null), null);
        MultiLayerNetwork ours = ours(conf), dl4j = dl4j(conf);
        fitBoth(ours, dl4j, 2, false);
        INDArray x = Nd4j.rand(DataType.FLOAT, ROWS, IN);
        assertArrayEquals(dl4j.output(x).data().asFloat(), ours.output(x).data().asFloat(), 0f);
        assertEquals(2, ((OutputForwardOnce) ours.getOutputLayer()).reused());
    }

    @Test
    void aTrainingStepRegistersFewerNd4jBuffersThanDl4jsOutputLayer() throws Exception {
        // each registered buffer's bookkeeping survives the next young collection, which stops every worker of the JVM
        MultiLayerConfiguration conf = Architectures.build(Arch.parse("mlp:16,12"), IN, CLASSES, null,
                new Architectures.Hyper(7, 1e-2, 0, 0, 0, null), null);
        MultiLayerNetwork ours = ours(conf), dl4j = dl4j(conf);
        DataSet d = new DataSet(Nd4j.rand(DataType.FLOAT, ROWS, IN), Nd4j.eye(CLASSES).getRows(new int[ROWS]).castTo(DataType.FLOAT));
        var counting = new DenseForwardOnceTest.CountingDeallocator();
        Object before = DenseForwardOnceTest.CountingDeallocator.swapIn(counting);
        // counted with the backend's own shape-information provider, a new buffer for every new array (ShapeInfoCacheTest
        // counts what Squeeze's cache of them removes)
        var shapes = ShapeInfoCacheTest.swapIn(new org.nd4j.linalg.cpu.nativecpu.DirectShapeInfoProvider());
        try {
            ours.fit(d);
            dl4j.fit(d); // the first step builds what later steps reuse
            INDArray x = d.getFeatures();
            long o = counting.count(() -> ours.output(x, true)), l = counting.count(() -> dl4j.output(x, true));
            // the bias added by one broadcast (1 buffer, not 6), the product and the sum through op contexts the layer
            // keeps, the product into a column-major array it keeps (not 2 contexts and a new array with its shape information)
            assertEquals(9, l - o, "a training forward pass; ours " + o + ", DL4J's " + l);
            long ls = counting.count(() -> dl4j.fit(d)), lsc = counting.contexts();
            long os = counting.count(() -> ours.fit(d)), osc = counting.contexts();
            assertTrue(os <= ls - 2 * 5, "a step (one pre-activation, not two, each with one broadcast): ours " + os + ", DL4J's " + ls);
            // DL4J's output layer: its product twice, the weight gradient's gemm and the input gradient's product;
            // ours none of them, leaving the loss's own (softmax and subtraction, softmax and product for the score)
            assertEquals(4, osc, "op contexts a step, ours");
            assertEquals(4 + 5, lsc, "op contexts a step, DL4J's");
        } finally {
            DenseForwardOnceTest.CountingDeallocator.swapIn(before);
            ShapeInfoCacheTest.swapIn(shapes);
        }
    }

    /** Fits both on the same minibatches, each with the same random state (dropout's masks); asserts equal weights and scores. */
    private static void fitBoth(MultiLayerNetwork ours, MultiLayerNetwork dl4j, int steps, boolean sameArray) {
        var r = new java.util.Random(5);
        DataSet fixed = null;
        for (int step = 0; step < steps; step++) {
            DataSet d = fixed;
            if (d == null) {
                float[] xs = new float[ROWS * IN];
                for (int i = 0; i < xs.length; i++) xs[i] = (float) r.nextGaussian();
                INDArray x = Nd4j.create(xs, new long[]{ROWS, IN}, 'c'), y = Nd4j.zeros(DataType.FLOAT, ROWS, CLASSES);
                for (int i = 0; i < ROWS; i++) y.putScalar(i, xs[i * IN] > 0 ? 0 : xs[i * IN + 1] > 0 ? 1 : 2, 1);
                d = new DataSet(x, y);
                if (sameArray) fixed = d;
            }
            Nd4j.getRandom().setSeed(100 + step);
            ours.fit(d);
            Nd4j.getRandom().setSeed(100 + step);
            dl4j.fit(d);
            assertArrayEquals(dl4j.params().toFloatVector(), ours.params().toFloatVector(), 0f, "step " + step);
            assertEquals(dl4j.score(), ours.score(), 0d, "score, step " + step);
        }
        assertFalse(java.util.Arrays.equals(ours.params().toFloatVector(), net(ours.getLayerWiseConfigurations()).params().toFloatVector()),
                "the weights moved");
    }

    /** A network with every training kernel. */
    private static MultiLayerNetwork ours(MultiLayerConfiguration conf) {
        MultiLayerNetwork n = net(conf);
        TrainingKernels.install(n);
        return n;
    }

    /** A network with every training kernel but this one: only the output layers differ. */
    private static MultiLayerNetwork dl4j(MultiLayerConfiguration conf) {
        MultiLayerNetwork n = net(conf);
        DenseForwardOnce.install(n);
        JavaAdam.install(n);
        StepRelu.install(n);
        return n;
    }

    private static MultiLayerNetwork net(MultiLayerConfiguration conf) {
        MultiLayerNetwork n = new MultiLayerNetwork(conf.clone());
        n.init();
        return n;
    }
}
