package io.squeeze.quantize;

import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.NetOps;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The runtime's LSTM ({@link NetOps.Rnn}, {@link LstmCell}) against DL4J's, and its dynamic int8 form. */
public class LstmRuntimeTest {
    public static final int STEPS = 4, FEATURES = 3, ROWS = 7;

    /** Two stacked LSTMs (6 and 5 units) on rows of 4 steps of 3 features, every parameter random (biases and gates too). */
    public static MultiLayerNetwork net(long seed) {
        MultiLayerConfiguration c = Architectures.build(new Arch.Lstm(new int[]{6, 5}), STEPS * FEATURES, 3, new int[]{STEPS, FEATURES, 1},
                new Architectures.Hyper(seed, 1e-3, 0), null);
        MultiLayerNetwork net = new MultiLayerNetwork(c);
        net.init();
        Random r = new Random(seed);
        INDArray p = net.params();
        float[] v = new float[(int) p.length()];
        for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * 0.6);
        net.setParams(Nd4j.create(v, new long[]{1, v.length}, 'c'));
        return net;
    }

    /** An untrained LSTM of 4 units on the UCI digits' 8×8 images (8 steps of 8 features), 10 classes. */
    public static MultiLayerNetwork digitsLstm() {
        MultiLayerNetwork net = new MultiLayerNetwork(Architectures.build(new Arch.Lstm(new int[]{4}), 64, 10, null,
                new Architectures.Hyper(1, 1e-3, 0), null));
        net.init();
        return net;
    }

    static float[] inputs(long seed) {
        Random r = new Random(seed);
        float[] x = new float[ROWS * STEPS * FEATURES];
        for (int i = 0; i < x.length; i++) x[i] = r.nextFloat() * 2 - 0.5f;
        return x;
    }

    static QuantizedModel dynamicInt8(MultiLayerNetwork net) {
        QuantConfig cfg = new QuantConfig(QuantConfig.Mode.DYNAMIC, QuantConfig.Precision.INT8, QuantConfig.Granularity.CHANNEL,
                QuantConfig.Scheme.SYMMETRIC, false, new Observer.MinMax(), List.of());
        return QuantizedModel.quantizeWeights(NetOps.of(net), cfg, Map.of());
    }

    @Test
    void theFloatRuntimeComputesWhatDl4jComputes() {
        MultiLayerNetwork net = net(11);
        float[] x = inputs(3);
        float[] dl4j = net.output(Nd4j.create(x, new long[]{ROWS, STEPS * FEATURES}, 'c')).castTo(DataType.FLOAT).dup('c').data().asFloat();
        float[] ours = new QuantRunner(dynamicInt8(net)).run(x, ROWS, STEPS * FEATURES, QuantRunner.Path.FLOAT, null);
        assertArrayEquals(dl4j, ours, 1e-5f);
        List<NetOps.Op> ops = NetOps.of(net);
        assertEquals(List.of(NetOps.Rnn.class, NetOps.Rnn.class, NetOps.Last.class, NetOps.Dense.class), ops.stream().map(Object::getClass).toList());
        assertEquals(4, ((NetOps.Last) ops.get(2)).steps());
    }

    @Test
    void dynamicInt8ComputesItsIntegersExactlyAndStaysNearFloat() {
        MultiLayerNetwork net = net(12);
        QuantizedModel qm = dynamicInt8(net);
        QuantizedTensor w0 = qm.weights().get(0);
        assertArrayEquals(new long[]{FEATURES + 6, 24}, w0.shape()); // [W; RW], per gate column
        assertEquals(24, w0.params().length);
        Map<String, QuantizedTensor> split = qm.tensorsOf(0);
        assertArrayEquals(new long[]{FEATURES, 24}, split.get("W").shape());
        assertArrayEquals(new long[]{6, 24}, split.get("RW").shape());
        QuantizedTensor stacked = QuantizedTensor.stackRows(split.get("W"), split.get("RW"));
        assertArrayEquals(w0.values(), stacked.values());
        assertArrayEquals(w0.shape(), stacked.shape());
        float[] w = io.squeeze.model.Surgery.values(net, 0, "W"), dq = split.get("W").dequantize();
        for (int i = 0; i < w.length; i++) assertEquals(w[i], dq[i], w0.params()[i % 24].scale() / 2 + 1e-7, "W at " + i);
        float[] x = inputs(4);
        QuantRunner run = new QuantRunner(qm);
        float[] integer = run.run(x, ROWS, STEPS * FEATURES, QuantRunner.Path.INTEGER, null);
        float[] fake = run.run(x, ROWS, STEPS * FEATURES, QuantRunner.Path.FAKE_QUANT, null);
        float[] exact = run.run(x, ROWS, STEPS * FEATURES, QuantRunner.Path.FLOAT, null);
        assertArrayEquals(fake, integer, 2e-5f); // the same products, summed in int32 instead of float
        double worst = 0;
        for (int i = 0; i < exact.length; i++) worst = Math.max(worst, Math.abs(exact[i] - integer[i]));
        assertTrue(worst > 0 && worst < 0.02, "largest probability change from int8 " + worst);
    }

    @Test
    void theSequencePreprocessorsAreStoredInTheConfiguration() {
        MultiLayerNetwork net = net(13);
        MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(net.getLayerWiseConfigurations().toJson());
        assertEquals(net.getLayerWiseConfigurations(), back);
        assertEquals(new io.squeeze.model.SequenceRows(STEPS, FEATURES), back.getInputPreProcess(0));
        assertEquals(new io.squeeze.model.LastStep(STEPS), back.getInputPreProcess(2));
        MultiLayerNetwork rebuilt = new MultiLayerNetwork(back);
        rebuilt.init(net.params().dup(), false);
        INDArray x = Nd4j.create(inputs(5), new long[]{ROWS, STEPS * FEATURES}, 'c');
        assertEquals(net.output(x), rebuilt.output(x));
    }
}
