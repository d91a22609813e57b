package io.squeeze.model;

import io.squeeze.core.Mask;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.layers.LayerConstraint;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * A DL4J layer constraint that keeps pruned weights at exactly zero: after every parameter update DL4J applies
 * layer constraints, and this one multiplies each masked parameter by its 0/1 mask. It is part of the layer
 * configuration, so it travels with the configuration (JSON or Java serialization) to Spark executors and is
 * enforced by every worker of parameter-averaging training.
 */
public final class MaskConstraint implements LayerConstraint {
    private static final long serialVersionUID = 1L;
    private Set<String> params = new HashSet<>();
    private Map<String, String> masks = new HashMap<>(); // param -> base64 of Mask.toBytes()
    private Map<String, Integer> sizes = new HashMap<>();
    // workers in one JVM share a deserialized configuration, hence this instance: the cache must be concurrent
    private transient volatile Map<String, INDArray> cache;

    public MaskConstraint() {
    }

    public MaskConstraint(Map<String, Mask> byParam) {
        byParam.forEach((k, m) -> {
            params.add(k);
            masks.put(k, Base64.getEncoder().encodeToString(m.toBytes()));
            sizes.put(k, m.size());
        });
    }

    public Mask mask(String param) {
        return Mask.fromBytes(Base64.getDecoder().decode(masks.get(param)), sizes.get(param));
    }

    @Override
    public void applyConstraint(Layer layer, int iteration, int epoch) {
        Map<String, INDArray> c = cache;
        if (c == null) {
            synchronized (this) {
                if (cache == null) cache = new java.util.concurrent.ConcurrentHashMap<>();
                c = cache;
            }
        }
        for (String k : params) {
            INDArray p = layer.getParam(k);
            if (p == null) continue;
            INDArray m = c.computeIfAbsent(k, key -> {
                Mask mask = mask(key);
                float[] f = new float[mask.size()];
                for (int i = 0; i < f.length; i++) f[i] = mask.kept(i) ? 1f : 0f;
                return Nd4j.create(f, p.shape(), 'c').castTo(p.dataType());
            });
            p.muli(m);
        }
    }

    @Override
    public void setParams(Set<String> params) {
        this.params = params;
    }

    @Override
    public Set<String> getParams() {
        return params;
    }

    public Map<String, String> getMasks() {
        return masks;
    }

    public void setMasks(Map<String, String> masks) {
        this.masks = masks;
    }

    public Map<String, Integer> getSizes() {
        return sizes;
    }

    public void setSizes(Map<String, Integer> sizes) {
        this.sizes = sizes;
    }

    @Override
    public LayerConstraint clone() {
        MaskConstraint c = new MaskConstraint();
        c.params = new HashSet<>(params);
        c.masks = new HashMap<>(masks);
        c.sizes = new HashMap<>(sizes);
        return c;
    }
}
