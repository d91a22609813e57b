package io.squeeze.eval;

import io.squeeze.data.Batches;
import io.squeeze.data.Normalizer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Runs a network on raw batches: applies the model's own normalization to a copy of the features, then DL4J's
 * batched {@code output()} in inference mode; returns class probabilities row-major.
 */
public final class Inference {
    private final MultiLayerNetwork net;
    private final Normalizer normalizer;
    private final int numClasses;

    public Inference(MultiLayerNetwork net, Normalizer normalizer, int numClasses) {
        this.net = net;
        this.normalizer = normalizer;
        this.numClasses = numClasses;
    }

    public int numClasses() {
        return numClasses;
    }

    public float[] probabilities(Batches.Batch b) {
        float[] x = normalizer.isIdentity() ? b.features() : normalizer.applyRows(b.features().clone(), b.rows());
        INDArray in = Nd4j.create(x, new long[]{b.rows(), b.numFeatures()}, 'c');
        INDArray out = net.output(in, false);
        float[] p = out.castTo(DataType.FLOAT).dup('c').data().asFloat();
        if (p.length != b.rows() * numClasses)
            throw new IllegalStateException("network returned " + p.length + " values for " + b.rows() + " rows of " + numClasses + " classes");
        return p;
    }
}
