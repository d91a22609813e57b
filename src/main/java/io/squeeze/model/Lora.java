package io.squeeze.model;

import io.squeeze.core.BadInputException;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Set;

/** Attaching LoRA adapters to dense layers ({@link LoraDense}) and merging them back into plain dense layers. */
public final class Lora {
    private Lora() {}

    static Activation activationOf(IActivation a, String what) {
        for (Activation x : Activation.values()) {
            try {
                if (x.getActivationFunction().getClass() == a.getClass()) return x;
            } catch (RuntimeException ignored) {
                // some enum values have no standalone function
            }
        }
        throw new BadInputException("lora: the activation of " + what + " (" + a + ") has no SameDiff form");
    }

    /**
     * A copy of {@code net} whose chosen dense layers carry adapters of rank r, scaled by α/r; step 0 equals the base.
     * Every other parameter is frozen (zero learning rate, no regularization), so training changes only A and B.
     */
    public static MultiLayerNetwork attach(MultiLayerNetwork net, Set<Integer> layers, int rank, double alpha, long seed) {
        return attach(net, layers, rank, alpha, seed, null);
    }

    /** As above, training the adapters with {@code updater} (null: the base layer's own). */
    public static MultiLayerNetwork attach(MultiLayerNetwork net, Set<Integer> layers, int rank, double alpha, long seed,
                                           org.nd4j.linalg.learning.config.IUpdater updater) {
        if (rank <= 0) throw new BadInputException("lora.rank must be > 0, got " + rank);
        if (!(alpha > 0)) throw new BadInputException("lora.alpha must be > 0, got " + alpha);
        MultiLayerConfiguration c = net.getLayerWiseConfigurations().clone();
        for (int i : layers) {
            var l = c.getConf(i).getLayer();
            if (!(l instanceof DenseLayer d))
                throw new BadInputException("lora adapters go on dense layers; layer " + i + " is a " + l.getClass().getSimpleName());
            long max = Math.min(d.getNIn(), d.getNOut());
            if (rank > max) throw new BadInputException("lora.rank " + rank + " is above min(nIn, nOut) = " + max + " of layer " + i);
            LoraDense ld = new LoraDense(d.getLayerName(), d.getNIn(), d.getNOut(), rank, alpha, activationOf(d.getActivationFn(), "layer " + i), seed + i);
            ld.setUpdater(updater != null ? updater : d.getIUpdater());
            ld.setRegularization(d.getRegularization());
            c.getConf(i).setLayer(ld);
        }
        for (int i = 0; i < c.getConfs().size(); i++) {
            if (layers.contains(i) || !(c.getConf(i).getLayer() instanceof org.deeplearning4j.nn.conf.layers.BaseLayer bl)) continue;
            bl.setIUpdater(new org.nd4j.linalg.learning.config.Sgd(0.0)); // everything but the adapters is frozen
            bl.setBiasUpdater(new org.nd4j.linalg.learning.config.Sgd(0.0));
            bl.setRegularization(new java.util.ArrayList<>());
            bl.setRegularizationBias(new java.util.ArrayList<>());
        }
        MultiLayerNetwork out = new MultiLayerNetwork(c);
        out.init();
        for (int i = 0; i < net.getnLayers(); i++) {
            var dst = out.getLayer(i);
            // assign into the parameter views: setParam does not reach a SameDiff layer's arrays
            net.getLayer(i).paramTable().forEach((k, v) -> dst.getParam(k).assign(v.reshape(dst.getParam(k).shape())));
        }
        return out;
    }

    /** Folds every adapter into its base: W + (α/r)·A·B, as a plain DenseLayer. */
    public static MultiLayerNetwork merge(MultiLayerNetwork adapted) {
        MultiLayerConfiguration c = adapted.getLayerWiseConfigurations().clone();
        for (int i = 0; i < c.getConfs().size(); i++) {
            if (!(c.getConf(i).getLayer() instanceof LoraDense ld)) continue;
            DenseLayer d = new DenseLayer.Builder().nIn(ld.nIn()).nOut(ld.nOut()).activation(ld.activation()).name(ld.getLayerName()).build();
            d.setIUpdater(ld.getUpdater());
            d.setRegularization(ld.getRegularization());
            d.setWeightInitFn(new org.deeplearning4j.nn.weights.WeightInitXavier());
            c.getConf(i).setLayer(d);
        }
        MultiLayerNetwork out = new MultiLayerNetwork(c);
        out.init();
        for (int i = 0; i < adapted.getnLayers(); i++) {
            var src = adapted.getLayer(i);
            if (src.conf().getLayer() instanceof LoraDense ld) {
                INDArray w = src.getParam("W").add(src.getParam("A").mmul(src.getParam("B")).mul(ld.scale()));
                out.getLayer(i).setParam("W", w);
                out.getLayer(i).setParam("b", src.getParam("b").dup());
            } else {
                var dst = out.getLayer(i);
                src.paramTable().forEach((k, v) -> dst.setParam(k, v.dup()));
            }
        }
        return out;
    }
}
