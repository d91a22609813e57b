package io.squeeze.model;

import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.convolution.ConvolutionHelper;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Map;

/**
 * A convolution helper wrapped around a layer's own ({@code own}: oneDNN's, another wrapper, or null when the layer
 * has none): every call it does not override goes to {@code own}, or, without one, back to DL4J's own path (a null
 * result; the activation applied by {@code afn}). Squeeze's training kernels for convolutions ({@link ConvForwardOnce},
 * {@link InputConvGradients}, {@link StrideOneConvForward}) each override the pass they compute.
 */
abstract class WrappingConvHelper implements ConvolutionHelper {
    protected final ConvolutionHelper own;

    WrappingConvHelper(ConvolutionHelper own) {
        this.own = own;
    }

    /** The helper this one wraps (null: DL4J's own path). */
    ConvolutionHelper own() {
        return own;
    }

    @Override
    public boolean checkSupported() {
        return true;
    }

    @Override
    public INDArray preOutput(INDArray input, INDArray weights, INDArray bias, int[] kernel, int[] strides, int[] pad,
                              org.deeplearning4j.nn.conf.layers.ConvolutionLayer.AlgoMode mode,
                              org.deeplearning4j.nn.conf.layers.ConvolutionLayer.FwdAlgo fwdAlgo, ConvolutionMode convolutionMode, int[] dilation,
                              CNN2DFormat format, LayerWorkspaceMgr workspaceMgr) {
        return own == null ? null : own.preOutput(input, weights, bias, kernel, strides, pad, mode, fwdAlgo, convolutionMode, dilation, format, workspaceMgr);
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray input, INDArray weights, INDArray bias, INDArray delta, int[] kernel,
                                                     int[] strides, int[] pad, INDArray biasGradView, INDArray weightGradView, IActivation afn,
                                                     org.deeplearning4j.nn.conf.layers.ConvolutionLayer.AlgoMode mode,
                                                     org.deeplearning4j.nn.conf.layers.ConvolutionLayer.BwdFilterAlgo bwdFilterAlgo,
                                                     org.deeplearning4j.nn.conf.layers.ConvolutionLayer.BwdDataAlgo bwdDataAlgo,
                                                     ConvolutionMode convolutionMode, int[] dilation, CNN2DFormat format, LayerWorkspaceMgr workspaceMgr) {
        return own == null ? null : own.backpropGradient(input, weights, bias, delta, kernel, strides, pad, biasGradView, weightGradView, afn,
                mode, bwdFilterAlgo, bwdDataAlgo, convolutionMode, dilation, format, workspaceMgr);
    }

    @Override
    public INDArray activate(INDArray z, IActivation afn, boolean training) {
        return own == null ? afn.getActivation(z, training) : own.activate(z, afn, training);
    }

    @Override
    public Map<String, Long> helperMemoryUse() {
        return own == null ? Map.of() : own.helperMemoryUse();
    }
}
