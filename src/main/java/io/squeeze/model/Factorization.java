package io.squeeze.model;

import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Rewrites dense layers as products of two thin ones: a layer with W [nIn, nOut] ≈ A·B (A [nIn, k], B [k, nOut])
 * becomes Dense(nIn → k, identity, no bias, W = A) followed by the original layer type (dense or output: its
 * activation, loss and bias) with nIn = k and W = B. The result is a plain DL4J network with k·(nIn + nOut)
 * instead of nIn·nOut weights in that layer.
 */
public final class Factorization {
    private Factorization() {}

    /** The factors of one layer, C order. */
    public record Factors(float[] a, float[] b, int rank) {}

    public static MultiLayerNetwork rewrite(MultiLayerNetwork net, Map<Integer, Factors> byLayer) {
        MultiLayerConfiguration old = net.getLayerWiseConfigurations();
        MultiLayerConfiguration conf = old.clone();
        List<NeuralNetConfiguration> confs = new ArrayList<>();
        Map<Integer, InputPreProcessor> pre = new HashMap<>();
        List<int[]> origin = new ArrayList<>(); // new index -> {old index, part: 0 whole, 1 = A, 2 = B}
        for (int i = 0; i < old.getConfs().size(); i++) {
            NeuralNetConfiguration c = old.getConf(i).clone();
            if (old.getInputPreProcess(i) != null) pre.put(confs.size(), old.getInputPreProcess(i).clone());
            Factors f = byLayer.get(i);
            if (f == null) {
                confs.add(c);
                origin.add(new int[]{i, 0});
                continue;
            }
            FeedForwardLayer l = (FeedForwardLayer) c.getLayer();
            DenseLayer a = new DenseLayer.Builder().nIn(l.getNIn()).nOut(f.rank()).activation(Activation.IDENTITY).hasBias(false)
                    .name((l.getLayerName() == null ? "layer" + i : l.getLayerName()) + "_a").build();
            a.setIUpdater(l.getIUpdater());
            a.setWeightInitFn(l.getWeightInitFn());
            a.setRegularization(l.getRegularization());
            a.setGradientNormalization(l.getGradientNormalization());
            a.setGradientNormalizationThreshold(l.getGradientNormalizationThreshold());
            NeuralNetConfiguration ca = c.clone();
            ca.setLayer(a);
            confs.add(ca);
            origin.add(new int[]{i, 1});
            FeedForwardLayer b = (FeedForwardLayer) l.clone();
            b.setNIn(f.rank());
            b.setLayerName((l.getLayerName() == null ? "layer" + i : l.getLayerName()) + "_b");
            NeuralNetConfiguration cb = c.clone();
            cb.setLayer(b);
            confs.add(cb);
            origin.add(new int[]{i, 2});
        }
        conf.setConfs(confs);
        conf.setInputPreProcessors(pre);
        MultiLayerNetwork out = new MultiLayerNetwork(conf);
        out.init();
        for (int j = 0; j < confs.size(); j++) {
            int[] o = origin.get(j);
            var src = net.getLayer(o[0]);
            var dst = out.getLayer(j);
            if (o[1] == 0) {
                src.paramTable().forEach((k, v) -> dst.setParam(k, v.dup()));
            } else {
                Factors f = byLayer.get(o[0]);
                long nIn = src.getParam("W").rows(), nOut = src.getParam("W").columns();
                if (o[1] == 1) {
                    dst.setParam("W", Nd4j.create(f.a(), new long[]{nIn, f.rank()}, 'c'));
                } else {
                    dst.setParam("W", Nd4j.create(f.b(), new long[]{f.rank(), nOut}, 'c'));
                    INDArray bias = src.getParam("b");
                    if (bias != null) dst.setParam("b", bias.dup());
                }
            }
        }
        return out;
    }
}
