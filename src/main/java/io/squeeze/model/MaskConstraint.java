package io.squeeze.model;

import io.squeeze.core.Mask;
import org.deeplearning4j.nn.api.layers.LayerConstraint;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;

/**
 * A DL4J layer constraint that keeps pruned weights at exactly zero: after every parameter update DL4J applies
 * layer constraints, and this one multiplies each masked parameter by its 0/1 mask. It is part of the layer
 * configuration, so it travels with the configuration (JSON or Java serialization) to Spark executors and is
 * enforced by every worker of parameter-averaging training.
 */
public final class MaskConstraint extends ParamConstraint<INDArray> {
    private static final long serialVersionUID = 1L;
    private Map<String, String> masks = new HashMap<>(); // param -> base64 of Mask.toBytes()
    private Map<String, Integer> sizes = new HashMap<>();

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
    protected INDArray prepare(String param, INDArray p) {
        Mask mask = mask(param);
        float[] f = new float[mask.size()];
        for (int i = 0; i < f.length; i++) f[i] = mask.kept(i) ? 1f : 0f;
        return Nd4j.create(f, p.shape(), 'c').castTo(p.dataType());
    }

    @Override
    protected void apply(INDArray p, INDArray mask) {
        p.muli(mask);
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
