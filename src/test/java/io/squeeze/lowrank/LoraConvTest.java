package io.squeeze.lowrank;

import io.squeeze.TestModels;
import io.squeeze.TestSpark;
import io.squeeze.core.BadInputException;
import io.squeeze.data.Example;
import io.squeeze.model.Lora;
import io.squeeze.model.LoraConv;
import io.squeeze.model.ResNetGraphTest;
import io.squeeze.spark.SparkTrainer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** LoRA on convolutions ({@link LoraConv}): step 0 is the base, training moves only A and B, merging is exact. */
class LoraConvTest {
    private static List<Example> rows(int n, int features, int classes, long seed) {
        Random r = new Random(seed);
        List<Example> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            float[] f = new float[features];
            int y = r.nextInt(classes);
            for (int j = 0; j < features; j++) f[j] = (float) (r.nextGaussian() * 0.5 + (j % classes == y ? 1 : 0));
            rows.add(new Example(i, f, y));
        }
        return rows;
    }

    /** A convolution adapter is (α/r)·(A·B)ᵀ as a [nOut, nIn, kH, kW] kernel: checked entry by entry. */
    @Test
    void theUpdateIsTheTransposedProductInKernelShape() {
        MultiLayerNetwork base = TestModels.bnConvNet(3, false);
        MultiLayerNetwork adapted = Lora.attach(base, Set.of(4), 2, 6, 1);
        var lc = (LoraConv) adapted.getLayer(4).conf().getLayer();
        assertEquals(2L * (6 * 3 * 3 + 8), lc.adapterParams());
        INDArray a = Nd4j.rand(DataType.FLOAT, 54, 2), b = Nd4j.rand(DataType.FLOAT, 2, 8);
        INDArray d = lc.delta(a, b);
        assertArrayEquals(new long[]{8, 6, 3, 3}, d.shape());
        for (int o = 0; o < 8; o++)
            for (int i = 0; i < 6; i++)
                for (int h = 0; h < 3; h++)
                    for (int w = 0; w < 3; w++) {
                        int row = (i * 3 + h) * 3 + w;
                        double want = 3 * (a.getDouble(row, 0) * b.getDouble(0, o) + a.getDouble(row, 1) * b.getDouble(1, o));
                        assertEquals(want, d.getDouble(o, i, h, w), 1e-5);
                    }
    }

    /**
     * A CNN stack with adapters on both convolutions (one without bias): step 0 equals the base, the configuration
     * survives JSON, training on Spark moves only A and B, and the merged plain network computes the trained one.
     */
    @Test
    void aStackTrainsItsConvolutionAdaptersAndMergesExactly() {
        MultiLayerNetwork base = TestModels.bnConvNet(5, false);
        MultiLayerNetwork adapted = Lora.attach(base, Set.of(0, 4), 2, 4, 7);
        assertInstanceOf(LoraConv.class, adapted.getLayer(0).conf().getLayer());
        assertEquals(base.numParams() + 2 * (9 + 6) + 2 * (54 + 8), adapted.numParams());
        INDArray x = Nd4j.rand(DataType.FLOAT, 5, 144);
        assertEquals(0, base.output(x).sub(adapted.output(x)).amax().getDouble(0), 1e-6, "B = 0: step 0 computes the base");
        assertEquals(adapted.getLayerWiseConfigurations(), MultiLayerConfiguration.fromJson(adapted.getLayerWiseConfigurations().toJson()));

        INDArray w0 = adapted.getLayer(4).getParam("W").dup(), b0 = adapted.getLayer(4).getParam("b").dup(), a0 = adapted.getLayer(0).getParam("A").dup();
        MultiLayerNetwork trained = SparkTrainer.train(TestSpark.jsc(), TestSpark.jsc().parallelize(rows(300, 144, 10, 2), 2), adapted, 144, 10,
                new SparkTrainer.Config(2, 25, 2), "lora-conv", new PrintWriter(new StringWriter()));
        assertEquals(w0, trained.getLayer(4).getParam("W"), "base W frozen");
        assertEquals(b0, trained.getLayer(4).getParam("b"), "base b frozen");
        assertNotEquals(a0, trained.getLayer(0).getParam("A"), "A trained");
        assertTrue(trained.getLayer(4).getParam("B").amaxNumber().doubleValue() > 0, "B trained");
        assertEquals(base.getLayer(6).getParam("W"), trained.getLayer(6).getParam("W"), "the dense layer without an adapter frozen");
        MultiLayerNetwork merged = Lora.merge(trained);
        assertEquals(base.numParams(), merged.numParams());
        assertEquals(base.getLayerWiseConfigurations().getConf(0).getLayer().getClass(), merged.getLayerWiseConfigurations().getConf(0).getLayer().getClass());
        INDArray got = merged.output(x), want = trained.output(x);
        assertTrue(got.sub(base.output(x)).amaxNumber().doubleValue() > 1e-4, "training changed what the network computes");
        assertEquals(0, got.sub(want).amax().getDouble(0), 1e-5, "merged computes the adapted network");
    }

    /**
     * A ResNet: every convolution adapted (3×3 same-padded, strided, 1×1 projections, none with bias); step 0 equals the
     * base, the graph configuration survives JSON, training changes only adapters (and BN statistics), merged computes
     * the trained graph.
     */
    @Test
    void aResNetTrainsAdaptersOnEveryConvolutionAndMergesExactly() {
        ComputationGraph base = ResNetGraphTest.randomized(ResNetGraphTest.mnist(1, 3), 4);
        Set<String> convs = new java.util.TreeSet<>();
        for (var l : base.getLayers())
            if (l.conf().getLayer().getClass() == org.deeplearning4j.nn.conf.layers.ConvolutionLayer.class) convs.add(l.conf().getLayer().getLayerName());
        assertTrue(convs.size() >= 4 && convs.contains("s3b1_proj"), convs.toString());
        ComputationGraph adapted = Lora.attach(base, convs, 2, 4, 9, new org.nd4j.linalg.learning.config.Adam(0.01));
        INDArray x = Nd4j.rand(DataType.FLOAT, 4, 784);
        assertEquals(0, base.outputSingle(false, x).sub(adapted.outputSingle(false, x)).amax().getDouble(0), 1e-5, "step 0 computes the base");
        assertEquals(adapted.getConfiguration(), ComputationGraphConfiguration.fromJson(adapted.getConfiguration().toJson()));
        INDArray proj = adapted.getLayer("s3b1_proj").getParam("W").dup();
        ComputationGraph trained = SparkTrainer.trainGraph(TestSpark.jsc(), TestSpark.jsc().parallelize(rows(120, 784, 10, 5), 2), adapted, 784, 10,
                new SparkTrainer.Config(1, 20, 2), "lora-resnet", new PrintWriter(new StringWriter()), (e, g) -> {});
        assertEquals(proj, trained.getLayer("s3b1_proj").getParam("W"), "the strided projection's base frozen");
        assertEquals(base.getLayer("output").getParam("W"), trained.getLayer("output").getParam("W"), "the output layer frozen");
        ComputationGraph merged = Lora.merge(trained);
        assertEquals(base.numParams(), merged.numParams());
        INDArray got = merged.outputSingle(false, x), want = trained.outputSingle(false, x);
        assertTrue(got.sub(base.outputSingle(false, x)).amaxNumber().doubleValue() > 1e-4, "training changed what the graph computes");
        assertEquals(0, got.sub(want).amax().getDouble(0), 1e-5, "merged computes the adapted graph");
    }

    @Test
    void refusesWhatNoAdapterFits() {
        MultiLayerNetwork base = TestModels.bnConvNet(1, false);
        assertEquals("lora.rank 10 is above min(nIn·kH·kW, nOut) = 6 of layer 0",
                assertThrows(BadInputException.class, () -> Lora.attach(base, Set.of(0), 10, 8, 1)).getMessage());
        assertEquals("lora adapters go on dense and convolution layers; layer 3 is a SubsamplingLayer",
                assertThrows(BadInputException.class, () -> Lora.attach(base, Set.of(3), 2, 8, 1)).getMessage());
    }
}
