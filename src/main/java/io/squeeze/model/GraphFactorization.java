package io.squeeze.model;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.graph.ComputationGraph;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@link Factorization} on a graph's vertices: a factorized layer vertex {@code n} becomes two, {@code n_a} (the first
 * factor, fed what fed {@code n}, with {@code n}'s preprocessor) and {@code n} itself as the second factor fed by
 * {@code n_a} — the vertex keeps its name, so every vertex reading it, merges included, reads the product unchanged.
 */
public final class GraphFactorization {
    private GraphFactorization() {}

    /** {@code g} with each layer of {@code byLayer} (indices of {@code g.getLayers()}, topological order) factorized. */
    public static ComputationGraph rewrite(ComputationGraph g, Map<Integer, Factorization.Factors> byLayer) {
        ComputationGraphConfiguration conf = g.getConfiguration().clone();
        Map<String, String> firstOf = new LinkedHashMap<>();
        Map<String, Factorization.Factors> factors = new LinkedHashMap<>();
        for (var e : byLayer.entrySet()) {
            String n = g.getLayers()[e.getKey()].conf().getLayer().getLayerName();
            LayerVertex lv = (LayerVertex) conf.getVertices().get(n);
            String a = n + "_a";
            for (int k = 2; conf.getVertices().containsKey(a); k++) a = n + "_a" + k;
            var parts = Factorization.parts(lv.getLayerConf().getLayer(), e.getValue().rank(), a, n);
            NeuralNetConfiguration ca = lv.getLayerConf().clone(), cb = lv.getLayerConf().clone();
            ca.setLayer(parts[0]);
            cb.setLayer(parts[1]);
            conf.getVertices().put(a, new LayerVertex(ca, lv.getPreProcessor() == null ? null : lv.getPreProcessor().clone()));
            conf.getVertices().put(n, new LayerVertex(cb, null));
            conf.getVertexInputs().put(a, new ArrayList<>(conf.getVertexInputs().get(n)));
            conf.getVertexInputs().put(n, new ArrayList<>(List.of(a)));
            firstOf.put(n, a);
            factors.put(n, e.getValue());
        }
        return Graphs.rebuilt(g, conf, (n, l, out) -> {
            if (!factors.containsKey(n)) return false;
            Factorization.setParts(l, factors.get(n), out.getLayer(firstOf.get(n)), out.getLayer(n));
            return true;
        });
    }
}
