package io.squeeze.core;

import java.io.Serializable;
import java.util.Arrays;

/**
 * Which entries of a flat tensor (C order of DL4J's shape) are kept: a bitset, bit set = kept. Immutable.
 */
public final class Mask implements Serializable {
    private static final long serialVersionUID = 1L;
    private final int size;
    private final long[] words;

    private Mask(int size, long[] words) {
        this.size = size;
        this.words = words;
    }

    public static Mask all(int size) {
        long[] w = new long[(size + 63) >>> 6];
        Arrays.fill(w, -1L);
        if ((size & 63) != 0 && w.length > 0) w[w.length - 1] = (1L << (size & 63)) - 1;
        return new Mask(size, w);
    }

    public static Mask of(boolean[] kept) {
        long[] w = new long[(kept.length + 63) >>> 6];
        for (int i = 0; i < kept.length; i++) if (kept[i]) w[i >>> 6] |= 1L << (i & 63);
        return new Mask(kept.length, w);
    }

    /** From the bytes of {@link #toBytes()} (little-endian bit order: bit i of byte i/8 is entry i). */
    public static Mask fromBytes(byte[] b, int size) {
        long[] w = new long[(size + 63) >>> 6];
        for (int i = 0; i < size; i++) if ((b[i >>> 3] >>> (i & 7) & 1) != 0) w[i >>> 6] |= 1L << (i & 63);
        return new Mask(size, w);
    }

    public byte[] toBytes() {
        byte[] b = new byte[(size + 7) >>> 3];
        for (int i = 0; i < size; i++) if (kept(i)) b[i >>> 3] |= (byte) (1 << (i & 7));
        return b;
    }

    public int size() {
        return size;
    }

    public boolean kept(int i) {
        return (words[i >>> 6] >>> (i & 63) & 1) != 0;
    }

    public long keptCount() {
        long n = 0;
        for (long w : words) n += Long.bitCount(w);
        return n;
    }

    public long prunedCount() {
        return size - keptCount();
    }

    /** Kept where both are kept. */
    public Mask and(Mask o) {
        if (o.size != size) throw new IllegalArgumentException("mask sizes differ: " + size + " vs " + o.size);
        long[] w = words.clone();
        for (int i = 0; i < w.length; i++) w[i] &= o.words[i];
        return new Mask(size, w);
    }

    /** Zeroes pruned entries of {@code values} in place and returns it. */
    public float[] apply(float[] values) {
        for (int i = 0; i < size; i++) if (!kept(i)) values[i] = 0f;
        return values;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Mask m && m.size == size && Arrays.equals(m.words, words);
    }

    @Override
    public int hashCode() {
        return 31 * size + Arrays.hashCode(words);
    }

    @Override
    public String toString() {
        return "Mask[" + keptCount() + "/" + size + " kept]";
    }
}
