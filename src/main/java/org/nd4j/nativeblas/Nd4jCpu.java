package org.nd4j.nativeblas;

/**
 * Compatibility shim for DL4J 1.0.0-M2: {@code org.deeplearning4j.nn.layers.mkldnn.BaseMKLDNNHelper#mklDnnEnabled}
 * looks for {@code org.nd4j.nativeblas.Nd4jCpu$Environment}, a class ND4J moved to
 * {@code org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu} in that release, so without this class DL4J never uses
 * its oneDNN layer helpers (convolution, pooling, batch norm) even when ND4J's native library is built with oneDNN.
 * This class answers with the real library's flag. See {@link io.squeeze.model.Dl4jHelpers}.
 */
public final class Nd4jCpu {
    private Nd4jCpu() {}

    /** The one method DL4J calls, on the one instance it asks for. */
    public static final class Environment {
        private static final Environment INSTANCE = new Environment();

        private Environment() {}

        public static Environment getInstance() {
            return INSTANCE;
        }

        /** Whether the loaded libnd4j was built with oneDNN and uses it. */
        public boolean isUseMKLDNN() {
            return org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu.Environment.getInstance().isUseONEDNN();
        }
    }
}
