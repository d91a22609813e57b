package io.squeeze.prune;

import io.squeeze.core.Bytes;

import java.io.Serializable;

/**
 * Counts of non-negative float keys by 16 bits of their IEEE-754 bit pattern — the high half, or the low half
 * within one high bin. A mergeable value ({@code update / merge / toBytes}); 65,536 counters whatever the data
 * size. For non-negative floats the bit pattern orders like the value, which makes exact selection possible.
 */
public final class RadixHistogram implements Serializable {
    private static final long serialVersionUID = 1L;
    public static final int BINS = 1 << 16;
    private final long[] counts;

    public RadixHistogram() {
        this(new long[BINS]);
    }

    private RadixHistogram(long[] counts) {
        this.counts = counts;
    }

    public void add(int bin) {
        counts[bin]++;
    }

    public long count(int bin) {
        return counts[bin];
    }

    public long total() {
        long t = 0;
        for (long c : counts) t += c;
        return t;
    }

    public RadixHistogram merge(RadixHistogram o) {
        for (int i = 0; i < BINS; i++) counts[i] += o.counts[i];
        return this;
    }

    /** The bin holding the k-th smallest key (1-based) and how many keys lie in lower bins. */
    public long[] locate(long k) {
        long below = 0;
        for (int b = 0; b < BINS; b++) {
            if (below + counts[b] >= k) return new long[]{b, below};
            below += counts[b];
        }
        throw new IllegalArgumentException("k = " + k + " exceeds the " + below + " keys counted");
    }

    public byte[] toBytes() {
        return Bytes.write(out -> {
            for (long c : counts) out.writeLong(c);
        });
    }

    public static RadixHistogram fromBytes(byte[] b) {
        return Bytes.read(b, in -> {
            long[] c = new long[BINS];
            for (int i = 0; i < BINS; i++) c[i] = in.readLong();
            return new RadixHistogram(c);
        });
    }
}
