package io.squeeze.quantize;

import io.squeeze.TestModels;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.NetOps;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class QuantRunnerTest {
    static MultiLayerNetwork lenet(long seed) {
        MultiLayerNetwork net = new MultiLayerNetwork(Architectures.build(new Arch.LeNet5(), 256, 10, new int[]{16, 16, 1},
                new Architectures.Hyper(seed, 1e-3, 0), null));
        net.init();
        return net;
    }

    static float[] data(int rows, int nf, long seed) {
        Random r = new Random(seed);
        float[] x = new float[rows * nf];
        for (int i = 0; i < x.length; i++) x[i] = r.nextFloat() < 0.3f ? 0f : r.nextFloat();
        return x;
    }

    static QuantizedModel calibrated(MultiLayerNetwork net, QuantConfig cfg, float[] x, int rows, int nf) {
        QuantizedModel qm = QuantizedModel.quantizeWeights(NetOps.of(net), cfg, Map.of());
        Calibration c = new Calibration(cfg.observer().firstPass());
        new QuantRunner(qm).run(x, rows, nf, QuantRunner.Path.FLOAT, c::update);
        return qm.withActivations(Calibrator.qparams(Calibrator.ranges(cfg.observer(), c, null, cfg.reduceRange())));
    }

    static QuantConfig cfg(QuantConfig.Mode mode, QuantConfig.Precision p) {
        return new QuantConfig(mode, p, QuantConfig.Granularity.CHANNEL, p == QuantConfig.Precision.FP16 ? null : QuantConfig.Scheme.SYMMETRIC,
                false, new Observer.MinMax(), List.of());
    }

    @Test
    void floatPathEqualsDl4jForMlpAndLeNet() {
        for (MultiLayerNetwork net : List.of(TestModels.mlp(256, new int[]{32, 16}, 10, 3), lenet(3))) {
            float[] x = data(7, 256, 1);
            QuantizedModel qm = QuantizedModel.quantizeWeights(NetOps.of(net), cfg(QuantConfig.Mode.STATIC, QuantConfig.Precision.INT8), Map.of());
            float[] ours = new QuantRunner(qm).run(x, 7, 256, QuantRunner.Path.FLOAT, null);
            float[] dl4j = net.output(Nd4j.create(x, new long[]{7, 256}, 'c')).dup('c').data().asFloat();
            assertEquals(dl4j.length, ours.length);
            for (int i = 0; i < ours.length; i++) assertEquals(dl4j[i], ours[i], 1e-5, "output " + i);
        }
    }

    @Test
    void aParameterisedReluIsRefusedNotRunAsAPlainOne() {
        MultiLayerNetwork relu6 = new MultiLayerNetwork(new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder().list()
                .layer(new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().nIn(4).nOut(3)
                        .activation(new org.nd4j.linalg.activations.impl.ActivationReLU(6.0, 0.0, 0.0)).build())
                .layer(new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder().nIn(3).nOut(2)
                        .activation(org.nd4j.linalg.activations.Activation.SOFTMAX).build()).build());
        relu6.init();
        assertEquals("layer 0 is a ReLU with max 6.0, threshold 0.0, negative slope 0.0, which the quantized runtime does not support",
                assertThrows(io.squeeze.core.BadInputException.class, () -> NetOps.of(relu6)).getMessage());
    }

    @Test
    void integerPathAgreesWithFakeQuant() {
        for (MultiLayerNetwork net : List.of(TestModels.mlp(256, new int[]{32, 16}, 10, 3), lenet(3))) {
            int rows = 64;
            float[] x = data(rows, 256, 2);
            QuantizedModel qm = calibrated(net, cfg(QuantConfig.Mode.STATIC, QuantConfig.Precision.INT8), x, rows, 256);
            QuantRunner r = new QuantRunner(qm);
            float[] fl = r.run(x, rows, 256, QuantRunner.Path.FLOAT, null);
            float[] fq = r.run(x, rows, 256, QuantRunner.Path.FAKE_QUANT, null);
            float[] in = r.run(x, rows, 256, QuantRunner.Path.INTEGER, null);
            double maxFq = 0, maxFl = 0;
            for (int i = 0; i < fl.length; i++) {
                maxFq = Math.max(maxFq, Math.abs(fq[i] - in[i]));
                maxFl = Math.max(maxFl, Math.abs(fl[i] - in[i]));
            }
            assertTrue(maxFq < 0.02, "integer vs fake-quant probabilities differ by " + maxFq);
            assertTrue(maxFl < 0.05, "integer vs float probabilities differ by " + maxFl);
            assertTrue(maxFl > 0, "quantization changed nothing");
        }
    }

    @Test
    void fakeQuantLayersSurviveJsonAndStripBackToThePlainNetwork() {
        MultiLayerNetwork net = lenet(4);
        int rows = 16;
        float[] x = data(rows, 256, 3);
        QuantConfig cfg = cfg(QuantConfig.Mode.STATIC, QuantConfig.Precision.INT4);
        QuantizedModel qm = calibrated(net, cfg, x, rows, 256);
        MultiLayerNetwork qat = io.squeeze.quantize.FakeQuantSurgery.attach(net, qm.plan(), qm.plan().activations());
        var back = org.deeplearning4j.nn.conf.MultiLayerConfiguration.fromJson(qat.getLayerWiseConfigurations().toJson());
        assertEquals(qat.getLayerWiseConfigurations().toJson(), back.toJson());
        MultiLayerNetwork rebuilt = new MultiLayerNetwork(back);
        rebuilt.init(qat.params().dup(), false);
        var in = Nd4j.create(x, new long[]{rows, 256}, 'c');
        // the fake-quant network computes what the runtime's fake-quant path computes (input left in float)
        float[] dl4j = rebuilt.output(in).dup('c').data().asFloat(), plain = net.output(in).dup('c').data().asFloat();
        double diff = 0;
        for (int i = 0; i < dl4j.length; i++) diff = Math.max(diff, Math.abs(dl4j[i] - plain[i]));
        assertTrue(diff > 1e-4, "fake quantization changes the outputs");
        MultiLayerNetwork stripped = io.squeeze.quantize.FakeQuantSurgery.strip(rebuilt);
        assertArrayEquals(plain, stripped.output(in).dup('c').data().asFloat(), 1e-6f);
    }
}
