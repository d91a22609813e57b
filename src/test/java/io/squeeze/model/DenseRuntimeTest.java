package io.squeeze.model;

import io.squeeze.TestModels;
import io.squeeze.lowrank.RankPolicy;
import io.squeeze.lowrank.SvdMethod;
import io.squeeze.core.LayerSelector;
import io.squeeze.quantize.FakeQuantWeights;
import io.squeeze.quantize.QuantizedTensor;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import static org.junit.jupiter.api.Assertions.*;

class DenseRuntimeTest {
    private static void assertSameAsDl4j(MultiLayerNetwork net, int nIn) {
        DenseRuntime rt = DenseRuntime.of(net).orElseThrow();
        for (int rows : new int[]{7, 64, 7, 1}) {  // buffers re-made when the batch size changes
            Nd4j.getRandom().setSeed(rows);
            INDArray x = Nd4j.randn(DataType.FLOAT, rows, nIn), copy = x.dup();
            INDArray expected = net.output(x.dup(), false); // DL4J M2 overwrites its input when the first layer is an ActivationLayer
            INDArray got = rt.output(x);
            assertArrayEquals(expected.shape(), got.shape());
            assertTrue(expected.equalsWithEps(got, 1e-5), () -> "rows " + rows + ": " + expected + " vs " + got);
            assertEquals(copy, x, "the input is not written");
            float[] rowMajor = x.dup('c').data().asFloat();
            assertArrayEquals(expected.dup('c').data().asFloat(), rt.output(rowMajor, rows, nIn), 1e-5f);
            if (rt.hasLogits()) {
                assertArrayEquals(Logits.of(net, rowMajor, rows, nIn), rt.logits(rowMajor, rows, nIn), 1e-5f);
                float[] logits = Logits.of(net, x.data().asFloat(), rows, nIn);
                assertArrayEquals(logits, rt.logits(x).dup('c').data().asFloat(), 1e-5f);
            }
        }
    }

    @Test
    void equalsDl4jOnMlpsAndTheirLowRankRewrites() {
        MultiLayerNetwork mlp = TestModels.mlp(30, new int[]{20, 12}, 10, 4);
        assertSameAsDl4j(mlp, 30);
        LoadedModel m = new LoadedModel(mlp, TestModels.meta(30, 10), "", "t", SourceKind.DL4J_ZIP, 0);
        MultiLayerNetwork factorized = io.squeeze.spark.FactorizeJob.run(new io.squeeze.spark.Execution.InProcess(), m, LayerSelector.parse("0,1"),
                new RankPolicy.Fixed(5), new SvdMethod.Exact()).net();
        assertEquals(5, factorized.getnLayers());
        assertSameAsDl4j(factorized, 30);
    }

    @Test
    void activationAndDropoutLayersTanhSigmoidAndNoBias() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(3).dataType(DataType.FLOAT).list()
                .layer(new ActivationLayer.Builder().activation(Activation.TANH).build())
                .layer(new DenseLayer.Builder().nOut(16).activation(Activation.SIGMOID).hasBias(false).build())
                .layer(new DropoutLayer.Builder(0.5).build())
                .layer(new DenseLayer.Builder().nOut(9).activation(Activation.IDENTITY).dropOut(0.7).build())
                .layer(new ActivationLayer.Builder().activation(Activation.LEAKYRELU).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(4).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.feedForward(11)).build());
        net.init();
        assertSameAsDl4j(net, 11);
    }

    @Test
    void declinesWhatItDoesNotRun() {
        MultiLayerNetwork conv = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(3).dataType(DataType.FLOAT).list()
                .layer(new ConvolutionLayer.Builder(3, 3).nOut(2).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutionalFlat(6, 6, 1)).build());
        conv.init();
        assertTrue(DenseRuntime.of(conv).isEmpty());
        MultiLayerNetwork noisy = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(3).dataType(DataType.FLOAT).list()
                .layer(new DenseLayer.Builder().nOut(4).weightNoise(new FakeQuantWeights(QuantizedTensor.Format.INT8, true, 1)).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.feedForward(5)).build());
        noisy.init();
        assertTrue(DenseRuntime.of(noisy).isEmpty());
    }

    @Test
    void ndRowsCopiesInBulkBothOrders() {
        float[] x = {1, 2, 3, 4, 5, 6};
        INDArray c = NdRows.of(x, 2, 3);
        assertEquals(Nd4j.create(new float[][]{{1, 2, 3}, {4, 5, 6}}), c);
        assertArrayEquals(x, NdRows.toRowMajor(c));
        assertArrayEquals(x, NdRows.toRowMajor(c.dup('f')));
        assertArrayEquals(new float[]{1, 4, 2, 5, 3, 6}, NdRows.toRowMajor(c.transpose()), "a view goes through ND4J");
        assertArrayEquals(x, NdRows.toRowMajor(c.castTo(DataType.DOUBLE).dup('f')));
        assertThrows(IllegalArgumentException.class, () -> NdRows.fill(Nd4j.create(DataType.FLOAT, 2, 4), x));
        assertThrows(IllegalArgumentException.class, () -> NdRows.fill(Nd4j.create(DataType.FLOAT, new long[]{2, 3}, 'f'), x));
    }
}
