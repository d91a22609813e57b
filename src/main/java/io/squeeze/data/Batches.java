package io.squeeze.data;

import io.squeeze.core.BadInputException;

import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * Groups a stream of rows into fixed-size batches without holding more than one batch: how every pass over data
 * (training, evaluation, calibration) feeds a network from a partition.
 */
public final class Batches {
    private Batches() {}

    /**
     * A batch, row-major.
     *
     * @param rows        rows in this batch (the last one may be short)
     * @param numFeatures features per row
     * @param features    rows × numFeatures values
     * @param labels      class per row (-1 where unlabelled)
     * @param ids         row ids
     */
    public record Batch(int rows, int numFeatures, float[] features, int[] labels, long[] ids) {}

    public static Iterator<Batch> of(Iterator<Example> rows, int batchSize, int numFeatures, String where) {
        if (batchSize <= 0) throw new BadInputException("batch size must be > 0, got " + batchSize);
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                return rows.hasNext();
            }

            @Override
            public Batch next() {
                if (!rows.hasNext()) throw new NoSuchElementException();
                float[] f = new float[batchSize * numFeatures];
                int[] l = new int[batchSize];
                long[] ids = new long[batchSize];
                int n = 0;
                while (n < batchSize && rows.hasNext()) {
                    Example e = rows.next();
                    if (e.features().length != numFeatures)
                        throw new BadInputException(where + " row " + e.id() + " has " + e.features().length
                                + " features, expected " + numFeatures);
                    System.arraycopy(e.features(), 0, f, n * numFeatures, numFeatures);
                    l[n] = e.label();
                    ids[n] = e.id();
                    n++;
                }
                if (n < batchSize) {
                    f = java.util.Arrays.copyOf(f, n * numFeatures);
                    l = java.util.Arrays.copyOf(l, n);
                    ids = java.util.Arrays.copyOf(ids, n);
                }
                return new Batch(n, numFeatures, f, l, ids);
            }
        };
    }
}
