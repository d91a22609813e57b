package io.squeeze.model;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
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
 * A ReLU dense layer that reuses its forward pass and skips a first layer's input gradient trains to DL4J's weights bit
 * for bit, dropout included, and leaves to DL4J's path what it does not cover.
 */
class DenseForwardOnceTest {
    private static final int ROWS = 32, IN = 20, CLASSES = 3;

    @Test
    void anMlpWithDropoutTrainsToDl4jsWeightsBitForBit() {
        // LeNet-300-100's shape, small: ReLU hidden layers, dropout on their inputs and on the network's input
        MultiLayerConfiguration conf = Architectures.build(Arch.parse("mlp:16,12"), IN, CLASSES, null,
                new Architectures.Hyper(7, 1e-2, 0, 0.1, 0.2, null), null);
        MultiLayerNetwork ours = net(conf), dl4j = net(conf);
        dl4j.params().assign(ours.params());
        TrainingKernels.install(ours);
        StepRelu.install(dl4j); // every other kernel as ours has it: only the dense layers differ
        JavaAdam.install(dl4j);
        assertEquals(2, DenseForwardOnce.install(ours), "the two hidden layers; the output layer is not a DenseLayer");
        assertInstanceOf(DenseForwardOnce.class, ours.getLayer(0));
        assertSame(ours.getLayer(1), ours.getLayer(ours.getLayer(1).conf().getLayer().getLayerName()), "the name finds the new layer");
        assertTrue(((DenseForwardOnce) ours.getLayer(0)).first());
        assertFalse(((DenseForwardOnce) ours.getLayer(1)).first());
        assertTrue(JavaAdam.blocks(ours) > 0, "the updater was built over the new layers");
        fitBoth(ours, dl4j, 10);
        for (int l = 0; l < 2; l++) {
            assertEquals(10, ((DenseForwardOnce) ours.getLayer(l)).passes(), "layer " + l + " ran its own backward pass every step");
            assertEquals(10, ((DenseForwardOnce) ours.getLayer(l)).forwards(), "layer " + l + " ran its own forward pass every step");
        }
        assertEquals(2, DenseForwardOnce.install(ours), "idempotent");
        // the trained network infers as DL4J's does
        INDArray x = Nd4j.rand(DataType.FLOAT, 5, IN);
        assertArrayEquals(dl4j.output(x).dup().data().asFloat(), ours.output(x).dup().data().asFloat(), 0f);
        TrainingKernels.restore(ours);
        TrainingKernels.restore(dl4j);
        assertEquals(dl4j.getLayerWiseConfigurations().toJson(), ours.getLayerWiseConfigurations().toJson(), "the configuration is DL4J's");
    }

    @Test
    void otherActivationsAndWeightNoiseTakeDl4jsPath() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(3).updater(new Adam(1e-2)).list()
                .layer(new DenseLayer.Builder().nIn(IN).nOut(8).activation(Activation.TANH).build())
                .layer(new DenseLayer.Builder().nIn(8).nOut(8).activation(Activation.RELU).weightNoise(new DropConnect(0.9)).build())
                .layer(new DenseLayer.Builder().nIn(8).nOut(6).activation(Activation.RELU).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(6).nOut(CLASSES).activation(Activation.SOFTMAX).build())
                .build();
        MultiLayerNetwork ours = net(conf), dl4j = net(conf);
        dl4j.params().assign(ours.params());
        assertEquals(3, DenseForwardOnce.install(ours));
        fitBoth(ours, dl4j, 6);
        assertEquals(0, ((DenseForwardOnce) ours.getLayer(0)).passes(), "tanh");
        assertEquals(0, ((DenseForwardOnce) ours.getLayer(1)).passes(), "weight noise");
        assertEquals(6, ((DenseForwardOnce) ours.getLayer(2)).passes(), "plain ReLU");
        assertEquals(0, ((DenseForwardOnce) ours.getLayer(0)).forwards(), "tanh");
        assertEquals(0, ((DenseForwardOnce) ours.getLayer(1)).forwards(), "weight noise");
        assertEquals(6, ((DenseForwardOnce) ours.getLayer(2)).forwards(), "plain ReLU");
    }

    /** Counts the ND4J buffers registered for deallocation on the counting thread. */
    static final class CountingDeallocator extends org.nd4j.linalg.api.memory.deallocation.DeallocatorService {
        volatile Thread counted;
        final java.util.concurrent.atomic.AtomicLong n = new java.util.concurrent.atomic.AtomicLong(), contexts = new java.util.concurrent.atomic.AtomicLong();

        @Override
        public void pickObject(org.nd4j.linalg.api.memory.Deallocatable d) {
            if (Thread.currentThread() == counted) {
                n.incrementAndGet();
                if (d instanceof org.nd4j.linalg.api.ops.OpContext) contexts.incrementAndGet();
            }
            super.pickObject(d);
        }

        /** The native op contexts among the registrations {@link #count} counted last. */
        long contexts() {
            return contexts.get();
        }

        /** Makes {@code service} ND4J's deallocator service; returns the one it replaced. */
        static Object swapIn(Object service) throws ReflectiveOperationException {
            var field = Nd4j.class.getDeclaredField("deallocatorService");
            field.setAccessible(true);
            Object before = field.get(null);
            field.set(null, service);
            return before;
        }

        long count(Runnable r) {
            n.set(0);
            contexts.set(0);
            counted = Thread.currentThread();
            try {
                r.run();
            } finally {
                counted = null;
            }
            return n.get();
        }
    }

    @Test
    void aTrainingStepRegistersFewerNd4jBuffersThanDl4jsLayers() throws Exception {
        // each registered buffer leaves objects that survive the next young collection and are copied by it: in local[2]
        // the collector stops both workers, so these are what a step costs in pauses
        MultiLayerConfiguration conf = Architectures.build(Arch.parse("mlp:16,12"), IN, CLASSES, null,
                new Architectures.Hyper(7, 1e-2, 0, 0, 0, null), null);
        MultiLayerNetwork ours = net(conf), dl4j = net(conf);
        for (MultiLayerNetwork n : new MultiLayerNetwork[]{ours, dl4j}) {
            StepRelu.install(n);
            OutputForwardOnce.install(n); // only the dense layers differ
        }
        DenseForwardOnce.install(ours);
        JavaAdam.install(ours);
        JavaAdam.install(dl4j);
        DataSet d = new DataSet(Nd4j.rand(DataType.FLOAT, ROWS, IN), Nd4j.eye(CLASSES).getRows(new int[ROWS]).castTo(DataType.FLOAT));
        CountingDeallocator counting = new CountingDeallocator();
        Object before = CountingDeallocator.swapIn(counting);
        // counted with the backend's own shape-information provider, a new buffer for every new array (ShapeInfoCacheTest
        // counts what Squeeze's cache of them removes)
        var shapes = ShapeInfoCacheTest.swapIn(new org.nd4j.linalg.cpu.nativecpu.DirectShapeInfoProvider());
        try {
            ours.fit(d);
            dl4j.fit(d); // the first step builds what later steps reuse
            INDArray x = d.getFeatures();
            long l = counting.count(() -> dl4j.output(x, true)), lc = counting.contexts();
            long o = counting.count(() -> ours.output(x, true)), oc = counting.contexts();
            // each hidden layer: the bias added by one broadcast (1 buffer, not 6), and the product and the sum through
            // op contexts the layer keeps, the product into a column-major array it keeps (not 2 contexts and a new
            // array with its shape information)
            assertEquals(2 * 9, l - o, "a training forward pass; ours " + o + ", DL4J's " + l);
            assertEquals(1, oc, "only the output layer's softmax builds an op context (both networks have OutputForwardOnce)");
            assertEquals(1 + 2, lc, "DL4J's hidden layers build one each, for the product");
            long ls = counting.count(() -> dl4j.fit(d)), lsc = counting.contexts();
            long os = counting.count(() -> ours.fit(d)), osc = counting.contexts();
            assertTrue(os < ls - 2 * 9, "a step (forward once, reduce_sum for the bias gradient, no first-layer input gradient): ours " + os + ", DL4J's " + ls);
            // the backward pass: reduce_sum, the input's gradient (not for the first layer) and the weights' gradient
            // DL4J's two hidden layers build 8 op contexts a step (each: its product forward and again backward, its
            // input's gradient, its weights' gradient); ours none, so both networks' remaining 7 are the output layer's
            assertEquals(8, lsc - osc, "op contexts a step: ours " + osc + ", DL4J's " + lsc);
        } finally {
            CountingDeallocator.swapIn(before);
            ShapeInfoCacheTest.swapIn(shapes);
        }
    }

    private static MultiLayerNetwork net(MultiLayerConfiguration conf) {
        MultiLayerNetwork n = new MultiLayerNetwork(conf.clone());
        n.init();
        return n;
    }

    /** Fits both on the same minibatches, each with the same random state (dropout's masks), and asserts equal weights. */
    private static void fitBoth(MultiLayerNetwork ours, MultiLayerNetwork dl4j, int steps) {
        var r = new java.util.Random(5);
        for (int step = 0; step < steps; step++) {
            float[] xs = new float[ROWS * IN];
            for (int i = 0; i < xs.length; i++) xs[i] = (float) r.nextGaussian();
            INDArray x = Nd4j.create(xs, new long[]{ROWS, IN}, 'c'), y = Nd4j.zeros(DataType.FLOAT, ROWS, CLASSES);
            for (int i = 0; i < ROWS; i++) y.putScalar(i, xs[i * IN] > 0 ? 0 : xs[i * IN + 1] > 0 ? 1 : 2, 1);
            Nd4j.getRandom().setSeed(100 + step);
            ours.fit(new DataSet(x, y));
            Nd4j.getRandom().setSeed(100 + step);
            dl4j.fit(new DataSet(x, y));
            assertArrayEquals(dl4j.params().toFloatVector(), ours.params().toFloatVector(), 0f, "step " + step);
        }
        assertFalse(java.util.Arrays.equals(ours.params().toFloatVector(), net(ours.getLayerWiseConfigurations()).params().toFloatVector()),
                "the weights moved");
    }
}
