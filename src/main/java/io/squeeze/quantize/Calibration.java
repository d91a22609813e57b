package io.squeeze.quantize;

import io.squeeze.core.Bytes;
import org.apache.datasketches.memory.Memory;
import org.apache.datasketches.req.ReqSketch;

import java.io.Serializable;
import java.util.Map;
import java.util.TreeMap;

/**
 * The statistics of every observed activation tensor (key -1 = the input, i = layer i's output) over one
 * calibration pass, as a mergeable value ({@code update / merge / toBytes}):
 * <ul>
 * <li>always min/max ({@link MinMaxObserver}, exact);</li>
 * <li>with {@link Pass#sketches()}: two relative-error quantile sketches (DataSketches REQ, Cormode et al. 2021,
 * high-rank-accuracy mode), of x and of −x, so both tails are accurate; merges within the sketch's bound;</li>
 * <li>with histogram edges (a second pass, edges from the first pass's min/max): a {@link Histogram} of x, or of
 * |x| over [0, max|x|] for entropy calibration; merges exactly.</li>
 * </ul>
 * Memory per tensor is constant for min/max and histograms and grows only polylogarithmically with rows for the
 * sketches.
 */
public final class Calibration {
    /**
     * What one pass collects. {@code edges}: key → {lo, hi} for histograms; empty for none. {@code grams}: the
     * weighted layers whose input {@link Gram} matrices are accumulated (for {@link Gptq}); empty for none.
     */
    public record Pass(boolean sketches, Map<Integer, float[]> edges, boolean abs, int bins, java.util.Set<Integer> grams) implements Serializable {
        public Pass {
            grams = grams == null ? new java.util.TreeSet<>() : new java.util.TreeSet<>(grams); // mutable: Kryo rebuilds collections by adding
        }

        public Pass(boolean sketches, Map<Integer, float[]> edges, boolean abs, int bins) {
            this(sketches, edges, abs, bins, null);
        }

        public static Pass minMax(boolean sketches) {
            return new Pass(sketches, Map.of(), false, 0);
        }

        /** This pass, also accumulating the input Gram matrices of {@code layers}. */
        public Pass withGrams(java.util.Set<Integer> layers) {
            return new Pass(sketches, edges, abs, bins, layers);
        }

        public static final int SKETCH_K = 30;
    }

    /** One activation tensor's statistics. */
    public static final class Entry {
        final MinMaxObserver minMax = new MinMaxObserver(1);
        ReqSketch up, down;
        Histogram histogram;

        public float min() {
            return minMax.min(0);
        }

        public float max() {
            return minMax.max(0);
        }

        public long count() {
            return minMax.count();
        }

        public ReqSketch up() {
            return up;
        }

        public ReqSketch down() {
            return down;
        }

        public Histogram histogram() {
            return histogram;
        }
    }

    private final Pass pass;
    private final Map<Integer, Entry> entries = new TreeMap<>();
    private final Map<Integer, Gram> grams = new TreeMap<>();

    public Calibration(Pass pass) {
        this.pass = pass;
    }

    public Pass pass() {
        return pass;
    }

    public Map<Integer, Entry> entries() {
        return entries;
    }

    /** The input Gram matrices accumulated so far, by layer. */
    public Map<Integer, Gram> grams() {
        return grams;
    }

    /** A weighted layer's input ({@code rows} rows of {@code k}): accumulated when this pass collects its Gram matrix. */
    public Calibration updateInput(int layer, float[] x, int rows, int k) {
        if (pass.grams().contains(layer)) grams.computeIfAbsent(layer, l -> new Gram(k)).update(x, rows);
        return this;
    }

    private Entry entry(int key) {
        return entries.computeIfAbsent(key, k -> {
            Entry e = new Entry();
            if (pass.sketches()) {
                e.up = sketch();
                e.down = sketch();
            }
            float[] ed = pass.edges().get(k);
            if (ed != null) e.histogram = new Histogram(ed[0], ed[1], pass.bins());
            return e;
        });
    }

    private static ReqSketch sketch() {
        return ReqSketch.builder().setK(Pass.SKETCH_K).setHighRankAccuracy(true).build();
    }

    public Calibration update(int key, float[] values) {
        Entry e = entry(key);
        e.minMax.update(values, new long[]{values.length}, 0);
        if (e.up != null) for (float v : values) {
            e.up.update(v);
            e.down.update(-v);
        }
        if (e.histogram != null) e.histogram.update(values, pass.abs());
        return this;
    }

    public Calibration merge(Calibration o) {
        for (Map.Entry<Integer, Entry> x : o.entries.entrySet()) {
            Entry e = entry(x.getKey()), f = x.getValue();
            e.minMax.merge(f.minMax);
            if (f.up != null) {
                if (e.up == null) {
                    e.up = sketch();
                    e.down = sketch();
                }
                e.up.merge(f.up);
                e.down.merge(f.down);
            }
            if (f.histogram != null) {
                if (e.histogram == null) e.histogram = new Histogram(f.histogram.lo(), f.histogram.hi(), f.histogram.bins());
                e.histogram.merge(f.histogram);
            }
        }
        o.grams.forEach((l, g) -> {
            Gram mine = grams.get(l);
            if (mine == null) grams.put(l, new Gram(g.columns()).merge(g)); // a copy: o stays o
            else mine.merge(g);
        });
        return this;
    }

    public byte[] toBytes() {
        return Bytes.write(out -> {
            out.writeBoolean(pass.sketches());
            out.writeBoolean(pass.abs());
            out.writeInt(pass.bins());
            out.writeInt(entries.size());
            for (Map.Entry<Integer, Entry> x : entries.entrySet()) {
                Entry e = x.getValue();
                out.writeInt(x.getKey());
                writeBlob(out, e.minMax.toBytes());
                out.writeBoolean(e.up != null);
                if (e.up != null) {
                    writeBlob(out, e.up.toByteArray());
                    writeBlob(out, e.down.toByteArray());
                }
                out.writeBoolean(e.histogram != null);
                if (e.histogram != null) e.histogram.write(out);
            }
            out.writeInt(pass.grams().size());
            for (int l : pass.grams()) out.writeInt(l); // a TreeSet: in order
            out.writeInt(grams.size());
            for (Map.Entry<Integer, Gram> g : grams.entrySet()) {
                out.writeInt(g.getKey());
                writeBlob(out, g.getValue().toBytes());
            }
        });
    }

    public static Calibration fromBytes(byte[] b) {
        return Bytes.read(b, in -> {
            boolean sketches = in.readBoolean(), abs = in.readBoolean();
            int bins = in.readInt(), n = in.readInt();
            Map<Integer, float[]> edges = new TreeMap<>();
            Map<Integer, Entry> read = new TreeMap<>();
            for (int i = 0; i < n; i++) {
                int key = in.readInt();
                Entry e = new Entry();
                e.minMax.merge(MinMaxObserver.fromBytes(readBlob(in)));
                if (in.readBoolean()) {
                    e.up = ReqSketch.heapify(Memory.wrap(readBlob(in)));
                    e.down = ReqSketch.heapify(Memory.wrap(readBlob(in)));
                }
                if (in.readBoolean()) {
                    e.histogram = Histogram.read(in);
                    edges.put(key, new float[]{e.histogram.lo(), e.histogram.hi()});
                }
                read.put(key, e);
            }
            java.util.Set<Integer> gramLayers = new java.util.TreeSet<>();
            for (int i = in.readInt(); i > 0; i--) gramLayers.add(in.readInt());
            Calibration c = new Calibration(new Pass(sketches, edges, abs, bins, gramLayers));
            c.entries.putAll(read);
            for (int i = in.readInt(); i > 0; i--) {
                int l = in.readInt();
                c.grams.put(l, Gram.fromBytes(readBlob(in)));
            }
            return c;
        });
    }

    private static void writeBlob(java.io.DataOutputStream out, byte[] b) throws java.io.IOException {
        out.writeInt(b.length);
        out.write(b);
    }

    private static byte[] readBlob(java.io.DataInputStream in) throws java.io.IOException {
        byte[] b = new byte[in.readInt()];
        in.readFully(b);
        return b;
    }
}
