package io.squeeze.prune;

import java.util.ArrayList;
import java.util.List;

/** Importance scores of unstructured methods, split into {@link Chunk}s; NaN marks already pruned entries. */
public final class Scores {
    private Scores() {}

    /** |w| of every kept entry in the chunk starting at {@code from}. */
    public static float[] magnitude(Target t, int from, int to) {
        float[] s = new float[to - from];
        for (int i = from; i < to; i++) s[i - from] = t.mask().kept(i) ? Math.abs(t.values()[i]) : Float.NaN;
        return s;
    }

    /**
     * A uniform score in [0, 1) per kept entry from a counter-based generator (SplitMix64 of seed, tensor and
     * position), so the draw does not depend on how the tensor is chunked or where it runs.
     */
    public static float[] random(Target t, long seed, int from, int to) {
        float[] s = new float[to - from];
        for (int i = from; i < to; i++) {
            long z = mix(seed ^ mix(((long) t.layer() << 20) ^ t.param().hashCode()) ^ mix(i + 0x9E3779B97F4A7C15L));
            s[i - from] = t.mask().kept(i) ? (z >>> 40) * 0x1.0p-24f : Float.NaN;
        }
        return s;
    }

    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Chunks of at most {@code size} entries for the unstructured method {@code m} in selection {@code group}. */
    public static List<Chunk> chunks(Target t, PruneMethod m, int group, int size) {
        List<Chunk> out = new ArrayList<>();
        for (int from = 0, index = 0; from < t.size(); from += size, index++) {
            int to = Math.min(t.size(), from + size);
            float[] s = m instanceof PruneMethod.RandomUnstructured r ? random(t, r.seed(), from, to) : magnitude(t, from, to);
            out.add(new Chunk(group, t.id(), index, from, s));
        }
        return out;
    }
}
