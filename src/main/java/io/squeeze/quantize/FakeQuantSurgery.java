package io.squeeze.quantize;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.activations.impl.ActivationSoftmax;

import java.util.Map;

/**
 * Quantization-aware training's changes to a DL4J network, in one place: {@link #attach} gives each integer layer
 * of a plan fake-quantized weights ({@link FakeQuantWeights}) and — except a softmax output — a fake-quantized
 * activation with the calibrated output qparams ({@link FakeQuantActivation}); {@link #update} swaps in new
 * qparams in place (the configuration travels to the Spark workers again at the start of every epoch); {@link #strip} returns
 * a plain network with the same (float) weights.
 */
public final class FakeQuantSurgery {
    private FakeQuantSurgery() {}

    public static MultiLayerNetwork attach(MultiLayerNetwork net, QuantPlan plan, Map<Integer, QParams> activations) {
        MultiLayerConfiguration c = net.getLayerWiseConfigurations().clone();
        for (QuantPlan.LayerPlan l : plan.layers()) {
            if (!l.precision().integer()) continue;
            BaseLayer b = (BaseLayer) c.getConf(l.layer()).getLayer();
            b.setWeightNoise(new FakeQuantWeights(l.precision().format(), l.symmetric(), l.axis()));
            QParams q = activations.get(l.layer());
            if (q != null && !(b.getActivationFn() instanceof ActivationSoftmax)) b.setActivationFn(new FakeQuantActivation(b.getActivationFn(), q));
        }
        MultiLayerNetwork out = new MultiLayerNetwork(c);
        out.init(net.params().dup(), false);
        return out;
    }

    /** New activation qparams for the fake-quantized layers of {@code net}, in place. */
    public static void update(MultiLayerNetwork net, Map<Integer, QParams> activations) {
        MultiLayerConfiguration c = net.getLayerWiseConfigurations();
        for (int i = 0; i < c.getConfs().size(); i++) {
            if (c.getConf(i).getLayer() instanceof BaseLayer b && b.getActivationFn() instanceof FakeQuantActivation f && activations.containsKey(i)) {
                FakeQuantActivation n = new FakeQuantActivation(f.inner(), activations.get(i));
                b.setActivationFn(n);
                if (net.getLayer(i).conf().getLayer() instanceof BaseLayer live) live.setActivationFn(n);
            }
        }
    }

    public static MultiLayerNetwork strip(MultiLayerNetwork net) {
        MultiLayerConfiguration c = net.getLayerWiseConfigurations().clone();
        for (int i = 0; i < c.getConfs().size(); i++) {
            if (!(c.getConf(i).getLayer() instanceof BaseLayer b)) continue;
            if (b.getWeightNoise() instanceof FakeQuantWeights) b.setWeightNoise(null);
            IActivation a = b.getActivationFn();
            if (a instanceof FakeQuantActivation f) b.setActivationFn(f.inner());
        }
        MultiLayerNetwork out = new MultiLayerNetwork(c);
        out.init(net.params().dup(), false);
        return out;
    }
}
