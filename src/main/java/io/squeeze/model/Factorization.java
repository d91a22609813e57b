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
 *
 * <p>A recurrent layer's input and recurrent matrices are factorized in place: an LSTM becomes a {@link FactoredLstm},
 * a SimpleRnn a {@link FactoredSimpleRnn}.
 */
public final class Factorization {
    private Factorization() {}

    /** The factors of one layer, C order. */
    public record Factors(float[] a, float[] b, int rank) {}

    /** The factors of a recurrent layer's input matrix W and recurrent matrix RW; either null keeps that matrix whole. */
    public record RecurrentFactors(Factors w, Factors rw) {
        /** The factors of {@code param} ({@code W} or {@code RW}), or null when it stays whole. */
        public Factors of(String param) {
            return "W".equals(param) ? w : rw;
        }

        public int rank(String param) {
            return of(param) == null ? 0 : of(param).rank();
        }
    }

    public static MultiLayerNetwork rewrite(MultiLayerNetwork net, Map<Integer, Factors> byLayer) {
        return rewrite(net, byLayer, Map.of());
    }

    /**
     * As above, with {@code recurrent}'s layers becoming factored ones ({@link FactoredRecurrent}; one layer each, in
     * place; {@code byLayer} holds only dense and convolution layers).
     */
    public static MultiLayerNetwork rewrite(MultiLayerNetwork net, Map<Integer, Factors> byLayer, Map<Integer, RecurrentFactors> recurrent) {
        MultiLayerConfiguration old = net.getLayerWiseConfigurations();
        MultiLayerConfiguration conf = old.clone();
        List<NeuralNetConfiguration> confs = new ArrayList<>();
        Map<Integer, InputPreProcessor> pre = new HashMap<>();
        List<int[]> origin = new ArrayList<>(); // new index -> {old index, part: 0 whole, 1 = A, 2 = B}
        for (int i = 0; i < old.getConfs().size(); i++) {
            NeuralNetConfiguration c = old.getConf(i).clone();
            if (old.getInputPreProcess(i) != null) pre.put(confs.size(), old.getInputPreProcess(i).clone());
            RecurrentFactors lf = recurrent.get(i);
            if (lf != null) {
                c.setLayer(c.getLayer() instanceof org.deeplearning4j.nn.conf.layers.LSTM lstm ? FactoredLstm.of(lstm, lf.rank("W"), lf.rank("RW"))
                        : FactoredSimpleRnn.of((org.deeplearning4j.nn.conf.layers.recurrent.SimpleRnn) c.getLayer(), lf.rank("W"), lf.rank("RW")));
                confs.add(c);
                origin.add(new int[]{i, 3});
                continue;
            }
            Factors f = byLayer.get(i);
            if (f == null) {
                confs.add(c);
                origin.add(new int[]{i, 0});
                continue;
            }
            org.deeplearning4j.nn.conf.layers.Layer[] parts = parts(c.getLayer(), f.rank(), partName(c.getLayer(), i, "_a"), partName(c.getLayer(), i, "_b"));
            add(confs, origin, c, parts[0], i, 1);
            add(confs, origin, c, parts[1], i, 2);
        }
        conf.setConfs(confs);
        conf.setInputPreProcessors(pre);
        MultiLayerNetwork out = new MultiLayerNetwork(conf);
        out.init();
        for (int j = 0; j < confs.size(); j++) {
            int[] o = origin.get(j);
            var src = net.getLayer(o[0]);
            var dst = out.getLayer(j);
            if (o[1] == 0) src.paramTable().forEach((k, v) -> dst.setParam(k, v.dup()));
            else if (o[1] == 2) setParts(src, byLayer.get(o[0]), out.getLayer(j - 1), dst);
            else if (o[1] == 3) setRecurrent(src, recurrent.get(o[0]), dst);
        }
        return out;
    }

    /**
     * The two layers replacing {@code l} at {@code rank}: for a convolution a {@code rank}-filter convolution of its
     * kernel, stride, padding, dilation and mode (identity, no bias), then a 1×1 convolution with its activation and
     * bias; for a dense or output layer a dense {@code nIn → rank} (identity, no bias), then the layer itself with
     * {@code nIn = rank}. The first trains like {@code l} (updater, weight init, regularization).
     */
    public static org.deeplearning4j.nn.conf.layers.Layer[] parts(org.deeplearning4j.nn.conf.layers.Layer l, int rank, String nameA, String nameB) {
        if (l instanceof ConvolutionLayer conv) {
            ConvolutionLayer first = new ConvolutionLayer.Builder(conv.getKernelSize()).nIn(conv.getNIn()).nOut(rank)
                    .stride(conv.getStride()).padding(conv.getPadding()).dilation(conv.getDilation())
                    .convolutionMode(conv.getConvolutionMode()).activation(Activation.IDENTITY).hasBias(false).name(nameA).build();
            trainLike(conv, first);
            ConvolutionLayer second = (ConvolutionLayer) conv.clone();
            second.setNIn(rank);
            second.setKernelSize(new int[]{1, 1});
            second.setStride(new int[]{1, 1});
            second.setPadding(new int[]{0, 0});
            second.setDilation(new int[]{1, 1});
            second.setLayerName(nameB);
            return new org.deeplearning4j.nn.conf.layers.Layer[]{first, second};
        }
        FeedForwardLayer ff = (FeedForwardLayer) l;
        DenseLayer a = new DenseLayer.Builder().nIn(ff.getNIn()).nOut(rank).activation(Activation.IDENTITY).hasBias(false).name(nameA).build();
        trainLike(ff, a);
        a.setGradientNormalization(ff.getGradientNormalization());
        a.setGradientNormalizationThreshold(ff.getGradientNormalizationThreshold());
        FeedForwardLayer b = (FeedForwardLayer) ff.clone();
        b.setNIn(rank);
        b.setLayerName(nameB);
        return new org.deeplearning4j.nn.conf.layers.Layer[]{a, b};
    }

    /** The parts' parameters: the factors as their weights ({@link #parts}' shapes), {@code src}'s bias on the second. */
    public static void setParts(org.deeplearning4j.nn.api.Layer src, Factors f, org.deeplearning4j.nn.api.Layer first, org.deeplearning4j.nn.api.Layer second) {
        long[] shape = src.getParam("W").shape();
        if (src.conf().getLayer() instanceof ConvolutionLayer) { // [out, in, kh, kw]; f.a() is [out, k], f.b() is [k, in·kh·kw]
            first.setParam("W", Nd4j.create(f.b(), new long[]{f.rank(), shape[1], shape[2], shape[3]}, 'c'));
            second.setParam("W", Nd4j.create(f.a(), new long[]{shape[0], f.rank(), 1, 1}, 'c'));
        } else { // [nIn, nOut]; f.a() is [nIn, k], f.b() is [k, nOut]
            first.setParam("W", Nd4j.create(f.a(), new long[]{shape[0], f.rank()}, 'c'));
            second.setParam("W", Nd4j.create(f.b(), new long[]{f.rank(), shape[1]}, 'c'));
        }
        INDArray bias = src.paramTable().get("b");
        if (bias != null) second.setParam("b", bias.dup());
    }

    /** A factored recurrent layer's parameters: each factored matrix's factors (C order, as for a dense layer), the rest copied. */
    private static void setRecurrent(org.deeplearning4j.nn.api.Layer src, RecurrentFactors f, org.deeplearning4j.nn.api.Layer dst) {
        for (String p : new String[]{"W", "RW"}) {
            Factors pf = f.of(p);
            long[] shape = src.getParam(p).shape();
            if (pf == null) {
                dst.setParam(p, src.getParam(p).dup());
                continue;
            }
            dst.setParam(p + "A", Nd4j.create(pf.a(), new long[]{shape[0], pf.rank()}, 'c'));
            dst.setParam(p + "B", Nd4j.create(pf.b(), new long[]{pf.rank(), shape[1]}, 'c'));
        }
        dst.setParam("b", src.getParam("b").dup());
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
