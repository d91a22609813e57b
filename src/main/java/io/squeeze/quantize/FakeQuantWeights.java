package io.squeeze.quantize;

import org.nd4j.shade.jackson.annotation.JsonProperty;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.weightnoise.IWeightNoise;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Fake quantization of a layer's weights W in every forward pass (training and inference), through DL4J's
 * weight-noise hook: the layer computes with dequantize(quantize(W)) while the float W is what the updater
 * changes. Since DL4J computes W's gradient from the layer's input and output error only, and the error passed
 * backwards from the noisy W, this is exactly the straight-through estimator for weights (QAT as in Jacob et al.
 * 2018). Quantization is {@link QuantizedTensor#quantize} with the layer's precision, scheme and channel axis,
 * its scales recomputed from the current weights each time (PyTorch's weight observer does the same).
 */
public class FakeQuantWeights implements IWeightNoise {
    private static final long serialVersionUID = 1L;
    @JsonProperty
    private QuantizedTensor.Format format;
    @JsonProperty
    private boolean symmetric;
    @JsonProperty
    private int axis;

    public FakeQuantWeights() {} // Jackson

    public FakeQuantWeights(QuantizedTensor.Format format, boolean symmetric, int axis) {
        this.format = format;
        this.symmetric = symmetric;
        this.axis = axis;
    }

    @Override
    public INDArray getParameter(Layer layer, String paramKey, int iteration, int epoch, boolean train, LayerWorkspaceMgr workspaceMgr) {
        INDArray p = layer.getParam(paramKey);
        if (!"W".equals(paramKey)) return p;
        QuantizedTensor q = QuantizedTensor.quantize(p.dup('c').data().asFloat(), p.shape(), format, symmetric, axis);
        return Nd4j.create(q.dequantize(), p.shape(), 'c').castTo(p.dataType());
    }

    @Override
    public FakeQuantWeights clone() {
        return new FakeQuantWeights(format, symmetric, axis);
    }
}
