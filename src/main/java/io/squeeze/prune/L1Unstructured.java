package io.squeeze.prune;

/** Unstructured, the smallest |w| of each tensor: PyTorch's {@code l1_unstructured} (Han et al. 2015). */
@com.fasterxml.jackson.annotation.JsonTypeName("l1")
public record L1Unstructured() implements PruneMethod.Selecting {

    @Override
    public float[] scores(Target t, int from, int to) {
        return magnitude(t, from, to);
    }

    /** |w| of every kept entry of {@code [from, to)}, NaN for pruned ones. */
    static float[] magnitude(Target t, int from, int to) {
        float[] s = new float[to - from];
        for (int i = from; i < to; i++) s[i - from] = t.mask().kept(i) ? Math.abs(t.values()[i]) : Float.NaN;
        return s;
    }
}
