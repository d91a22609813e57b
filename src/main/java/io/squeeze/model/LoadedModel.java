package io.squeeze.model;

import io.squeeze.core.TensorKey;
import io.squeeze.core.Mask;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.util.Map;

/**
 * A network with its metadata, provenance and pruning masks (a quantized artifact's integer form: {@code artifact.Loaded}).
 * The network is a layer stack ({@code net}) or, for the commands that take branching graphs (a ResNet, a Keras
 * functional model with merges; see {@link GraphChain}), a DL4J {@link ComputationGraph} ({@code graph}, and
 * {@code net} null); exactly one of the two is set.
 *
 * @param net         the layer stack, parameters initialised; null for a graph
 * @param meta        input/output description and normalization
 * @param sha256      sha256 of the source file (for an artifact: of its model.zip)
 * @param source      the path it was loaded from
 * @param kind        what the path was
 * @param storedBytes bytes on storage (model file, or the artifact's packed form)
 * @param masks       pruning masks by tensor; empty for a model never pruned
 * @param graph       the branching graph, or null for a layer stack
 */
public record LoadedModel(MultiLayerNetwork net, ModelMeta meta, String sha256, String source, SourceKind kind, long storedBytes,
                          Map<TensorKey, Mask> masks, ComputationGraph graph) {
    public LoadedModel {
        if ((net == null) == (graph == null)) throw new IllegalArgumentException("a loaded model is a layer stack or a graph: exactly one of them");
    }

    public LoadedModel(MultiLayerNetwork net, ModelMeta meta, String sha256, String source, SourceKind kind, long storedBytes,
                       Map<TensorKey, Mask> masks) {
        this(net, meta, sha256, source, kind, storedBytes, masks, null);
    }

    public LoadedModel(MultiLayerNetwork net, ModelMeta meta, String sha256, String source, SourceKind kind, long storedBytes) {
        this(net, meta, sha256, source, kind, storedBytes, Map.of(), null);
    }

    /** A branching graph. */
    public static LoadedModel ofGraph(ComputationGraph graph, ModelMeta meta, String sha256, String source, SourceKind kind, long storedBytes) {
        return new LoadedModel(null, meta, sha256, source, kind, storedBytes, Map.of(), graph);
    }

    public boolean isGraph() {
        return graph != null;
    }

    /** The layers with parameters in DL4J's order: a stack's in order, a graph's in topological order. */
    public org.deeplearning4j.nn.api.Layer[] layers() {
        return graph != null ? graph.getLayers() : net.getLayers();
    }

    public long numParams() {
        return graph != null ? graph.numParams() : net.numParams();
    }
}
