package io.squeeze.spark;

import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.util.Map;

/** Test access to LoraJob's package-private NF4 base. */
public final class LoraJobAccess {
    private LoraJobAccess() {}

    public static MultiLayerNetwork nf4Base(MultiLayerNetwork net, Map<String, Object> bytes) {
        return LoraJob.nf4Base(net, bytes);
    }
}
