package io.squeeze.model;

import io.squeeze.core.BadInputException;
import io.squeeze.data.Normalizer;
import io.squeeze.eval.Inference;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** {@code resnet:N} as He et al. 2016 define it for small images, built as a DL4J ComputationGraph and run by Squeeze. */
public class ResNetGraphTest {
    /** An initialised {@code resnet:blocks} graph for 28×28 grey images and 10 classes. */
    public static ComputationGraph mnist(int blocks, long seed) {
        ComputationGraph g = new ComputationGraph(ResNetGraph.build(new Arch.ResNet(blocks), 784, 10, new int[]{28, 28, 1},
                new Architectures.Hyper(seed, 0.001, 0)));
        g.init();
        return g;
    }

    /** {@code g} with random batch-normalization statistics, scales and shifts, so that no channel is trivially zero. */
    public static ComputationGraph randomized(ComputationGraph g, long seed) {
        Random r = new Random(seed);
        for (var l : g.getLayers()) {
            if (!(l.conf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.BatchNormalization)) continue;
            for (var e : l.paramTable().entrySet()) {
                float[] v = new float[(int) e.getValue().length()];
                for (int i = 0; i < v.length; i++)
                    v[i] = (float) (e.getKey().equals("log10stdev") ? 0.3 * r.nextGaussian() : e.getKey().equals("gamma") ? 0.5 + r.nextDouble() : 0.3 * r.nextGaussian());
                e.getValue().assign(Nd4j.create(v, e.getValue().shape(), 'c'));
            }
        }
        return g;
    }

    public static INDArray images(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n * 784];
        for (int i = 0; i < x.length; i++) x[i] = r.nextFloat();
        return Nd4j.create(x, new long[]{n, 784}, 'c');
    }

    @Test
    void theNameReadsBackAndBadBlockCountsAreRefused() {
        assertEquals(new Arch.ResNet(3), Arch.parse("resnet:3"));
        assertEquals("resnet:3", Arch.parse("resnet:3").toString());
        assertTrue(Arch.isArchitecture("resnet:2"));
        assertEquals("--arch resnet:0: resnet:N needs 1 to 18 blocks per stage", assertThrows(BadInputException.class, () -> Arch.parse("resnet:0")).getMessage());
        assertEquals("--arch 'resnet:x': the blocks per stage must be an integer, e.g. resnet:3",
                assertThrows(BadInputException.class, () -> Arch.parse("resnet:x")).getMessage());
    }

    @Test
    void parametersAreThoseOfHeEtAlsSixNPlusTwoLayers() {
        // resnet:1 counted by hand: stem 3x3x16 + BN; stage 1 two 3x3 16->16 convs; stages 2 and 3 a 3x3 conv from the
        // previous width, a 3x3 conv and a 1x1 projection; four stored BN values a channel; a dense 64 -> 10 output
        assertEquals(144 + 64 + (2304 + 64) * 2 + (4608 + 9216 + 512 + 3 * 128) + (18432 + 36864 + 2048 + 3 * 256) + 650, mnist(1, 1).numParams());
        assertEquals(78_426, mnist(1, 1).numParams());
        // multiply-adds a 28x28 row: each convolution's filter size at each output position, the output layer's 64x10
        assertEquals(28 * 28 * (144 + 2 * 2304) + 14 * 14 * (4608 + 9216 + 512) + 7 * 7 * (18432 + 36864 + 2048) + 640,
                Graphs.multiplyAdds(mnist(1, 1), 784));
        assertEquals(9_345_920, Graphs.multiplyAdds(mnist(1, 1), 784));
        for (int n : new int[]{1, 2, 3}) {
            long weights = 0, convs = 0;
            int in = 16;
            for (int s = 0; s < 3; s++) {
                int c = ResNetGraph.WIDTHS[s];
                for (int b = 0; b < n; b++) {
                    weights += 9L * in * c + 9L * c * c + (s > 0 && b == 0 ? (long) in * c : 0);
                    convs += 2;
                    in = c;
                }
            }
            ComputationGraph g = mnist(n, 1);
            long convLayers = java.util.Arrays.stream(g.getLayers())
                    .filter(l -> l.conf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.ConvolutionLayer && !l.conf().getLayer().getLayerName().endsWith("_proj")).count();
            assertEquals(convs + 1, convLayers, "6N+2 weighted layers: stem, 6N convolutions, output (N = " + n + ")");
            long convWeights = java.util.Arrays.stream(g.getLayers()).filter(l -> l.conf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.ConvolutionLayer)
                    .mapToLong(l -> l.getParam("W").length()).sum();
            assertEquals(144 + weights, convWeights, "N = " + n);
        }
    }

    @Test
    void stagesHalveTheResolutionAndTheShortcutCarriesItsInputToTheAdd() {
        ComputationGraph g = mnist(1, 7);
        INDArray x = images(3, 5);
        Map<String, INDArray> a = g.feedForward(x, false);
        assertArrayEquals(new long[]{3, 16, 28, 28}, a.get("s1b1_relu").shape());
        assertArrayEquals(new long[]{3, 32, 14, 14}, a.get("s2b1_relu").shape());
        assertArrayEquals(new long[]{3, 64, 7, 7}, a.get("s3b1_relu").shape());
        assertArrayEquals(new long[]{3, 64}, a.get("pool").shape());
        // the residual branch zeroed (its last BN's scale and shift 0): the block passes its identity shortcut through
        g.getLayer("s1b1_conv2_bn").getParam("gamma").assign(0);
        g.getLayer("s1b1_conv2_bn").getParam("beta").assign(0);
        a = g.feedForward(x, false);
        assertEquals(a.get("stem_relu"), a.get("s1b1_add"));
        assertEquals(a.get("stem_relu"), a.get("s1b1_relu"));
        // and the branch added back changes it: the add joins both inputs
        g.getLayer("s1b1_conv2_bn").getParam("beta").assign(0.5);
        assertEquals(a.get("stem_relu").add(0.5), g.feedForward(x, false).get("s1b1_add"));
    }

    @Test
    void logitsAndInferenceAgreeWithDl4jsOutput() {
        ComputationGraph g = mnist(1, 3);
        INDArray x = images(4, 9);
        INDArray p = g.outputSingle(false, x);
        float[] logits = Logits.of(g, x.data().asFloat(), 4, 784);
        float[] viaInference = new Inference(g, Normalizer.NONE, 10).probabilities(
                new io.squeeze.data.Batches.Batch(4, 784, x.data().asFloat(), new int[]{0, 1, 2, 3}, new long[]{0, 1, 2, 3}));
        for (int i = 0; i < 4; i++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int k = 0; k < 10; k++) max = Math.max(max, logits[i * 10 + k]);
            for (int k = 0; k < 10; k++) sum += Math.exp(logits[i * 10 + k] - max);
            for (int k = 0; k < 10; k++) {
                assertEquals(p.getDouble(i, k), Math.exp(logits[i * 10 + k] - max) / sum, 1e-5);
                assertEquals(p.getFloat(i, k), viaInference[i * 10 + k], 0f);
            }
        }
        // a payload rebuilds the same graph
        NetPayload payload = NetPayload.of(g);
        assertTrue(payload.isGraph());
        assertEquals(p, payload.buildGraph().outputSingle(false, x));
    }
}
