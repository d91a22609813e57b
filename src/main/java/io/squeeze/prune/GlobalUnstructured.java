package io.squeeze.prune;

/**
 * Unstructured, the smallest |w| across all chosen tensors with one threshold: PyTorch's {@code global_unstructured}
 * with {@code L1Unstructured} (Han et al. 2015; Frankle and Carbin 2019 prune LeNet this way).
 */
@com.fasterxml.jackson.annotation.JsonTypeName("global")
public record GlobalUnstructured() implements PruneMethod.Selecting {
    @Override
    public float[] scores(Target t, int from, int to) {
        return L1Unstructured.magnitude(t, from, to);
    }

    @Override
    public boolean global() {
        return true;
    }
}
