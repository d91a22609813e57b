package io.squeeze.prune;

import io.squeeze.core.BadInputException;
import io.squeeze.model.ResNetGraphTest;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Dependency groups of graphs, and pruning them: a shrunk graph computes what its masked twin computes. */
class GroupPruningTest {
    static INDArray rows(int n, int width, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n * width];
        for (int i = 0; i < x.length; i++) x[i] = r.nextFloat();
        return Nd4j.create(x, new long[]{n, width}, 'c');
    }

    /** Prunes {@code amount} of every group; asserts the shrunk graph equals the masked twin on random rows. */
    static ComputationGraph assertShrunkEqualsTwin(ComputationGraph g, double amount, int width) {
        ChannelGroups d = ChannelGroups.of(g, "test");
        GroupPruning.Plan plan = GroupPruning.choose(g, d, Amount.fraction(amount), PruneMethod.Norm.L2);
        ComputationGraph twin = g.clone();
        GroupPruning.zero(twin, d, plan);
        ComputationGraph shrunk = GroupPruning.shrink(g, d, plan);
        INDArray x = rows(5, width, 3);
        INDArray want = twin.outputSingle(false, x), got = shrunk.outputSingle(false, x);
        assertArrayEquals(want.data().asFloat(), got.data().asFloat(), 1e-5f);
        assertNotEquals(g.outputSingle(false, x), want, "pruning changed what the network computes");
        return shrunk;
    }

    @Test
    void aResNetsResidualStreamIsOneGroupPerStageAndEachInnerConvolutionItsOwn() {
        ComputationGraph g = ResNetGraphTest.mnist(2, 4);
        List<ChannelGroups.Group> groups = ChannelGroups.of(g, "resnet:2").groups();
        assertEquals(List.of("stem+s1b1_conv2+s1b2_conv2", "s1b1_conv1", "s1b2_conv1", "s2b1_conv1", "s2b1_proj+s2b1_conv2+s2b2_conv2",
                "s2b2_conv1", "s3b1_conv1", "s3b1_proj+s3b1_conv2+s3b2_conv2", "s3b2_conv1", "output"), groups.stream().map(ChannelGroups.Group::name).toList());
        assertEquals(List.of(16, 16, 16, 32, 32, 32, 64, 64, 64, 10), groups.stream().map(ChannelGroups.Group::channels).toList());
        assertEquals("the network's output", groups.get(9).fixed());
        assertNull(groups.get(0).fixed());
    }

    @Test
    void aShrunkResNetComputesWhatItsMaskedTwinComputes() {
        ComputationGraph g = ResNetGraphTest.randomized(ResNetGraphTest.mnist(2, 5), 6);
        ComputationGraph shrunk = assertShrunkEqualsTwin(g, 0.5, 784);
        assertArrayEquals(new long[]{8, 1, 3, 3}, shrunk.getLayer("stem").getParam("W").shape());
        assertArrayEquals(new long[]{8, 8, 3, 3}, shrunk.getLayer("s1b1_conv1").getParam("W").shape());
        assertArrayEquals(new long[]{16, 8, 1, 1}, shrunk.getLayer("s2b1_proj").getParam("W").shape());
        assertArrayEquals(new long[]{1, 32}, shrunk.getLayer("s3b2_conv2_bn").getParam("gamma").shape());
        assertArrayEquals(new long[]{32, 10}, shrunk.getLayer("output").getParam("W").shape());
        // every convolution halved on both sides: a quarter of their weights remain
        long before = 0, after = 0;
        for (var l : g.getLayers()) if (l.conf().getLayer() instanceof ConvolutionLayer) before += l.getParam("W").length();
        for (var l : shrunk.getLayers()) if (l.conf().getLayer() instanceof ConvolutionLayer) after += l.getParam("W").length();
        assertEquals((before - 144) / 4 + 72, after, "the stem keeps its one input channel: 16*9 -> 8*9");
    }

    @Test
    void theChannelsOfLeastGroupImportanceGoFirst() {
        ComputationGraph g = ResNetGraphTest.randomized(ResNetGraphTest.mnist(1, 7), 8);
        // channel 5 of the stage-1 stream made weak in every member: the stem and last convolution's filters, the BN scales
        for (String conv : new String[]{"stem", "s1b1_conv2"}) g.getLayer(conv).getParam("W").get(org.nd4j.linalg.indexing.NDArrayIndex.point(5)).muli(0.01);
        for (String bn : new String[]{"stem_bn", "s1b1_conv2_bn"}) g.getLayer(bn).getParam("gamma").putScalar(0, 5, 0.01);
        ChannelGroups d = ChannelGroups.of(g, "t");
        GroupPruning.Plan p = GroupPruning.choose(g, d, Amount.count(1), PruneMethod.Norm.L2);
        assertArrayEquals(new int[]{5}, p.pruned().get("stem"));
        assertEquals(1, p.removed("s1b1_conv1"));
        assertEquals(0, p.removed("output"), "the output group is fixed");
    }

    @Test
    void aConcatenationShiftsChannelIndicesAndAFlatteningDenseLayerLosesWholeChannels() {
        var b = new NeuralNetConfiguration.Builder().seed(3).graphBuilder().addInputs("in").setInputTypes(InputType.convolutionalFlat(6, 6, 2));
        b.addLayer("a", new ConvolutionLayer.Builder(3, 3).nOut(4).convolutionMode(ConvolutionMode.Same).activation(Activation.RELU).build(), "in");
        b.addLayer("b", new ConvolutionLayer.Builder(1, 1).nOut(6).activation(Activation.IDENTITY).build(), "in");
        b.addLayer("b_bn", new BatchNormalization.Builder().build(), "b");
        b.addLayer("b_relu", new ActivationLayer.Builder().activation(Activation.RELU).build(), "b_bn");
        b.addVertex("cat", new MergeVertex(), "a", "b_relu");
        b.addLayer("c", new ConvolutionLayer.Builder(3, 3).nOut(5).convolutionMode(ConvolutionMode.Same).activation(Activation.TANH).build(), "cat");
        b.addLayer("gap", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "c");
        b.addLayer("flat", new DenseLayer.Builder().nOut(7).activation(Activation.RELU).build(), "cat");
        b.addVertex("both", new MergeVertex(), "gap", "flat");
        b.addLayer("out", new OutputLayer.Builder().nOut(3).activation(Activation.SOFTMAX).build(), "both");
        ComputationGraph g = new ComputationGraph(b.setOutputs("out").build());
        g.init();
        ResNetGraphTest.randomized(g, 2);
        ChannelGroups d = ChannelGroups.of(g, "cat");
        assertEquals(List.of("a", "b", "c", "flat", "out"), d.groups().stream().map(ChannelGroups.Group::name).toList());
        ComputationGraph shrunk = assertShrunkEqualsTwin(g, 0.5, 72);
        assertEquals(5, shrunk.getLayer("c").getParam("W").size(1), "2 of a's 4 channels and 3 of b's 6");
        assertEquals(5 * 36, shrunk.getLayer("flat").getParam("W").size(0), "whole channels of 6x6 columns");
        assertEquals(3 + 3, shrunk.getLayer("out").getParam("W").size(0), "3 of c's 5 and 3 of flat's 7 (half of 5 and of 7, rounded to even: 2 and 4 removed)");
    }

    @Test
    void aVertexChannelsCannotBeTracedThroughIsRefusedNamingIt() {
        var b = new NeuralNetConfiguration.Builder().graphBuilder().addInputs("in")
                .addLayer("d", new DenseLayer.Builder().nIn(4).nOut(4).build(), "in")
                .addVertex("scale", new org.deeplearning4j.nn.conf.graph.ScaleVertex(2), "d")
                .addLayer("out", new OutputLayer.Builder().nIn(4).nOut(2).build(), "scale").setOutputs("out");
        ComputationGraph g = new ComputationGraph(b.build());
        g.init();
        assertEquals("model m: vertex 'scale' (ScaleVertex), through which Squeeze cannot trace channels",
                assertThrows(BadInputException.class, () -> ChannelGroups.of(g, "m")).getMessage());
    }
}
