package io.squeeze.artifact;

import io.squeeze.core.TensorKey;
import io.squeeze.TestModels;
import io.squeeze.model.ModelIO;
import io.squeeze.model.NetOps;
import io.squeeze.core.Mask;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.quantize.QuantizedModel;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Whole packed model vs the dense fp32 DL4J zip at a realistic size: LeNet-300-100 (266,610 parameters) with
 * Gaussian weights N(0, 1/fan-in), the shape trained weights take (a uniform init would be the incompressible
 * worst case).
 */
class PackedSizeTest {
    static MultiLayerNetwork lenet300() {
        MultiLayerNetwork net = TestModels.mlp(784, new int[]{300, 100}, 10, 7);
        Random r = new Random(7);
        for (int i = 0; i < net.getnLayers(); i++) {
            var w = net.getLayer(i).getParam("W");
            float[] v = new float[(int) w.length()];
            for (int k = 0; k < v.length; k++) v[k] = (float) (r.nextGaussian() / Math.sqrt(w.size(0)));
            w.assign(Nd4j.create(v, w.shape(), 'c'));
        }
        return net;
    }

    static long packed(MultiLayerNetwork net, Map<TensorKey, Mask> masks, QuantizedModel q) {
        return PackedModel.encode(net, TestModels.meta(784, 10), masks, q).files().values().stream().mapToLong(b -> b.length).sum();
    }

    static QuantizedModel quantized(MultiLayerNetwork net, QuantConfig.Precision p) {
        return QuantizedModel.quantizeWeights(NetOps.of(net), new QuantConfig(QuantConfig.Mode.DYNAMIC, p, QuantConfig.Granularity.CHANNEL,
                null, false, null, List.of()), Map.of());
    }

    @Test
    void int8Int4AndFp16AreAtLeast39And75And195TimesSmaller() {
        MultiLayerNetwork net = lenet300();
        long zip = ModelIO.toZip(net, TestModels.meta(784, 10)).length;
        double int8 = zip / (double) packed(net, Map.of(), quantized(net, QuantConfig.Precision.INT8));
        double int4 = zip / (double) packed(net, Map.of(), quantized(net, QuantConfig.Precision.INT4));
        double fp16 = zip / (double) packed(net, Map.of(), quantized(net, QuantConfig.Precision.FP16));
        assertTrue(int8 >= 3.9, "int8 " + int8);
        assertTrue(int4 >= 7.5, "int4 " + int4);
        assertTrue(fp16 >= 1.95, "fp16 " + fp16);
    }

    @Test
    void pruningAndQuantizationSavingsMultiply() {
        MultiLayerNetwork net = lenet300();
        long zip = ModelIO.toZip(net, TestModels.meta(784, 10)).length; // the dense model's
        Map<TensorKey, Mask> masks = new TreeMap<>();
        Random r = new Random(3);
        for (int i = 0; i < net.getnLayers(); i++) {
            var w = net.getLayer(i).getParam("W");
            boolean[] keep = new boolean[(int) w.length()];
            float[] v = w.dup('c').data().asFloat();
            for (int k = 0; k < keep.length; k++) {
                keep[k] = r.nextDouble() < 0.1;
                if (!keep[k]) v[k] = 0f;
            }
            w.assign(Nd4j.create(v, w.shape(), 'c'));
            masks.put(TensorKey.weights(i), Mask.of(keep));
        }
        double pruned = zip / (double) packed(net, masks, null), both = zip / (double) packed(net, masks, quantized(net, QuantConfig.Precision.INT8));
        assertTrue(pruned > 5, "90 % pruned: " + pruned);
        assertTrue(both > 2.3 * pruned, "pruned " + pruned + "x, pruned + int8 " + both + "x");
    }
}
