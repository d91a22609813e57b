package io.squeeze.quantize;

import io.squeeze.model.GraphOps;
import io.squeeze.model.NetOps;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.activations.impl.ActivationSoftmax;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Quantization-aware training's changes to a DL4J graph (Jacob et al. 2018, simulated quantization with
 * straight-through gradients; {@link FakeQuantSurgery} for layer stacks), placed where
 * Squeeze's integer runtime rounds ({@link GraphOps}, {@code QuantRunner}): each integer node's weights are
 * fake-quantized ({@link FakeQuantWeights}); each node's output is fake-quantized with its calibrated qparams
 * ({@link FakeQuantActivation}) at the vertex that computes it — a convolution, dense layer or activation layer's own
 * activation, the fused ReLU's for a node that absorbed one — or, where that vertex has no activation to wrap (an add or
 * concatenation without a ReLU after it, an average global pooling, which the runtime re-rounds to its input's qparams),
 * by an identity activation vertex inserted after it ({@code <vertex>_fakequant}). A softmax output keeps its
 * activation, as in stacks. The graph must have its batch normalizations folded (in DL4J form,
 * {@code GraphBatchNormFold}): a batch normalization applies no activation that could carry the rounding.
 * {@link #update} swaps in new qparams in place (the configuration travels to the Spark workers again at the start of every epoch);
 * {@link #strip} returns the plain graph with the same float weights.
 */
public final class GraphFakeQuant {
    private GraphFakeQuant() {}

    /** What names an inserted vertex: {@code <vertex>_fakequant}. */
    public static final String SUFFIX = "_fakequant";

    /**
     * A fake-quantized graph.
     *
     * @param graph the graph training runs
     * @param at    vertex whose activation rounds → the activation key (node index) whose qparams it rounds to
     */
    public record Attached(ComputationGraph graph, Map<String, Integer> at) {}

    public static Attached attach(ComputationGraph g, GraphOps ops, QuantPlan plan, Map<Integer, QParams> activations) {
        ComputationGraphConfiguration conf = g.getConfiguration().clone();
        Map<String, Integer> at = new LinkedHashMap<>();
        List<GraphOps.Node> nodes = ops.nodes();
        for (int i = 0; i < nodes.size(); i++) {
            GraphOps.Node n = nodes.get(i);
            NetOps.Op op = n.op();
            QuantPlan.LayerPlan lp = plan.layer(i);
            if (lp != null && lp.precision().integer())
                ((BaseLayer) layer(conf, n.name())).setWeightNoise(new FakeQuantWeights(lp.precision().format(), lp.symmetric(), lp.axis()));
            int key = key(nodes, i);
            QParams q = key < 0 ? null : activations.get(key);
            if (q == null || op instanceof NetOps.Reshape || op instanceof NetOps.MaxPool) continue;
            String v = n.name();
            for (String a : n.absorbed()) {
                Layer l = layer(conf, a);
                if (!(l instanceof ActivationLayer)) throw new IllegalArgumentException("vertex '" + a + "' (" + l.getClass().getSimpleName()
                        + ") is fused into '" + n.name() + "': fold batch normalizations before attaching fake quantization");
                v = a;
            }
            Layer l = conf.getVertices().get(v) instanceof LayerVertex lv && !(op instanceof NetOps.GlobalAvgPool) ? lv.getLayerConf().getLayer() : null;
            IActivation act = activation(l);
            if (act instanceof ActivationSoftmax) continue;
            if (act == null) v = insert(conf, v, new ActivationIdentity());
            setActivation(layer(conf, v), new FakeQuantActivation(activation(layer(conf, v)), q));
            at.put(v, key);
        }
        conf.setTopologicalOrder(null); // recomputed by the graph when vertices were inserted
        conf.setTopologicalOrderStr(null);
        ComputationGraph out = new ComputationGraph(conf);
        out.init();
        copyParams(g, out);
        return new Attached(out, at);
    }

    /** New activation qparams (by activation key) for the fake-quantized vertices {@code at} of {@code g}, in place. */
    public static void update(ComputationGraph g, Map<String, Integer> at, Map<Integer, QParams> activations) {
        ComputationGraphConfiguration conf = g.getConfiguration();
        at.forEach((v, key) -> {
            QParams q = activations.get(key);
            if (q == null || !(activation(layer(conf, v)) instanceof FakeQuantActivation f)) return;
            FakeQuantActivation n = new FakeQuantActivation(f.inner(), q);
            setActivation(layer(conf, v), n);
            setActivation(g.getLayer(v).conf().getLayer(), n);
        });
    }

    /** The plain graph: no weight noise, activations unwrapped, inserted vertices removed; the same float weights. */
    public static ComputationGraph strip(ComputationGraph g) {
        ComputationGraphConfiguration conf = g.getConfiguration().clone();
        Map<String, String> removed = new LinkedHashMap<>();
        for (String v : new ArrayList<>(conf.getVertices().keySet())) {
            if (!(conf.getVertices().get(v) instanceof LayerVertex lv)) continue;
            Layer l = lv.getLayerConf().getLayer();
            if (l instanceof BaseLayer b && b.getWeightNoise() instanceof FakeQuantWeights) b.setWeightNoise(null);
            if (!(activation(l) instanceof FakeQuantActivation f)) continue;
            setActivation(l, f.inner());
            List<String> ins = conf.getVertexInputs().get(v);
            if (l instanceof ActivationLayer && f.inner() instanceof ActivationIdentity && ins.size() == 1 && v.startsWith(ins.get(0) + SUFFIX)) {
                removed.put(v, ins.get(0));
                conf.getVertices().remove(v);
                conf.getVertexInputs().remove(v);
            }
        }
        for (List<String> ins : conf.getVertexInputs().values()) ins.replaceAll(i -> removed.getOrDefault(i, i));
        conf.getNetworkOutputs().replaceAll(o -> removed.getOrDefault(o, o));
        conf.setTopologicalOrder(null);
        conf.setTopologicalOrderStr(null);
        ComputationGraph out = new ComputationGraph(conf);
        out.init();
        copyParams(g, out);
        return out;
    }

    /** The activation key of node {@code i}: its own index, or for reshapes and pooling the key of what they read. */
    static int key(List<GraphOps.Node> nodes, int i) {
        while (i >= 0) {
            NetOps.Op op = nodes.get(i).op();
            if (!(op instanceof NetOps.Reshape || op instanceof NetOps.MaxPool || op instanceof NetOps.GlobalAvgPool)) return i;
            i = nodes.get(i).inputs()[0];
        }
        return -1;
    }

    /** Inserts an activation layer after vertex {@code v}, read by everything that read {@code v}; returns its name. */
    private static String insert(ComputationGraphConfiguration conf, String v, IActivation act) {
        String name = v + SUFFIX;
        for (int k = 2; conf.getVertices().containsKey(name); k++) name = v + SUFFIX + k;
        final String n = name;
        for (List<String> ins : conf.getVertexInputs().values()) ins.replaceAll(i -> i.equals(v) ? n : i);
        conf.getNetworkOutputs().replaceAll(o -> o.equals(v) ? n : o);
        NeuralNetConfiguration nc = conf.getVertices().values().stream().filter(x -> x instanceof LayerVertex).findFirst()
                .map(x -> ((LayerVertex) x).getLayerConf().clone()).orElseGet(NeuralNetConfiguration::new); // the graph's own defaults
        ActivationLayer a = new ActivationLayer(act);
        a.setLayerName(n);
        nc.setLayer(a);
        conf.getVertices().put(n, new LayerVertex(nc, null));
        conf.getVertexInputs().put(n, new ArrayList<>(List.of(v)));
        return n;
    }

    private static Layer layer(ComputationGraphConfiguration conf, String v) {
        return ((LayerVertex) conf.getVertices().get(v)).getLayerConf().getLayer();
    }

    private static IActivation activation(Layer l) {
        return l instanceof BaseLayer b ? b.getActivationFn() : l instanceof ActivationLayer a ? a.getActivationFn() : null;
    }

    private static void setActivation(Layer l, IActivation act) {
        if (l instanceof BaseLayer b) b.setActivationFn(act);
        else ((ActivationLayer) l).setActivationFn(act);
    }

    private static void copyParams(ComputationGraph from, ComputationGraph to) {
        for (var l : from.getLayers()) {
            var t = to.getVertex(l.conf().getLayer().getLayerName());
            if (t != null && t.getLayer() != null) l.paramTable().forEach((k, v) -> t.getLayer().setParam(k, v.dup()));
        }
    }
}
