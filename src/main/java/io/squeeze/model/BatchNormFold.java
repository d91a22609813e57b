package io.squeeze.model;

import io.squeeze.core.Mask;
import io.squeeze.core.TensorKey;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Batch normalization folded into the layer before it, for inference. DL4J's BatchNormalization computes, at
 * inference, {@code y = γ (x − μ) / √(σ² + ε) + β} per channel with its running mean μ and variance σ² (stored as
 * σ² or as log₁₀ σ); after a dense layer or a convolution whose activation is the identity, that is the affine map
 * {@code y = a·x + c} with {@code a = γ / √(σ² + ε)}, {@code c = β − a·μ}, so the pair equals one layer with weights
 * {@code W' = a·W} (each output channel scaled) and bias {@code b' = a·b + c}, keeping the identity activation
 * (Ioffe &amp; Szegedy 2015; the folding of Jacob et al. 2018, §3.2, with the running statistics, as PyTorch's
 * {@code fuse_conv_bn_eval}). DL4J 1.0.0-M2's batch normalization applies no activation function — a configured one
 * (even the builder's default sigmoid) is ignored, as measured in {@code BatchNormFoldTest} — so none is carried
 * over. The fold is exact to float rounding (computed in double). A batch
 * normalization anywhere else (after pooling, after a layer with a non-linear activation, as the first layer, NHWC)
 * is not foldable.
 */
public final class BatchNormFold {
    private BatchNormFold() {}

    /** The per-channel map {@code y = scale·x + shift} a batch normalization computes at inference. */
    public record Affine(double[] scale, double[] shift) {}

    /**
     * The folded network and where each layer went.
     *
     * @param net      the network without the folded batch normalizations
     * @param toFolded layer index in the source → index in {@code net} (a folded batch normalization → its host's)
     * @param folded   source index of each folded batch normalization → source index of the layer it was folded into
     */
    public record Folded(MultiLayerNetwork net, int[] toFolded, Map<Integer, Integer> folded) {
        /** The source index of each layer of {@code net}. */
        public int[] original() {
            int[] o = new int[net.getnLayers()];
            for (int i = toFolded.length - 1; i >= 0; i--) if (!folded.containsKey(i)) o[toFolded[i]] = i;
            return o;
        }
    }

    /** The affine map of layer {@code i}, a {@link BatchNormalization}, from its running statistics. */
    public static Affine affine(MultiLayerNetwork net, int i) {
        return affine((BatchNormalization) net.getLayer(i).conf().getLayer(), net.getLayer(i).paramTable());
    }

    /** As above from the layer's configuration and parameters by DL4J key. */
    public static Affine affine(BatchNormalization bn, Map<String, INDArray> params) {
        int n = (int) bn.getNOut();
        double[] gamma = bn.isLockGammaBeta() ? filled(n, bn.getGamma()) : doubles(params.get(BatchNormalizationParamInitializer.GAMMA));
        double[] beta = bn.isLockGammaBeta() ? filled(n, bn.getBeta()) : doubles(params.get(BatchNormalizationParamInitializer.BETA));
        double[] mean = doubles(params.get(BatchNormalizationParamInitializer.GLOBAL_MEAN));
        double[] var;
        if (bn.isUseLogStd()) {
            var = doubles(params.get(BatchNormalizationParamInitializer.GLOBAL_LOG_STD));
            for (int c = 0; c < n; c++) var[c] = Math.pow(Math.pow(10, var[c]), 2);
        } else {
            var = doubles(params.get(BatchNormalizationParamInitializer.GLOBAL_VAR));
        }
        double[] scale = new double[n], shift = new double[n];
        for (int c = 0; c < n; c++) {
            scale[c] = gamma[c] / Math.sqrt(var[c] + bn.getEps());
            shift[c] = beta[c] - scale[c] * mean[c];
        }
        return new Affine(scale, shift);
    }

    /**
     * Whether layer {@code i} is a batch normalization that folds into layer {@code i − 1}: that layer is a dense layer
     * or a plain NCHW convolution (and the normalization NCHW too) with the identity activation and as many outputs, and
     * no preprocessor sits between.
     */
    public static boolean foldable(MultiLayerConfiguration conf, int i) {
        if (i == 0 || !(conf.getConf(i).getLayer() instanceof BatchNormalization bn) || conf.getInputPreProcess(i) != null) return false;
        return foldsInto(conf.getConf(i - 1).getLayer(), bn);
    }

    /**
     * Whether {@code bn}, reading {@code host} directly, folds into it: the host is a dense layer or a plain NCHW
     * convolution (and the normalization NCHW too) with the identity activation and as many outputs.
     */
    public static boolean foldsInto(Layer host, BatchNormalization bn) {
        boolean kind = host.getClass() == DenseLayer.class
                || host.getClass() == ConvolutionLayer.class && ((ConvolutionLayer) host).getCnn2dDataFormat() == CNN2DFormat.NCHW
                && channelsFirst(bn, true);
        return kind && ((BaseLayer) host).getActivationFn() instanceof ActivationIdentity
                && ((org.deeplearning4j.nn.conf.layers.FeedForwardLayer) host).getNOut() == bn.getNOut();
    }

    /**
     * Whether {@code bn} normalizes the channels Squeeze's NCHW images carry: after a convolution (or pooling) it must
     * not be NHWC; on flat inputs ({@code image} false) its image format is moot.
     */
    public static boolean channelsFirst(BatchNormalization bn, boolean image) {
        return !image || bn.getCnn2DFormat() != CNN2DFormat.NHWC;
    }

    /**
     * Weights and bias of a host layer with the affine map folded in: {@code w} in DL4J's C order (dense [nIn, nOut]:
     * channel = column; convolution [out, in, kh, kw]: channel = leading axis), {@code b} null for no bias.
     */
    public static float[][] fold(float[] w, float[] b, boolean dense, Affine a) {
        int n = a.scale().length;
        float[] w2 = new float[w.length], b2 = new float[n];
        int per = w.length / n;
        for (int k = 0; k < w.length; k++) {
            int c = dense ? k % n : k / per;
            w2[k] = (float) (w[k] * a.scale()[c]);
        }
        for (int c = 0; c < n; c++) b2[c] = (float) ((b == null ? 0 : b[c]) * a.scale()[c] + a.shift()[c]);
        return new float[][]{w2, b2};
    }

    /** {@code net} with every foldable batch normalization folded into the layer before it (the same network when none folds). */
    public static Folded fold(MultiLayerNetwork net) {
        MultiLayerConfiguration src = net.getLayerWiseConfigurations();
        int n = src.getConfs().size();
        int[] to = new int[n];
        Map<Integer, Integer> folded = new TreeMap<>();
        List<NeuralNetConfiguration> confs = new ArrayList<>();
        Map<Integer, InputPreProcessor> pre = new HashMap<>();
        for (int i = 0; i < n; i++) {
            if (foldable(src, i)) {
                folded.put(i, i - 1);
                to[i] = confs.size() - 1;
                Layer host = confs.get(confs.size() - 1).getLayer();
                if (host instanceof ConvolutionLayer c) c.setHasBias(true);
                if (host instanceof DenseLayer d) d.setHasBias(true);
                continue;
            }
            to[i] = confs.size();
            if (src.getInputPreProcess(i) != null) pre.put(confs.size(), src.getInputPreProcess(i).clone());
            confs.add(src.getConf(i).clone());
        }
        if (folded.isEmpty()) {
            int[] id = new int[n];
            for (int i = 0; i < n; i++) id[i] = i;
            return new Folded(net, id, Map.of());
        }
        MultiLayerConfiguration conf = src.clone();
        conf.setConfs(confs);
        conf.setInputPreProcessors(pre);
        MultiLayerNetwork out = new MultiLayerNetwork(conf);
        out.init();
        for (int i = 0; i < n; i++) {
            if (folded.containsKey(i)) continue;
            var target = out.getLayer(to[i]);
            if (folded.containsKey(i + 1)) {
                Affine a = affine(net, i + 1);
                INDArray bp = net.getLayer(i).getParam("b");
                float[][] wb = fold(Surgery.values(net, i, "W"), bp == null ? null : Surgery.values(net, i, "b"),
                        !(net.getLayer(i).conf().getLayer() instanceof ConvolutionLayer), a);
                target.setParam("W", Nd4j.create(wb[0], target.getParam("W").shape(), 'c'));
                target.setParam("b", Nd4j.create(wb[1], target.getParam("b").shape(), 'c'));
            } else {
                Surgery.copyParams(net.getLayer(i), target);
            }
        }
        return new Folded(out, to, folded);
    }

    /**
     * Masks of the source network re-indexed for the folded one. A folded layer's weight mask still holds (scaling
     * keeps zeros zero); its bias mask is dropped, because the folded bias {@code a·b + c} of a pruned channel is the
     * constant the batch normalization emitted for it.
     */
    public static Map<TensorKey, Mask> masks(Map<TensorKey, Mask> masks, Folded f) {
        Map<TensorKey, Mask> out = new TreeMap<>();
        masks.forEach((k, m) -> {
            if (f.folded().containsKey(k.layer())) return;
            if (f.folded().containsValue(k.layer()) && !k.param().equals("W")) return;
            out.put(new TensorKey(f.toFolded()[k.layer()], k.param()), m);
        });
        return out;
    }

    /** {@code m} with its network folded and its masks re-indexed. */
    public static LoadedModel fold(LoadedModel m, Folded f) {
        return new LoadedModel(f.net(), m.meta(), m.sha256(), m.source(), m.kind(), m.storedBytes(), masks(m.masks(), f));
    }

    private static double[] doubles(INDArray a) {
        return a.dup('c').castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE).data().asDouble();
    }

    private static double[] filled(int n, double v) {
        double[] d = new double[n];
        java.util.Arrays.fill(d, v);
        return d;
    }
}
