package io.squeeze.prune;

import io.squeeze.core.Mask;
import java.io.Serializable;

/**
 * One tensor to prune, as a task receives it.
 *
 * @param id      position in the plan (also its chunk ordering)
 * @param layer   layer index
 * @param param   DL4J parameter key (W, b, ...)
 * @param shape   DL4J shape; values are in C order of it
 * @param values  current values (pruned entries are zero); null in the plan a driver holds when each task reads its own
 *                tensor from storage ({@link #withValues} then completes it on the executor)
 * @param mask    entries still kept (all for an unpruned tensor)
 * @param amount  how much of the remaining to prune
 * @param outAxis axis of output neurons/channels (1 for dense W [nIn, nOut], 0 for conv W [out, in, kh, kw])
 * @param inAxis  axis of inputs, or -1
 */
public record Target(int id, int layer, String param, long[] shape, float[] values, Mask mask, Amount amount,
                     int outAxis, int inAxis) implements Serializable {
    public io.squeeze.core.TensorKey key() {
        return new io.squeeze.core.TensorKey(layer, param);
    }

    /** Entries (the product of the shape; the values need not be loaded). */
    public int size() {
        long n = 1;
        for (long d : shape) n *= d;
        return (int) n;
    }

    /** This target with its values (C order of the shape), and every entry kept when it had no mask. */
    public Target withValues(float[] v) {
        if (v.length != size()) throw new IllegalArgumentException("tensor " + key() + " has " + size() + " entries, got " + v.length);
        return new Target(id, layer, param, shape, v, mask == null ? Mask.all(v.length) : mask, amount, outAxis, inAxis);
    }

    /** This target without values or mask: what a task needs to know before it reads the tensor of an unpruned model. */
    public Target plan() {
        return new Target(id, layer, param, shape, null, null, amount, outAxis, inAxis);
    }
}
