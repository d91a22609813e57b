package io.squeeze.prune;

/**
 * Unstructured, entries chosen uniformly at random: PyTorch's {@code random_unstructured}. The score of an entry is
 * a uniform draw in [0, 1) from a counter-based generator (SplitMix64 of seed, tensor and position), so the draw does
 * not depend on how the tensor is chunked or where it runs.
 */
@com.fasterxml.jackson.annotation.JsonTypeName("random")
public record RandomUnstructured(long seed) implements PruneMethod.Selecting {
    @Override
    public float[] scores(Target t, int from, int to) {
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
}
