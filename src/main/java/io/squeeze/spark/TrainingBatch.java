package io.squeeze.spark;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.io.Serializable;
import java.util.Arrays;

/**
 * A training minibatch as plain float arrays on the Java heap: what {@link LocalSgd} caches between rounds. Spark
 * counts its size (it does not see ND4J's off-heap buffers), and it travels through Kryo and Java serialization as it
 * is. Features, labels and their masks, as many as the network's inputs and outputs; a missing mask is null.
 */
record TrainingBatch(Tensor[] features, Tensor[] labels, Tensor[] featureMasks, Tensor[] labelMasks) implements Serializable {

    /** One array: its shape and its values in C order. */
    record Tensor(long[] shape, float[] values) implements Serializable {
        static Tensor of(INDArray a) {
            return a == null ? null : new Tensor(a.shape(), a.castTo(DataType.FLOAT).dup('c').data().asFloat());
        }

        /**
         * The values in an ND4J array, in one bulk copy ({@link io.squeeze.model.NdRows#fill}): {@code kept}'s array of
         * {@code slot} (re-made when the shape changes), or a new one when {@code kept} is null.
         */
        INDArray array(io.squeeze.model.NdRows.Buffers kept, String slot) {
            INDArray a = kept == null ? Nd4j.createUninitialized(DataType.FLOAT, shape, 'c') : kept.get(slot, DataType.FLOAT, shape, 'c');
            return io.squeeze.model.NdRows.fill(a, values);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Tensor t && Arrays.equals(shape, t.shape) && Arrays.equals(values, t.values);
        }

        @Override
        public int hashCode() {
            return 31 * Arrays.hashCode(shape) + Arrays.hashCode(values);
        }

        @Override
        public String toString() {
            return "Tensor" + Arrays.toString(shape);
        }
    }

    static TrainingBatch of(DataSet d) {
        return new TrainingBatch(new Tensor[]{Tensor.of(d.getFeatures())}, new Tensor[]{Tensor.of(d.getLabels())},
                new Tensor[]{Tensor.of(d.getFeaturesMaskArray())}, new Tensor[]{Tensor.of(d.getLabelsMaskArray())});
    }

    static TrainingBatch of(org.nd4j.linalg.dataset.api.MultiDataSet d) {
        return new TrainingBatch(tensors(d.getFeatures()), tensors(d.getLabels()), tensors(d.getFeaturesMaskArrays()),
                tensors(d.getLabelsMaskArrays()));
    }

    private static Tensor[] tensors(INDArray[] a) {
        return a == null ? null : Arrays.stream(a).map(Tensor::of).toArray(Tensor[]::new);
    }

    private static INDArray[] arrays(Tensor[] t, io.squeeze.model.NdRows.Buffers kept, String slot) {
        if (t == null) return null;
        INDArray[] a = new INDArray[t.length];
        for (int i = 0; i < t.length; i++) a[i] = t[i] == null ? null : t[i].array(kept, slot + i);
        return a;
    }

    private static INDArray first(Tensor[] t, io.squeeze.model.NdRows.Buffers kept, String slot) {
        return t == null || t.length == 0 || t[0] == null ? null : t[0].array(kept, slot + 0);
    }

    /** The rows of this minibatch. */
    long rows() {
        return features[0].shape()[0];
    }

    /** As a network of one input and one output fits it. */
    DataSet dataSet() {
        return dataSet(null);
    }

    /**
     * As {@link #dataSet()}, in {@code kept}'s arrays (one per input, output and mask, re-made when its shape changes): a worker
     * fits one minibatch at a time, and a fresh 64×784 minibatch's native arrays cost 0.4–0.6 ms against a 3 ms step
     * (docs/BENCHMARKS.md). The arrays are overwritten by the next minibatch.
     */
    DataSet dataSet(io.squeeze.model.NdRows.Buffers kept) {
        return new DataSet(first(features, kept, "f"), first(labels, kept, "l"), first(featureMasks, kept, "fm"), first(labelMasks, kept, "lm"));
    }

    /** As a ComputationGraph fits it. */
    MultiDataSet multi() {
        return multi(null);
    }

    /** As {@link #multi()}, in {@code kept}'s arrays (see {@link #dataSet(io.squeeze.model.NdRows.Buffers)}). */
    MultiDataSet multi(io.squeeze.model.NdRows.Buffers kept) {
        return new MultiDataSet(arrays(features, kept, "f"), arrays(labels, kept, "l"), arrays(featureMasks, kept, "fm"), arrays(labelMasks, kept, "lm"));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TrainingBatch b && Arrays.equals(features, b.features) && Arrays.equals(labels, b.labels)
                && Arrays.equals(featureMasks, b.featureMasks) && Arrays.equals(labelMasks, b.labelMasks);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(features) * 31 + Arrays.hashCode(labels);
    }

    @Override
    public String toString() {
        return "TrainingBatch of " + rows() + " rows";
    }
}
