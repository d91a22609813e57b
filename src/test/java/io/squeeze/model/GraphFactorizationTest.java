package io.squeeze.model;

import io.squeeze.lowrank.LayerFactors;
import io.squeeze.lowrank.SvdMethod;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.*;

/** Factorized vertices of a ResNet: the second factor keeps the vertex's name, so its readers (the adds) are unchanged. */
class GraphFactorizationTest {
    static int index(ComputationGraph g, String name) {
        for (int i = 0; i < g.getLayers().length; i++) if (g.getLayers()[i].conf().getLayer().getLayerName().equals(name)) return i;
        throw new IllegalArgumentException(name);
    }

    static Factorization.Factors factors(ComputationGraph g, String name, int rank) {
        INDArray w = g.getLayer(name).getParam("W");
        int rows = (int) w.size(0), cols = (int) (w.length() / rows);
        if (w.rank() == 2) { rows = (int) w.rows(); cols = (int) w.columns(); }
        return LayerFactors.factor(w.dup('c').data().asFloat(), rows, cols, rank, new SvdMethod.Exact()).factors();
    }

    @Test
    void fullRankFactorsComputeTheSameAndTheGraphIsRewiredAroundTheVertex() {
        ComputationGraph g = ResNetGraphTest.mnist(1, 11);
        Map<Integer, Factorization.Factors> f = new TreeMap<>();
        f.put(index(g, "s2b1_conv2"), factors(g, "s2b1_conv2", 32));     // a 3x3 convolution inside a block: [32, 32*9]
        f.put(index(g, "s3b1_proj"), factors(g, "s3b1_proj", 32));       // a shortcut's 1x1 convolution: [64, 32]
        f.put(index(g, "output"), factors(g, "output", 10));             // the output layer: [64, 10]
        ComputationGraph r = GraphFactorization.rewrite(g, f);
        var c = r.getConfiguration();
        assertEquals(List.of("s2b1_relu1"), c.getVertexInputs().get("s2b1_conv2_a"));
        assertEquals(List.of("s2b1_conv2_a"), c.getVertexInputs().get("s2b1_conv2"));
        assertEquals(List.of("s2b1_conv2"), c.getVertexInputs().get("s2b1_conv2_bn"), "the readers of the vertex are unchanged");
        assertArrayEquals(new long[]{32, 32, 3, 3}, r.getLayer("s2b1_conv2_a").getParam("W").shape());
        assertArrayEquals(new long[]{32, 32, 1, 1}, r.getLayer("s2b1_conv2").getParam("W").shape());
        assertArrayEquals(new long[]{64, 10}, r.getLayer("output_a").getParam("W").shape());
        assertArrayEquals(new long[]{1, 10}, r.getLayer("output").getParam("b").shape());
        INDArray x = ResNetGraphTest.images(4, 12);
        assertArrayEquals(g.outputSingle(false, x).data().asFloat(), r.outputSingle(false, x).data().asFloat(), 1e-4f);
    }

    @Test
    void aLowRankVertexHasFewerWeightsAndTheRestIsCopied() {
        ComputationGraph g = ResNetGraphTest.mnist(1, 13);
        int at = index(g, "s3b1_conv2");
        ComputationGraph r = GraphFactorization.rewrite(g, Map.of(at, factors(g, "s3b1_conv2", 8)));
        assertEquals(g.numParams() - 64L * 64 * 9 + 8L * 64 * 9 + 64L * 8, r.numParams());
        assertEquals(g.getLayer("s1b1_conv1").getParam("W"), r.getLayer("s1b1_conv1").getParam("W"));
        assertEquals(g.getLayer("s3b1_conv2_bn").getParam("gamma"), r.getLayer("s3b1_conv2_bn").getParam("gamma"));
    }
}
