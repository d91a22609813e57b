package io.squeeze.quantize;

import org.nd4j.shade.jackson.annotation.JsonProperty;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.activations.BaseActivationFunction;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A layer's activation followed by fake quantization (quantize with fixed qparams, then dequantize) — the
 * forward pass of quantization-aware training (Jacob et al. 2018). Backward: the straight-through estimator
 * (Bengio et al. 2013) with clipping, as PyTorch's FakeQuantize: the gradient passes where the activation lies
 * inside the representable range [(qmin − zp)·s, (qmax − zp)·s] and is zero outside. The qparams are updated
 * between epochs from a calibration pass. DL4J serializes it with the layer configuration (JSON and Java).
 */
public class FakeQuantActivation extends BaseActivationFunction {
    private static final long serialVersionUID = 1L;
    @JsonProperty
    private IActivation inner;
    @JsonProperty
    private float scale;
    @JsonProperty
    private int zeroPoint;

    public FakeQuantActivation() {} // Jackson

    public FakeQuantActivation(IActivation inner, QParams q) {
        this.inner = inner;
        this.scale = q.scale();
        this.zeroPoint = q.zeroPoint();
    }

    public IActivation inner() {
        return inner;
    }

    public QParams qparams() {
        return new QParams(scale, zeroPoint);
    }

    @Override
    public INDArray getActivation(INDArray in, boolean training) {
        INDArray a = inner.getActivation(in, training);
        float[] v = a.dup('c').data().asFloat();
        QuantRunner.fakeQuant(v, qparams());
        a.assign(Nd4j.create(v, a.shape(), 'c').castTo(a.dataType()));
        return a;
    }

    @Override
    public Pair<INDArray, INDArray> backprop(INDArray in, INDArray epsilon) {
        INDArray a = inner.getActivation(in.dup(), true);
        float lo = (0 - zeroPoint) * scale, hi = (255 - zeroPoint) * scale;
        float[] v = a.dup('c').data().asFloat(), e = epsilon.dup('c').data().asFloat();
        for (int i = 0; i < v.length; i++) if (v[i] < lo || v[i] > hi) e[i] = 0f;
        return inner.backprop(in, Nd4j.create(e, epsilon.shape(), 'c').castTo(epsilon.dataType()));
    }

    @Override
    public String toString() {
        return "fakequant(" + inner + ", scale=" + scale + ", zp=" + zeroPoint + ")";
    }
}
