package io.squeeze.model;

import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.Serializable;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;

/**
 * A network as it travels to executors: configuration JSON plus flat parameters (broadcast once), rebuilt once
 * per executor thread and cached there ({@link #network()}), since a DL4J network is not safe to share between
 * concurrently running tasks.
 *
 * @param key      identity of this payload, for the executor-side cache
 * @param confJson DL4J configuration
 * @param params   flattened parameters, DL4J's order
 */
public record NetPayload(String key, String confJson, float[] params) implements Serializable {
    private static final ThreadLocal<Map<String, MultiLayerNetwork>> CACHE = ThreadLocal.withInitial(HashMap::new);

    public static NetPayload of(MultiLayerNetwork net) {
        return new NetPayload(UUID.randomUUID().toString(), net.getLayerWiseConfigurations().toJson(), NdRows.toRowMajor(net.params()));
    }

    /** Rebuilds the network (uncached). */
    public MultiLayerNetwork build() {
        MultiLayerNetwork n = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(confJson));
        n.init(NdRows.of(params, 1, params.length), false);
        return n;
    }

    /** This thread's copy, built on first use. */
    public MultiLayerNetwork network() {
        Map<String, MultiLayerNetwork> m = CACHE.get();
        MultiLayerNetwork n = m.get(key);
        if (n == null) {
            if (m.size() > 4) m.clear();
            n = build();
            m.put(key, n);
        }
        return n;
    }
}
