package io.squeeze.model;

import io.squeeze.core.TensorKey;
import io.squeeze.core.Mask;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.util.Map;

/**
 * A network with its metadata, provenance and pruning masks (a quantized artifact's integer form: {@code artifact.Loaded}).
 *
 * @param net         the network, parameters initialised
 * @param meta        input/output description and normalization
 * @param sha256      sha256 of the source file (for an artifact: of its model.zip)
 * @param source      the path it was loaded from
 * @param kind        what the path was
 * @param storedBytes bytes on storage (model file, or the artifact's packed form)
 * @param masks       pruning masks by tensor; empty for a model never pruned
 */
public record LoadedModel(MultiLayerNetwork net, ModelMeta meta, String sha256, String source, SourceKind kind, long storedBytes,
                          Map<TensorKey, Mask> masks) {
    public LoadedModel(MultiLayerNetwork net, ModelMeta meta, String sha256, String source, SourceKind kind, long storedBytes) {
        this(net, meta, sha256, source, kind, storedBytes, Map.of());
    }
}
