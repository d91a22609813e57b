package io.squeeze.model;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.layers.LayerConstraint;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * A DL4J layer constraint over some of a layer's parameters, applied after every update, with what it needs per
 * parameter decoded once from its serialized form ({@link #prepare}) and cached. Workers in one JVM share a
 * deserialized configuration, hence this instance: the cache is concurrent.
 *
 * @param <T> what one parameter's constraint is decoded into
 */
abstract class ParamConstraint<T> implements LayerConstraint {
    private static final long serialVersionUID = 1L;
    protected Set<String> params = new HashSet<>();
    private transient volatile Map<String, T> cache;

    /** Decodes the constraint of {@code param}, whose current value is {@code p}. */
    protected abstract T prepare(String param, INDArray p);

    /** Applies the decoded constraint to the parameter, in place. */
    protected abstract void apply(INDArray p, T prepared);

    @Override
    public abstract LayerConstraint clone();

    @Override
    public void applyConstraint(Layer layer, int iteration, int epoch) {
        for (String k : params) {
            INDArray p = layer.getParam(k);
            if (p == null) continue;
            apply(p, prepared(k, p));
        }
    }

    /** The decoded constraint of {@code param} (current value {@code p}), decoded on first use. */
    protected final T prepared(String param, INDArray p) {
        Map<String, T> c = cache;
        if (c == null) {
            synchronized (this) {
                if (cache == null) cache = new java.util.concurrent.ConcurrentHashMap<>();
                c = cache;
            }
        }
        return c.computeIfAbsent(param, key -> prepare(key, p));
    }

    @Override
    public void setParams(Set<String> params) {
        this.params = params;
    }

    @Override
    public Set<String> getParams() {
        return params;
    }
}
