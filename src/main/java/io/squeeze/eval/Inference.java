package io.squeeze.eval;

import io.squeeze.data.Batches;
import io.squeeze.data.Normalizer;
import io.squeeze.model.DenseRuntime;
import io.squeeze.model.NdRows;
import io.squeeze.quantize.QuantRunner;
import io.squeeze.quantize.QuantizedModel;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

/**
 * Runs a network on raw batches: applies the model's own normalization to a copy of the features, then — for a
 * feed-forward network of dense layers — {@link DenseRuntime} (DL4J's layers as GEMMs into column-major buffers),
 * otherwise DL4J's batched {@code output()} in inference mode (a ComputationGraph's single output); for a quantized model, the quantized runtime on one
 * of its paths (integer arithmetic, fake-quant). Returns class probabilities row-major. One instance per thread.
 */
public final class Inference {
    private final MultiLayerNetwork net;
    private final org.deeplearning4j.nn.graph.ComputationGraph graph;
    private final DenseRuntime dense;
    private final QuantRunner runner;
    private final QuantRunner.Path path;
    private final Normalizer normalizer;
    private final int numClasses;

    public Inference(MultiLayerNetwork net, Normalizer normalizer, int numClasses) {
        this(net, null, null, normalizer, numClasses);
    }

    /** A branching graph (one input, one output). */
    public Inference(org.deeplearning4j.nn.graph.ComputationGraph graph, Normalizer normalizer, int numClasses) {
        this(null, graph, null, null, normalizer, numClasses);
    }

    /** This thread's copy of a shipped network, stack or graph. */
    public static Inference of(io.squeeze.model.NetPayload p, Normalizer normalizer, int numClasses) {
        return p.isGraph() ? new Inference(p.graph(), normalizer, numClasses) : new Inference(p.network(), normalizer, numClasses);
    }

    private Inference(MultiLayerNetwork net, QuantRunner runner, QuantRunner.Path path, Normalizer normalizer, int numClasses) {
        this(net, null, runner, path, normalizer, numClasses);
    }

    private Inference(MultiLayerNetwork net, org.deeplearning4j.nn.graph.ComputationGraph graph, QuantRunner runner, QuantRunner.Path path,
                      Normalizer normalizer, int numClasses) {
        this.net = net;
        this.graph = graph;
        this.dense = net == null ? null : DenseRuntime.of(net).orElse(null);
        this.runner = runner;
        this.path = path;
        this.normalizer = normalizer;
        this.numClasses = numClasses;
    }

    /** A quantized model run on {@code path}. */
    public static Inference quantized(QuantizedModel model, QuantRunner.Path path, Normalizer normalizer, int numClasses) {
        return new Inference(null, new QuantRunner(model), path, normalizer, numClasses);
    }

    public int numClasses() {
        return numClasses;
    }

    public float[] probabilities(Batches.Batch b) {
        float[] x = normalizer.appliedRows(b.features(), b.rows());
        if (runner != null) {
            float[] p = runner.run(x, b.rows(), b.numFeatures(), path, null);
            if (p.length != b.rows() * numClasses)
                throw new IllegalStateException("quantized network returned " + p.length + " values for " + b.rows() + " rows of " + numClasses + " classes");
            return p;
        }
        float[] p;
        if (dense != null) {
            p = dense.output(x, b.rows(), b.numFeatures());
        } else if (graph != null) {
            p = NdRows.toRowMajor(graph.outputSingle(false, NdRows.of(x, b.rows(), b.numFeatures())));
        } else {
            p = NdRows.toRowMajor(net.output(NdRows.of(x, b.rows(), b.numFeatures()), false));
        }
        if (p.length != b.rows() * numClasses)
            throw new IllegalStateException("network returned " + p.length + " values for " + b.rows() + " rows of " + numClasses + " classes");
        return p;
    }
}
