package io.squeeze.prune;

import io.squeeze.TestModels;
import io.squeeze.core.Mask;
import io.squeeze.core.TensorKey;
import io.squeeze.model.Surgery;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Shrinking passes through batch normalization: removed channels and neurons leave the batch normalizations after them
 * too, their constant output (the batch normalization's shift, through a ReLU or tanh layer) is folded into the next
 * layer's bias, and the shrunk network computes what the masked one does — and still trains.
 */
class ShrinkBatchNormTest {
    /** A structured mask of a W whose slices along {@code axis} listed in {@code dead} are pruned. */
    static Mask dead(long[] shape, int axis, Set<Integer> dead) {
        long inner = 1;
        for (int a = axis + 1; a < shape.length; a++) inner *= shape[a];
        int n = 1;
        for (long s : shape) n *= (int) s;
        boolean[] kept = new boolean[n];
        for (int k = 0; k < n; k++) kept[k] = !dead.contains((int) ((k / inner) % shape[axis]));
        return Mask.of(kept);
    }

    @Test
    void shrunkNetworkWithBatchNormalizationEqualsTheMaskedOne() {
        MultiLayerNetwork net = TestModels.bnConvNet(11, true);
        Map<TensorKey, Mask> masks = new TreeMap<>();
        masks.put(TensorKey.weights(0), dead(net.getLayer(0).getParam("W").shape(), 0, Set.of(1, 4)));
        masks.put(TensorKey.weights(4), dead(net.getLayer(4).getParam("W").shape(), 0, Set.of(0, 3, 5)));
        masks.put(TensorKey.weights(6), dead(net.getLayer(6).getParam("W").shape(), 1, Set.of(2, 7, 9)));
        Surgery.applyMasks(net, masks);
        Shrink.Result r = Shrink.shrink(net, masks);
        assertEquals(Map.of(0, "channels 6 -> 4", 4, "channels 8 -> 5", 6, "nOut 16 -> 13"), r.changes());
        assertTrue(r.skipped().isEmpty(), r.skipped().toString());
        for (int[] bn : new int[][]{{1, 4}, {5, 5}, {7, 13}}) {
            assertEquals(bn[1], ((BatchNormalization) r.net().getLayer(bn[0]).conf().getLayer()).getNOut());
            for (var p : r.net().getLayer(bn[0]).paramTable().values()) assertEquals(bn[1], p.length(), "layer " + bn[0]);
        }
        assertTrue(r.net().numParams() < net.numParams());
        Nd4j.getRandom().setSeed(4);
        INDArray x = Nd4j.rand(DataType.FLOAT, 16, 144);
        INDArray want = net.output(x), got = r.net().output(x);
        double d = want.sub(got).amax().getDouble(0);
        assertTrue(d < 1e-5, "shrunk vs masked: max difference " + d);

        INDArray y = Nd4j.zeros(DataType.FLOAT, 16, 10);
        for (int i = 0; i < 16; i++) y.putScalar(i, i % 10, 1);
        r.net().fit(new DataSet(x, y));
        double first = r.net().score(); // the training loss (batch statistics)
        for (int s = 0; s < 30; s++) r.net().fit(new DataSet(x, y));
        assertTrue(r.net().score() < first - 0.05, "the shrunk network with its batch normalizations still trains: " + first + " -> " + r.net().score());
    }
}
