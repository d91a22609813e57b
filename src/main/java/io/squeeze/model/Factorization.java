package io.squeeze.model;

import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
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
 *
 * <p>A convolution's W [out, in, kh, kw] is factorized as the matrix [out, in·kh·kw] ≈ A·B (A [out, k],
 * B [k, in·kh·kw]) and becomes a k-filter kh×kw convolution with B's rows as filters (the original stride,
 * padding, dilation and mode; identity, no bias) followed by a 1×1 convolution with A (the original activation
 * and bias): the composition computes Σ_k A[o,k] Σ B[k,·]·x = (A·B)·x exactly, with k·(out + in·kh·kw) weights.
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
            if (c.getLayer() instanceof ConvolutionLayer conv) {
                ConvolutionLayer first = new ConvolutionLayer.Builder(conv.getKernelSize()).nIn(conv.getNIn()).nOut(f.rank())
                        .stride(conv.getStride()).padding(conv.getPadding()).dilation(conv.getDilation())
                        .convolutionMode(conv.getConvolutionMode()).activation(Activation.IDENTITY).hasBias(false)
                        .name(partName(conv, i, "_a")).build();
                trainLike(conv, first);
                add(confs, origin, c, first, i, 1);
                ConvolutionLayer second = (ConvolutionLayer) conv.clone();
                second.setNIn(f.rank());
                second.setKernelSize(new int[]{1, 1});
                second.setStride(new int[]{1, 1});
                second.setPadding(new int[]{0, 0});
                second.setDilation(new int[]{1, 1});
                second.setLayerName(partName(conv, i, "_b"));
                add(confs, origin, c, second, i, 2);
                continue;
            }
            FeedForwardLayer l = (FeedForwardLayer) c.getLayer();
            DenseLayer a = new DenseLayer.Builder().nIn(l.getNIn()).nOut(f.rank()).activation(Activation.IDENTITY).hasBias(false)
                    .name(partName(l, i, "_a")).build();
            trainLike(l, a);
            a.setGradientNormalization(l.getGradientNormalization());
            a.setGradientNormalizationThreshold(l.getGradientNormalizationThreshold());
            add(confs, origin, c, a, i, 1);
            FeedForwardLayer b = (FeedForwardLayer) l.clone();
            b.setNIn(f.rank());
            b.setLayerName(partName(l, i, "_b"));
            add(confs, origin, c, b, i, 2);
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
            } else if (src.conf().getLayer() instanceof ConvolutionLayer) {
                Factors f = byLayer.get(o[0]);
                long[] shape = src.getParam("W").shape(); // [out, in, kh, kw]; f.a() is [out, k], f.b() is [k, in·kh·kw]
                if (o[1] == 1) {
                    dst.setParam("W", Nd4j.create(f.b(), new long[]{f.rank(), shape[1], shape[2], shape[3]}, 'c'));
                } else {
                    dst.setParam("W", Nd4j.create(f.a(), new long[]{shape[0], f.rank(), 1, 1}, 'c'));
                    INDArray bias = src.getParam("b");
                    if (bias != null) dst.setParam("b", bias.dup());
                }
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

    /** The name of part {@code suffix} ({@code _a}, {@code _b}) of old layer {@code i}. */
    private static String partName(org.deeplearning4j.nn.conf.layers.Layer l, int i, String suffix) {
        return (l.getLayerName() == null ? "layer" + i : l.getLayerName()) + suffix;
    }

    /** Gives the new first factor the old layer's updater, weight init and regularization (it trains like the layer). */
    private static void trainLike(org.deeplearning4j.nn.conf.layers.BaseLayer from, org.deeplearning4j.nn.conf.layers.BaseLayer to) {
        to.setIUpdater(from.getIUpdater());
        to.setWeightInitFn(from.getWeightInitFn());
        to.setRegularization(from.getRegularization());
    }

    /** Appends {@code layer} in a copy of {@code c}'s configuration, as part {@code part} (1 = A, 2 = B) of old layer {@code i}. */
    private static void add(List<NeuralNetConfiguration> confs, List<int[]> origin, NeuralNetConfiguration c,
                            org.deeplearning4j.nn.conf.layers.Layer layer, int i, int part) {
        NeuralNetConfiguration copy = c.clone();
        copy.setLayer(layer);
        confs.add(copy);
        origin.add(new int[]{i, part});
    }
}
