package io.squeeze.prune;

import java.io.Serializable;

/**
 * A slice of one tensor's importance scores, the unit of work of a selection pass: large tensors are split so
 * no task waits on one giant layer. NaN marks entries that are not candidates (already pruned).
 *
 * @param group  the selection it belongs to (a layer for per-layer methods, 0 for a global one)
 * @param tensor the tensor's id
 * @param index  position of this chunk within the tensor
 * @param offset flat offset of its first entry in the tensor
 * @param scores importance scores (non-negative) or NaN
 */
public record Chunk(int group, int tensor, int index, int offset, float[] scores) implements Serializable {
    public static final int DEFAULT_SIZE = 1 << 20;

    /** Identity of a chunk: tensor and index packed in a long (orders like (tensor, index)). */
    public long id() {
        return ((long) tensor << 32) | index;
    }

    static int key(float score) {
        return Float.floatToIntBits(score + 0f); // +0f folds -0 into +0
    }

    public RadixHistogram high() {
        RadixHistogram h = new RadixHistogram();
        for (float s : scores) if (!Float.isNaN(s)) h.add(key(s) >>> 16);
        return h;
    }

    public RadixHistogram low(int highBin) {
        RadixHistogram h = new RadixHistogram();
        for (float s : scores) {
            if (Float.isNaN(s)) continue;
            int k = key(s);
            if (k >>> 16 == highBin) h.add(k & 0xffff);
        }
        return h;
    }

    public long equalTo(float t) {
        long n = 0;
        for (float s : scores) if (!Float.isNaN(s) && s == t) n++;
        return n;
    }

    /** Entries to prune: scores below {@code t}, then the first {@code quota} equal to it. */
    public java.util.BitSet pruned(float t, long quota) {
        long[] words = new long[(scores.length + 63) >>> 6]; // set bit by bit here: BitSet.set checks and resizes per call
        for (int i = 0; i < scores.length; i++) {
            float s = scores[i];
            if (Float.isNaN(s)) continue;
            if (s < t) words[i >>> 6] |= 1L << i;
            else if (s == t && quota > 0) {
                words[i >>> 6] |= 1L << i;
                quota--;
            }
        }
        return java.util.BitSet.valueOf(words);
    }
}
