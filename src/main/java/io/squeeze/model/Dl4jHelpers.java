package io.squeeze.model;

/**
 * DL4J's native layer helpers on: convolution, subsampling and batch normalization run through oneDNN (the
 * {@code nd4j-native} build with the {@code linux-x86_64-onednn} classifier the job jar ships) instead of DL4J's
 * im2col + GEMM path. DL4J 1.0.0-M2 turns helpers off unless the system property
 * {@value #PROPERTY} is {@code false}, and its oneDNN check looks for a class ND4J renamed (the
 * {@code org.nd4j.nativeblas.Nd4jCpu} shim answers it). Measured on LeNet-5 training (2 cores, AVX2): 525 → 1,230
 * rows/s in one process (docs/BENCHMARKS.md). Results agree with the im2col path to float rounding (tested).
 * A property the user set is left as it is.
 */
public final class Dl4jHelpers {
    public static final String PROPERTY = "org.eclipse.deeplearning4j.helpers.disable";

    private Dl4jHelpers() {}

    /** Turns the helpers on for networks created from now on in this JVM, unless {@value #PROPERTY} is set. */
    public static void enable() {
        if (System.getProperty(PROPERTY) == null) System.setProperty(PROPERTY, "false");
    }

    /** Whether networks created now get the oneDNN helpers (the property and the native library both allow it). */
    public static boolean active() {
        return !Boolean.parseBoolean(System.getProperty(PROPERTY, "true")) && org.deeplearning4j.nn.layers.mkldnn.BaseMKLDNNHelper.mklDnnEnabled();
    }
}
