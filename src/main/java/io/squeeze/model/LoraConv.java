package io.squeeze.model;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.InputTypeUtil;
import org.deeplearning4j.nn.conf.layers.samediff.SDLayerParams;
import org.deeplearning4j.nn.conf.layers.samediff.SameDiffLayer;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.enums.WeightsFormat;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.layers.convolution.config.Conv2DConfig;
import org.nd4j.linalg.api.ops.impl.layers.convolution.config.PaddingMode;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.learning.regularization.Regularization;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * A 2-D convolution (NCHW, DL4J's {@code ConvolutionLayer}) with a LoRA adapter, as LoRA is applied to convolutions
 * (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"; the convolution form of Microsoft's
 * {@code loralib.Conv2d} and PEFT's {@code lora.Conv2d}): the kernel seen as a matrix of its {@code nIn·kH·kW} inputs
 * by its {@code nOut} outputs gets a rank-r update {@code (α/r)·A·B}, A [nIn·kH·kW, r] Gaussian and B [r, nOut]
 * zero, so at step 0 the layer computes exactly the base convolution. The layer convolves with
 * {@code W + (α/r)·(A·B)ᵀ} reshaped to W's [nOut, nIn, kH, kW]; W and b are frozen (a zero learning rate, no
 * regularization) and only A and B train. Same padding, or explicit padding (Truncate/Strict), strides and dilations as
 * the base layer. A DL4J SameDiff layer: plain configuration, JSON- and Java-serializable, so it trains on Spark.
 */
// its settings are private fields: DL4J's JSON (model zips, configuration copies) must see them
@org.nd4j.shade.jackson.annotation.JsonAutoDetect(fieldVisibility = org.nd4j.shade.jackson.annotation.JsonAutoDetect.Visibility.ANY)
public final class LoraConv extends SameDiffLayer implements LoraLayer {
    private long nIn;
    private long nOut;
    private int[] kernel;
    private int[] stride;
    private int[] padding;
    private int[] dilation;
    private ConvolutionMode mode;
    private boolean hasBias;
    private int rank;
    private double alpha;
    private Activation activation;
    private long seed;

    public LoraConv() {
        // for DL4J's JSON deserialization
    }

    /** The adapted form of {@code c} (its geometry, bias and name), with rank r, α and the activation {@code activation}. */
    public LoraConv(ConvolutionLayer c, int rank, double alpha, Activation activation, long seed) {
        this.layerName = c.getLayerName();
        this.nIn = c.getNIn();
        this.nOut = c.getNOut();
        this.kernel = c.getKernelSize().clone();
        this.stride = c.getStride().clone();
        this.padding = c.getPadding().clone();
        this.dilation = c.getDilation().clone();
        this.mode = c.getConvolutionMode() == null ? ConvolutionMode.Truncate : c.getConvolutionMode();
        this.hasBias = c.hasBias();
        this.rank = rank;
        this.alpha = alpha;
        this.activation = activation;
        this.seed = seed;
    }

    /** The plain convolution this adapter merges into (geometry, bias, name and activation; updater set by the caller). */
    public ConvolutionLayer plain() {
        return new ConvolutionLayer.Builder(kernel[0], kernel[1]).stride(stride[0], stride[1]).padding(padding[0], padding[1])
                .dilation(dilation[0], dilation[1]).convolutionMode(mode).hasBias(hasBias).nIn(nIn).nOut(nOut)
                .activation(activation).name(layerName).build();
    }

    /** The update (α/r)·(A·B)ᵀ in W's [nOut, nIn, kH, kW] shape. */
    public INDArray delta(INDArray a, INDArray b) {
        return a.mmul(b).transpose().dup('c').reshape('c', nOut, nIn, kernel[0], kernel[1]).muli(scale());
    }

    @Override
    public long nIn() {
        return nIn;
    }

    @Override
    public long nOut() {
        return nOut;
    }

    /** The rows of A: the kernel's inputs, nIn·kH·kW. */
    public long fanIn() {
        return nIn * kernel[0] * kernel[1];
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public double scale() {
        return alpha / rank;
    }

    @Override
    public long adapterParams() {
        return (long) rank * (fanIn() + nOut);
    }

    public boolean hasBias() {
        return hasBias;
    }

    @Override
    public void defineParameters(SDLayerParams p) {
        p.addWeightParam("W", nOut, nIn, kernel[0], kernel[1]);
        if (hasBias) p.addBiasParam("b", 1, nOut);
        p.addWeightParam("A", fanIn(), rank);
        p.addWeightParam("B", rank, nOut);
    }

    @Override
    public void initializeParameters(Map<String, INDArray> params) {
        LoraLayer.initialize(params, seed, fanIn(), nOut);
    }

    @Override
    public SDVariable defineLayer(SameDiff sd, SDVariable x, Map<String, SDVariable> p, SDVariable mask) {
        SDVariable delta = p.get("A").mmul(p.get("B")).permute(1, 0).reshape(nOut, nIn, kernel[0], kernel[1]).mul(scale());
        // libnd4j's default kernel layout [kH, kW, nIn, nOut] (its backward pass refuses OIYX in 1.0.0-M2)
        SDVariable w = p.get("W").add(delta).permute(2, 3, 1, 0);
        Conv2DConfig cfg = Conv2DConfig.builder().kH(kernel[0]).kW(kernel[1]).sH(stride[0]).sW(stride[1]).pH(padding[0]).pW(padding[1])
                .dH(dilation[0]).dW(dilation[1]).paddingMode(mode == ConvolutionMode.Same ? PaddingMode.SAME : PaddingMode.VALID)
                .dataFormat("NCHW").weightsFormat(WeightsFormat.YXIO).build();
        SDVariable z = hasBias ? sd.cnn().conv2d(x, w, p.get("b").reshape(nOut), cfg) : sd.cnn().conv2d(x, w, cfg);
        return activation.asSameDiff("out", sd, z);
    }

    @Override
    public IUpdater getUpdaterByParam(String param) {
        return LoraLayer.trains(param) ? updater : new Sgd(0.0);
    }

    @Override
    public List<Regularization> getRegularizationByParam(String param) {
        return LoraLayer.trains(param) && regularization != null ? regularization : List.of();
    }

    @Override
    public InputType getOutputType(int layerIndex, InputType inputType) {
        return InputTypeUtil.getOutputTypeCnnLayers(inputType, kernel, stride, padding, dilation, mode, nOut, layerIndex, layerName,
                CNN2DFormat.NCHW, ConvolutionLayer.class);
    }

    @Override
    public void setNIn(InputType inputType, boolean override) {
        if (override || nIn <= 0) nIn = ((InputType.InputTypeConvolutional) inputType).getChannels();
    }

    @Override
    public char paramReshapeOrder(String param) {
        return 'c';
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LoraConv l && super.equals(o) && nIn == l.nIn && nOut == l.nOut && Arrays.equals(kernel, l.kernel)
                && Arrays.equals(stride, l.stride) && Arrays.equals(padding, l.padding) && Arrays.equals(dilation, l.dilation) && mode == l.mode
                && hasBias == l.hasBias && rank == l.rank && alpha == l.alpha && activation == l.activation && seed == l.seed;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(super.hashCode(), nIn, nOut, Arrays.hashCode(kernel), Arrays.hashCode(stride), Arrays.hashCode(padding),
                Arrays.hashCode(dilation), String.valueOf(mode), hasBias, rank, alpha, activation, seed);
    }
}
