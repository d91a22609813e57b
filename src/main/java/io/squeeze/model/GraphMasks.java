package io.squeeze.model;

import io.squeeze.core.Mask;
import io.squeeze.core.TensorKey;
import org.deeplearning4j.nn.api.layers.LayerConstraint;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Pruning masks on a DL4J {@link ComputationGraph}, the graph form of {@link Surgery}'s mask operations. A tensor's
 * layer index is its position in {@link ComputationGraph#getLayers()} (DL4J's topological order, stable for a given
 * configuration); the layer's name is its vertex name.
 * <p>A graph is written as a DL4J zip, which has no place for masks: {@link #zeros} reads a pruned graph's masks back
 * as its weights that are exactly zero (training never lands a weight on exactly 0.0f, and the fine-tuning of a
 * pruned graph keeps every pruned weight at exactly zero with {@link MaskConstraint}s), so pruning a pruned graph again
 * prunes among the weights still kept, as {@code torch.nn.utils.prune} does.
 */
public final class GraphMasks {
    private GraphMasks() {}

    /** The flat values of one parameter of graph layer {@code layer} in C order of its DL4J shape. */
    public static float[] values(ComputationGraph g, int layer, String param) {
        return Surgery.floats(g.getLayers()[layer].getParam(param));
    }

    /** The layer configurations in {@link ComputationGraph#getLayers()} order. */
    public static List<org.deeplearning4j.nn.conf.layers.Layer> layerConfs(ComputationGraph g) {
        List<org.deeplearning4j.nn.conf.layers.Layer> out = new ArrayList<>();
        for (var l : g.getLayers()) out.add(l.conf().getLayer());
        return out;
    }

    /** The vertex name of each layer, in {@link ComputationGraph#getLayers()} order. */
    public static List<String> names(ComputationGraph g) {
        Map<org.deeplearning4j.nn.api.Layer, String> byLayer = new java.util.IdentityHashMap<>();
        for (var v : g.getVertices()) if (v.hasLayer()) byLayer.put(v.getLayer(), v.getVertexName());
        List<String> out = new ArrayList<>();
        for (var l : g.getLayers()) out.add(byLayer.get(l));
        return out;
    }

    /** Parameter shapes by tensor key of a graph's (or a stack's) layers. */
    public static Map<TensorKey, long[]> shapes(org.deeplearning4j.nn.api.Layer[] layers) {
        Map<TensorKey, long[]> out = new HashMap<>();
        for (int i = 0; i < layers.length; i++)
            for (var e : layers[i].paramTable().entrySet()) out.put(new TensorKey(i, e.getKey()), e.getValue().shape());
        return out;
    }

    /** The masks of the weight tensors that hold exact zeros (entries equal to 0.0f pruned); tensors without a zero are left out. */
    public static Map<TensorKey, Mask> zeros(ComputationGraph g) {
        Map<TensorKey, Mask> out = new TreeMap<>();
        var layers = g.getLayers();
        for (int i = 0; i < layers.length; i++) {
            for (String param : LayerSupport.weightParams(layers[i].conf().getLayer())) {
                if (!layers[i].paramTable().containsKey(param)) continue;
                float[] v = values(g, i, param);
                boolean[] kept = new boolean[v.length];
                boolean any = false;
                for (int k = 0; k < v.length; k++) {
                    kept[k] = v[k] != 0f;
                    any |= !kept[k];
                }
                if (any) out.put(new TensorKey(i, param), Mask.of(kept));
            }
        }
        return out;
    }

    /** Zeroes every pruned entry, in place. */
    public static void apply(ComputationGraph g, Map<TensorKey, Mask> masks) {
        masks.forEach((key, mask) -> {
            INDArray p = g.getLayers()[key.layer()].getParam(key.param());
            p.assign(Nd4j.create(mask.apply(p.dup('c').data().asFloat()), p.shape(), 'c'));
        });
    }

    /**
     * A copy of {@code g} (same parameters) whose layers carry {@link MaskConstraint}s for {@code masks}, replacing any
     * earlier ones: DL4J applies them after every update, in every Spark worker (they travel in the configuration).
     * Empty masks give a copy without mask constraints.
     */
    public static ComputationGraph withMaskConstraints(ComputationGraph g, Map<TensorKey, Mask> masks) {
        return withConstraints(g, masks, Map.of());
    }

    /**
     * As above with the weight-sharing ties {@code codebooks} (by layer index and parameter) as {@link CodebookConstraint}s
     * (codebook fine-tuning, with {@link TiedGradients}); empty maps give a graph without either constraint.
     */
    public static ComputationGraph withConstraints(ComputationGraph g, Map<TensorKey, Mask> masks, Map<Integer, Map<String, CodebookConstraint.Assignment>> codebooks) {
        Map<String, Map<String, Mask>> byVertex = new HashMap<>();
        List<String> names = names(g);
        masks.forEach((k, m) -> byVertex.computeIfAbsent(names.get(k.layer()), x -> new HashMap<>()).put(k.param(), m));
        Map<String, Map<String, CodebookConstraint.Assignment>> tiesOf = new HashMap<>();
        codebooks.forEach((l, t) -> tiesOf.put(names.get(l), t));
        ComputationGraphConfiguration c = g.getConfiguration().clone();
        c.getVertices().forEach((name, v) -> {
            if (!(v instanceof LayerVertex lv)) return;
            var layer = lv.getLayerConf().getLayer();
            List<LayerConstraint> cs = new ArrayList<>();
            if (layer.getConstraints() != null)
                for (LayerConstraint x : layer.getConstraints()) if (!(x instanceof MaskConstraint) && !(x instanceof CodebookConstraint)) cs.add(x);
            if (tiesOf.containsKey(name)) cs.add(new CodebookConstraint(tiesOf.get(name)));
            if (byVertex.containsKey(name)) cs.add(new MaskConstraint(byVertex.get(name)));
            layer.setConstraints(cs.isEmpty() ? null : cs);
        });
        ComputationGraph out = new ComputationGraph(c);
        out.init(g.params().dup(), false);
        return out;
    }
}
