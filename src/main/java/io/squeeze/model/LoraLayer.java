package io.squeeze.model;

/**
 * A layer carrying a LoRA adapter (Hu et al. 2021): a dense layer ({@link LoraDense}) or a convolution
 * ({@link LoraConv}), its frozen base W (and b) plus trained A and B scaled by α/r.
 */
public sealed interface LoraLayer permits LoraDense, LoraConv {
    long nIn();

    long nOut();

    int rank();

    /** α / r. */
    double scale();

    /** The adapter's trained parameters: A's and B's. */
    long adapterParams();

    /** Whether {@code param} trains: only the adapter's A and B do; the base's W and b are frozen. */
    static boolean trains(String param) {
        return param.equals("A") || param.equals("B");
    }

    /**
     * An adapter layer's initial parameters: A Gaussian with standard deviation 1/√fanIn and B zero (so step 0 is the
     * base), b zero when there is one, W Gaussian (the base's weights are copied over it).
     */
    static void initialize(java.util.Map<String, org.nd4j.linalg.api.ndarray.INDArray> params, long seed, long fanIn, long nOut) {
        java.util.Random r = new java.util.Random(seed);
        var a = params.get("A");
        double std = 1 / Math.sqrt(fanIn);
        for (long i = 0; i < a.length(); i++) a.putScalar(i, r.nextGaussian() * std);
        params.get("B").assign(0);
        if (params.containsKey("b")) params.get("b").assign(0);
        var w = params.get("W");
        double ws = Math.sqrt(2.0 / (fanIn + nOut));
        for (long i = 0; i < w.length(); i++) w.putScalar(i, r.nextGaussian() * ws);
    }
}
