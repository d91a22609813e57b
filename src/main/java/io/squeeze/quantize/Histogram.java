package io.squeeze.quantize;

import io.squeeze.core.Bytes;

import java.util.Arrays;

/**
 * A histogram over fixed bin edges [lo, hi] (from a first min/max pass over the same data), so that merging is
 * exact and order-free: counts add. Binning is {@code torch.histc}'s: bin = floor((x − lo)·bins / (hi − lo)),
 * x = hi in the last bin; values outside [lo, hi] (none, when the edges come from the same data) go to the end
 * bins. Memory is {@code bins} counters, whatever the number of rows.
 */
public final class Histogram {
    private final float lo, hi;
    private final long[] counts;

    public Histogram(float lo, float hi, int bins) {
        if (bins <= 0) throw new IllegalArgumentException("histogram bins must be > 0, got " + bins);
        if (!(hi >= lo)) throw new IllegalArgumentException("histogram range [" + lo + ", " + hi + "] is empty");
        this.lo = lo;
        this.hi = hi;
        this.counts = new long[bins];
    }

    public float lo() {
        return lo;
    }

    public float hi() {
        return hi;
    }

    public int bins() {
        return counts.length;
    }

    public long[] counts() {
        return counts.clone();
    }

    public long total() {
        long t = 0;
        for (long c : counts) t += c;
        return t;
    }

    public Histogram update(float[] values, boolean abs) {
        float width = hi - lo;
        int last = counts.length - 1;
        for (float v0 : values) {
            float v = abs ? Math.abs(v0) : v0;
            int b = width == 0f ? 0 : (int) Math.floor((v - lo) * counts.length / width);
            counts[Math.max(0, Math.min(last, b))]++;
        }
        return this;
    }

    public Histogram merge(Histogram o) {
        if (o.lo != lo || o.hi != hi || o.counts.length != counts.length)
            throw new IllegalArgumentException("cannot merge histograms over different edges: [" + lo + ", " + hi + "]/" + counts.length
                    + " and [" + o.lo + ", " + o.hi + "]/" + o.counts.length);
        for (int i = 0; i < counts.length; i++) counts[i] += o.counts[i];
        return this;
    }

    void write(java.io.DataOutputStream out) throws java.io.IOException {
        out.writeFloat(lo);
        out.writeFloat(hi);
        out.writeInt(counts.length);
        for (long c : counts) out.writeLong(c);
    }

    static Histogram read(java.io.DataInputStream in) throws java.io.IOException {
        Histogram h = new Histogram(in.readFloat(), in.readFloat(), in.readInt());
        for (int i = 0; i < h.counts.length; i++) h.counts[i] = in.readLong();
        return h;
    }

    public byte[] toBytes() {
        return Bytes.write(this::write);
    }

    public static Histogram fromBytes(byte[] b) {
        return Bytes.read(b, Histogram::read);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Histogram h && h.lo == lo && h.hi == hi && Arrays.equals(h.counts, counts);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(counts);
    }
}
