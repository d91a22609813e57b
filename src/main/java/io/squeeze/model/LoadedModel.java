package io.squeeze.model;

import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

/**
 * A network with its metadata and provenance.
 *
 * @param net         the network, parameters initialised
 * @param meta        input/output description and normalization
 * @param sha256      sha256 of the source file (for an artifact: of its model.zip)
 * @param source      the path it was loaded from
 * @param kind        what the path was
 * @param storedBytes bytes on storage (model file, or the artifact's packed form)
 */
public record LoadedModel(MultiLayerNetwork net, ModelMeta meta, String sha256, String source, SourceKind kind, long storedBytes) {
}
