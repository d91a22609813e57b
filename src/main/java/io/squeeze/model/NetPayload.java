package io.squeeze.model;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.Serializable;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;

/**
 * A network as it travels to executors: configuration JSON plus flat parameters (broadcast once), rebuilt once
 * per executor thread and cached there ({@link #network()}, {@link #graph()} for a ComputationGraph's JSON), since a
 * DL4J network is not safe to share between concurrently running tasks.
 *
 * @param key      identity of this payload, for the executor-side cache
 * @param confJson DL4J configuration
 * @param params   flattened parameters, DL4J's order
 */
public record NetPayload(String key, String confJson, float[] params) implements Serializable {
    private static final ThreadLocal<Map<String, Object>> CACHE = ThreadLocal.withInitial(HashMap::new);

    public static NetPayload of(MultiLayerNetwork net) {
        return new NetPayload(UUID.randomUUID().toString(), net.getLayerWiseConfigurations().toJson(), NdRows.toRowMajor(net.params()));
    }

    public static NetPayload of(ComputationGraph g) {
        return new NetPayload(UUID.randomUUID().toString(), g.getConfiguration().toJson(), NdRows.toRowMajor(g.params()));
    }

    /** The network of a loaded model, stack or graph. */
    public static NetPayload of(LoadedModel m) {
        return m.isGraph() ? of(m.graph()) : of(m.net());
    }

    public boolean isGraph() {
        return ModelIO.isGraph(confJson);
    }

    /** Rebuilds the graph (uncached). */
    public ComputationGraph buildGraph() {
        ComputationGraph g = new ComputationGraph(ComputationGraphConfiguration.fromJson(confJson));
        g.init(NdRows.of(params, 1, params.length), false);
        return g;
    }

    /** This thread's copy of the graph, built on first use. */
    public ComputationGraph graph() {
        return (ComputationGraph) cached(this::buildGraph);
    }

    /** Rebuilds the network (uncached). */
    public MultiLayerNetwork build() {
        MultiLayerNetwork n = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(confJson));
        n.init(NdRows.of(params, 1, params.length), false);
        return n;
    }

    /** This thread's copy, built on first use. */
    public MultiLayerNetwork network() {
        return (MultiLayerNetwork) cached(this::build);
    }

    private Object cached(java.util.function.Supplier<Object> make) {
        Map<String, Object> m = CACHE.get();
        Object n = m.get(key);
        if (n == null) {
            if (m.size() > 4) m.clear();
            n = make.get();
            m.put(key, n);
        }
        return n;
    }
}
