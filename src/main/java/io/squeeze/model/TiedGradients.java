package io.squeeze.model;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.api.layers.LayerConstraint;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;

import java.io.Serializable;

/**
 * Codebook fine-tuning's gradient (Han, Mao and Dally 2016, section 3.3 and Figure 3: "the gradient for each
 * centroid is the sum of the gradients of the weights in its group"). A DL4J training listener whose
 * {@code onGradientCalculation} - called once the minibatch's gradient is computed and before the updater reads it -
 * replaces the gradient of every weight of each weight-shared parameter by its cluster's summed gradient
 * ({@link CodebookConstraint#sumGradients}). Every weight of a cluster then gets the same gradient and, from the same
 * value and updater state, the same update: the shared value trains by the summed gradient with plain SGD (the
 * paper's update) and with any per-weight updater (Adam, AdaGrad, ...); {@link CodebookConstraint}'s mean after the
 * update then leaves them as they are.
 * The clusters are the {@link CodebookConstraint}s of the model's own layers, so the listener holds no state and
 * travels to Spark workers (each worker's network is given it for every round) as it is.
 */
public final class TiedGradients extends BaseTrainingListener implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Whether {@code net} has weight-shared layers (a {@link CodebookConstraint}), i.e. whether it needs this listener. */
    public static boolean needed(MultiLayerNetwork net) {
        for (int i = 0; i < net.getnLayers(); i++) if (constraint(net.getLayerWiseConfigurations().getConf(i).getLayer()) != null) return true;
        return false;
    }

    /** As above for a graph. */
    public static boolean needed(ComputationGraph g) {
        for (var l : g.getLayers()) if (constraint(l.conf().getLayer()) != null) return true;
        return false;
    }

    @Override
    public void onGradientCalculation(Model model) {
        if (model instanceof ComputationGraph g) { // a graph's gradient is keyed by vertex name
            var gradient = g.gradient();
            for (var l : g.getLayers()) {
                CodebookConstraint c = constraint(l.conf().getLayer());
                if (c != null) c.tieGradients(l, k -> gradient.getGradientFor(l.conf().getLayer().getLayerName() + "_" + k));
            }
            return;
        }
        if (!(model instanceof MultiLayerNetwork net))
            throw new IllegalStateException("codebook fine-tuning trains a MultiLayerNetwork or a ComputationGraph, got " + model.getClass().getSimpleName());
        var gradient = net.gradient();
        for (int i = 0; i < net.getnLayers(); i++) {
            CodebookConstraint c = constraint(net.getLayerWiseConfigurations().getConf(i).getLayer());
            if (c == null) continue;
            String prefix = i + "_";
            c.tieGradients(net.getLayer(i), k -> gradient.getGradientFor(prefix + k));
        }
    }

    private static CodebookConstraint constraint(Layer layer) {
        if (layer.getConstraints() == null) return null;
        for (LayerConstraint x : layer.getConstraints()) if (x instanceof CodebookConstraint c) return c;
        return null;
    }
}
