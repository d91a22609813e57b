package io.squeeze.prune;

import io.squeeze.core.Mask;
import io.squeeze.core.TensorKey;
import io.squeeze.model.Surgery;
import io.squeeze.quantize.LstmRuntimeTest;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.*;

/** Whole units of an LSTM (over its four gates) and of a SimpleRnn pruned as one group, and removed without changing any output. */
class RecurrentUnitsTest {
    static Map<TensorKey, Mask> pruneUnits(MultiLayerNetwork net, int layer, double amount, PruneMethod.Norm norm) {
        var l = (org.deeplearning4j.nn.conf.layers.LSTM) net.getLayer(layer).conf().getLayer();
        int nIn = (int) l.getNIn(), h = (int) l.getNOut();
        Map<String, Mask> m = RecurrentUnits.prune(Surgery.values(net, layer, "W"), Surgery.values(net, layer, "RW"), Mask.all(nIn * 4 * h),
                Mask.all(h * 4 * h), Mask.all(4 * h), nIn, h, 4, Amount.fraction(amount), norm, "layer " + layer);
        Map<TensorKey, Mask> out = new TreeMap<>();
        m.forEach((p, mask) -> out.put(new TensorKey(layer, p), mask));
        return out;
    }

    @Test
    void theWeakestUnitsLoseEveryGateAndTheirBias() {
        MultiLayerNetwork net = LstmRuntimeTest.net(31);
        float[] rw = Surgery.values(net, 0, "RW");
        for (int g = 0; g < 4; g++) for (int r = 0; r < 6; r++) rw[r * 24 + g * 6 + 4] *= 0.01f; // unit 4: tiny recurrent weights
        net.getLayer(0).setParam("RW", Nd4j.create(rw, new long[]{6, 24}, 'c'));
        float[] w = Surgery.values(net, 0, "W");
        for (int g = 0; g < 4; g++) for (int r = 0; r < 3; r++) w[r * 24 + g * 6 + 4] *= 0.01f;
        net.getLayer(0).setParam("W", Nd4j.create(w, new long[]{3, 24}, 'c'));
        Map<TensorKey, Mask> m = pruneUnits(net, 0, 1.0 / 6, PruneMethod.Norm.L2);
        boolean[] dead = RecurrentUnits.deadUnits(m, 0, 3, 6, 4);
        assertArrayEquals(new boolean[]{false, false, false, false, true, false}, dead);
        Mask b = m.get(new TensorKey(0, "b"));
        for (int j = 0; j < 24; j++) assertEquals(j % 6 != 4, b.kept(j), "bias " + j);
        assertEquals(4 * 3, m.get(new TensorKey(0, "W")).prunedCount());
        assertEquals(4 * 6, m.get(new TensorKey(0, "RW")).prunedCount()); // its gate columns; its row of RW then multiplies h = 0
    }

    @Test
    void aShrunkStackComputesWhatItsMaskedTwinComputes() {
        MultiLayerNetwork net = LstmRuntimeTest.net(32);
        Map<TensorKey, Mask> masks = new TreeMap<>(pruneUnits(net, 0, 0.5, PruneMethod.Norm.L1));
        masks.putAll(pruneUnits(net, 1, 0.5, PruneMethod.Norm.L2));
        Surgery.applyMasks(net, masks);
        Shrink.Result r = Shrink.shrink(net, masks);
        assertEquals(Map.of(0, "units 6 -> 3", 1, "units 5 -> 3"), r.changes()); // 0.5·5 rounds half to even: 2 pruned
        assertEquals(Map.of(), r.skipped());
        assertArrayEquals(new long[]{3, 12}, r.net().getLayer(1).getParam("W").shape());
        assertArrayEquals(new long[]{3, 12}, r.net().getLayer(1).getParam("RW").shape());
        assertArrayEquals(new long[]{3, 3}, r.net().getLayer(2).getParam("W").shape());
        assertTrue(r.masks().isEmpty(), "a structured prune leaves no mask after shrinking: " + r.masks().keySet());
        Random rnd = new Random(5);
        float[] x = new float[9 * 12];
        for (int i = 0; i < x.length; i++) x[i] = rnd.nextFloat() * 2 - 0.5f;
        INDArray in = Nd4j.create(x, new long[]{9, 12}, 'c');
        INDArray masked = net.output(in), shrunk = r.net().output(in);
        assertArrayEquals(masked.dup('c').data().asFloat(), shrunk.dup('c').data().asFloat(), 1e-5f);
        assertTrue(r.net().numParams() < net.numParams() / 2, r.net().numParams() + " of " + net.numParams());
    }

    @Test
    void aSimpleRnnLosesWholeUnitsButOnlyWhenItsActivationIsZeroAtZero() {
        MultiLayerNetwork net = io.squeeze.quantize.SimpleRnnRuntimeTest.net(33);
        Map<String, Mask> m = RecurrentUnits.prune(Surgery.values(net, 0, "W"), Surgery.values(net, 0, "RW"), Mask.all(3 * 6), Mask.all(6 * 6),
                Mask.all(6), 3, 6, 1, Amount.fraction(0.5), PruneMethod.Norm.L2, "layer 0");
        Map<TensorKey, Mask> masks = new TreeMap<>();
        m.forEach((p, mask) -> masks.put(new TensorKey(0, p), mask));
        assertEquals(3, masks.get(new TensorKey(0, "b")).prunedCount()); // 3 of 6 units, one column each
        assertEquals(3 * 6, masks.get(new TensorKey(0, "RW")).prunedCount());
        Surgery.applyMasks(net, masks);
        Shrink.Result r = Shrink.shrink(net, masks);
        assertEquals(Map.of(0, "units 6 -> 3"), r.changes());
        assertArrayEquals(new long[]{3, 3}, r.net().getLayer(0).getParam("RW").shape());
        assertArrayEquals(new long[]{3, 5}, r.net().getLayer(1).getParam("W").shape());
        INDArray in = Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 9, 12);
        assertArrayEquals(net.output(in).dup('c').data().asFloat(), r.net().output(in).dup('c').data().asFloat(), 1e-5f);
        // sigmoid(0) = ½: a pruned unit's state is not 0, so it stays
        MultiLayerNetwork sig = net.clone();
        ((org.deeplearning4j.nn.conf.layers.BaseLayer) sig.getLayerWiseConfigurations().getConf(0).getLayer())
                .setActivationFn(new org.nd4j.linalg.activations.impl.ActivationSigmoid());
        Shrink.Result s = Shrink.shrink(sig, masks);
        assertEquals(Map.of(), s.changes());
        assertEquals(Map.of(0, "its activation is not 0 at 0, so a pruned unit's state is not 0"), s.skipped());
    }
}
