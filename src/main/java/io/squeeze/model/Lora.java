package io.squeeze.model;

import io.squeeze.core.BadInputException;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Set;

/**
 * Attaching LoRA adapters (Hu et al. 2021) to dense layers ({@link LoraDense}) and 2-D convolutions ({@link LoraConv}) of a
 * layer stack or a graph, and merging them back into plain layers: W + (α/r)·A·B (a convolution's kernel seen as its
 * nIn·kH·kW inputs by its nOut outputs).
 */
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
     * A copy of {@code net} whose chosen dense and convolution layers carry adapters of rank r, scaled by α/r; step 0 equals the base.
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
            c.getConf(i).setLayer(adapter(c.getConf(i).getLayer(), rank, alpha, seed + i, updater, "layer " + i));
        }
        for (int i = 0; i < c.getConfs().size(); i++) {
            if (!layers.contains(i) && c.getConf(i).getLayer() instanceof org.deeplearning4j.nn.conf.layers.BaseLayer bl) freeze(bl);
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

    /** Folds every adapter into its base: W + (α/r)·A·B, as a plain dense or convolution layer. */
    public static MultiLayerNetwork merge(MultiLayerNetwork adapted) {
        MultiLayerConfiguration c = adapted.getLayerWiseConfigurations().clone();
        for (int i = 0; i < c.getConfs().size(); i++) {
            if (c.getConf(i).getLayer() instanceof LoraLayer ll) c.getConf(i).setLayer(plain(ll));
        }
        MultiLayerNetwork out = new MultiLayerNetwork(c);
        out.init();
        for (int i = 0; i < adapted.getnLayers(); i++) mergeParams(adapted.getLayer(i), out.getLayer(i));
        return out;
    }

    /**
     * The graph form of {@link #attach}: a copy of {@code g} whose chosen dense and convolution vertices carry adapters of rank r
     * (vertex {@code v}'s A seeded with {@code seed} plus its place in {@link ComputationGraph#getLayers()}), every other
     * layer frozen; step 0 equals the base.
     */
    public static ComputationGraph attach(ComputationGraph g, Set<String> vertices, int rank, double alpha, long seed,
                                          org.nd4j.linalg.learning.config.IUpdater updater) {
        if (rank <= 0) throw new BadInputException("lora.rank must be > 0, got " + rank);
        if (!(alpha > 0)) throw new BadInputException("lora.alpha must be > 0, got " + alpha);
        ComputationGraphConfiguration c = g.getConfiguration().clone();
        java.util.List<String> order = GraphMasks.names(g);
        for (String name : vertices) {
            var lv = c.getVertices().get(name) instanceof LayerVertex x ? x : null;
            if (lv == null) throw new BadInputException("lora adapters go on dense and convolution layers; vertex '" + name + "' is a vertex without a layer");
            lv.getLayerConf().setLayer(adapter(lv.getLayerConf().getLayer(), rank, alpha, seed + order.indexOf(name), updater, "vertex '" + name + "'"));
        }
        c.getVertices().forEach((name, v) -> {
            if (!vertices.contains(name) && v instanceof LayerVertex lv && lv.getLayerConf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.BaseLayer bl)
                freeze(bl);
        });
        ComputationGraph out = new ComputationGraph(c);
        out.init();
        for (var v : g.getVertices()) {
            if (!v.hasLayer()) continue;
            var dst = out.getLayer(v.getVertexName());
            v.getLayer().paramTable().forEach((k, p) -> dst.getParam(k).assign(p.reshape(dst.getParam(k).shape())));
        }
        return out;
    }

    /** The graph form of {@link #merge}: every adapter folded into its base, W + (α/r)·A·B, as a plain dense or convolution vertex. */
    public static ComputationGraph merge(ComputationGraph adapted) {
        ComputationGraphConfiguration c = adapted.getConfiguration().clone();
        c.getVertices().forEach((name, v) -> {
            if (v instanceof LayerVertex lv && lv.getLayerConf().getLayer() instanceof LoraLayer ll) lv.getLayerConf().setLayer(plain(ll));
        });
        ComputationGraph out = new ComputationGraph(c);
        out.init();
        for (var v : adapted.getVertices()) if (v.hasLayer()) mergeParams(v.getLayer(), out.getLayer(v.getVertexName()));
        return out;
    }

    /** The plain layer an adapter merges into (the adapter's name, geometry, activation, updater and regularization). */
    private static org.deeplearning4j.nn.conf.layers.BaseLayer plain(LoraLayer ll) {
        org.deeplearning4j.nn.conf.layers.BaseLayer out = ll instanceof LoraConv lc ? lc.plain()
                : new DenseLayer.Builder().nIn(ll.nIn()).nOut(ll.nOut()).activation(((LoraDense) ll).activation()).name(((LoraDense) ll).getLayerName()).build();
        var sd = (org.deeplearning4j.nn.conf.layers.samediff.SameDiffLayer) ll;
        out.setIUpdater(sd.getUpdater());
        out.setRegularization(sd.getRegularization());
        out.setWeightInitFn(new org.deeplearning4j.nn.weights.WeightInitXavier());
        return out;
    }

    /** {@code src}'s parameters into {@code dst}: an adapter's W + (α/r)·A·B and b, any other layer's as they are. */
    private static void mergeParams(org.deeplearning4j.nn.api.Layer src, org.deeplearning4j.nn.api.Layer dst) {
        if (src.conf().getLayer() instanceof LoraDense ld) {
            INDArray w = src.getParam("W").add(src.getParam("A").mmul(src.getParam("B")).mul(ld.scale()));
            dst.setParam("W", w);
            dst.setParam("b", src.getParam("b").dup());
        } else if (src.conf().getLayer() instanceof LoraConv lc) {
            dst.setParam("W", src.getParam("W").add(lc.delta(src.getParam("A"), src.getParam("B"))));
            if (lc.hasBias()) dst.setParam("b", src.getParam("b").dup());
        } else {
            src.paramTable().forEach((k, v) -> dst.setParam(k, v.dup()));
        }
    }

    /**
     * The adapted form of {@code l} — a dense layer or a plain NCHW 2-D convolution — ({@code what} names it in refusals,
     * which name every other layer type).
     */
    private static org.deeplearning4j.nn.conf.layers.samediff.SameDiffLayer adapter(org.deeplearning4j.nn.conf.layers.Layer l, int rank, double alpha,
                                                                                long seed, org.nd4j.linalg.learning.config.IUpdater updater, String what) {
        org.deeplearning4j.nn.conf.layers.BaseLayer base;
        org.deeplearning4j.nn.conf.layers.samediff.SameDiffLayer out;
        if (l instanceof DenseLayer d) {
            long max = Math.min(d.getNIn(), d.getNOut());
            if (rank > max) throw new BadInputException("lora.rank " + rank + " is above min(nIn, nOut) = " + max + " of " + what);
            base = d;
            out = new LoraDense(d.getLayerName(), d.getNIn(), d.getNOut(), rank, alpha, activationOf(d.getActivationFn(), what), seed);
        } else if (l != null && l.getClass() == org.deeplearning4j.nn.conf.layers.ConvolutionLayer.class) {
            var c = (org.deeplearning4j.nn.conf.layers.ConvolutionLayer) l;
            if (c.getCnn2dDataFormat() != null && c.getCnn2dDataFormat() != org.deeplearning4j.nn.conf.CNN2DFormat.NCHW)
                throw new BadInputException("lora adapters go on NCHW convolutions; " + what + " is " + c.getCnn2dDataFormat());
            if (c.getConvolutionMode() == org.deeplearning4j.nn.conf.ConvolutionMode.Causal)
                throw new BadInputException("lora adapters do not go on causal convolutions; " + what + " is one");
            long fanIn = c.getNIn() * c.getKernelSize()[0] * c.getKernelSize()[1], max = Math.min(fanIn, c.getNOut());
            if (rank > max) throw new BadInputException("lora.rank " + rank + " is above min(nIn·kH·kW, nOut) = " + max + " of " + what);
            base = c;
            out = new LoraConv(c, rank, alpha, activationOf(c.getActivationFn(), what), seed);
        } else {
            throw new BadInputException("lora adapters go on dense and convolution layers; " + what + " is a "
                    + (l == null ? "vertex without a layer" : l.getClass().getSimpleName()));
        }
        out.setUpdater(updater != null ? updater : base.getIUpdater());
        out.setRegularization(base.getRegularization());
        return out;
    }

    /** Everything but the adapters is frozen: no learning rate, no regularization. */
    private static void freeze(org.deeplearning4j.nn.conf.layers.BaseLayer bl) {
        bl.setIUpdater(new org.nd4j.linalg.learning.config.Sgd(0.0));
        bl.setBiasUpdater(new org.nd4j.linalg.learning.config.Sgd(0.0));
        bl.setRegularization(new java.util.ArrayList<>());
        bl.setRegularizationBias(new java.util.ArrayList<>());
    }
}
