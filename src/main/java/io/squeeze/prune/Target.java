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
 * @param values  current values (pruned entries are zero)
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

    public int size() {
        return values.length;
    }
}
