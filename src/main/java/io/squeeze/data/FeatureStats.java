package io.squeeze.data;

import io.squeeze.core.Bytes;

import java.io.Serializable;

/**
 * Per-feature count, mean, variance, min and max as a mergeable value ({@code update / merge / toBytes}).
 *
 * <p>Means and sums of squared deviations are combined with the pairwise update of Chan, Golub and LeVeque,
 * "Algorithms for computing the sample variance" (1979), so a split-and-merged pass equals a single pass up to
 * floating-point rounding, in any merge order. Memory is O(features), independent of the number of rows.
 */
public final class FeatureStats implements Serializable {
    private static final long serialVersionUID = 1L;

    private int numFeatures = -1; // -1: empty, width not known yet
    private long count;
    private double[] mean, m2, min, max;

    public static FeatureStats empty() {
        return new FeatureStats();
    }

    public int numFeatures() {
        return Math.max(numFeatures, 0);
    }

    public long count() {
        return count;
    }

    public double mean(int j) {
        return mean[j];
    }

    /** Population variance. */
    public double variance(int j) {
        return count == 0 ? 0 : m2[j] / count;
    }

    public double min(int j) {
        return min[j];
    }

    public double max(int j) {
        return max[j];
    }

    private void init(int n) {
        numFeatures = n;
        mean = new double[n];
        m2 = new double[n];
        min = new double[n];
        max = new double[n];
        java.util.Arrays.fill(min, Double.POSITIVE_INFINITY);
        java.util.Arrays.fill(max, Double.NEGATIVE_INFINITY);
    }

    /** Adds one row (Welford's update). */
    public FeatureStats update(float[] x) {
        if (numFeatures < 0) init(x.length);
        if (x.length != numFeatures)
            throw new IllegalArgumentException("row has " + x.length + " features, expected " + numFeatures);
        count++;
        for (int j = 0; j < numFeatures; j++) {
            double v = x[j];
            double d = v - mean[j];
            mean[j] += d / count;
            m2[j] += d * (v - mean[j]);
            if (v < min[j]) min[j] = v;
            if (v > max[j]) max[j] = v;
        }
        return this;
    }

    /** Folds {@code other} into this one and returns this. */
    public FeatureStats merge(FeatureStats other) {
        if (other.count == 0) return this;
        if (count == 0) {
            init(other.numFeatures);
            copyFrom(other);
            return this;
        }
        if (other.numFeatures != numFeatures)
            throw new IllegalArgumentException("cannot merge stats of " + numFeatures + " and " + other.numFeatures + " features");
        long n = count + other.count;
        for (int j = 0; j < numFeatures; j++) {
            double d = other.mean[j] - mean[j];
            mean[j] += d * other.count / n;
            m2[j] += other.m2[j] + d * d * ((double) count * other.count / n);
            min[j] = Math.min(min[j], other.min[j]);
            max[j] = Math.max(max[j], other.max[j]);
        }
        count = n;
        return this;
    }

    private void copyFrom(FeatureStats o) {
        count = o.count;
        System.arraycopy(o.mean, 0, mean, 0, numFeatures);
        System.arraycopy(o.m2, 0, m2, 0, numFeatures);
        System.arraycopy(o.min, 0, min, 0, numFeatures);
        System.arraycopy(o.max, 0, max, 0, numFeatures);
    }

    public byte[] toBytes() {
        return Bytes.write(out -> {
            out.writeInt(numFeatures);
            out.writeLong(count);
            for (int j = 0; j < numFeatures; j++) {
                out.writeDouble(mean[j]);
                out.writeDouble(m2[j]);
                out.writeDouble(min[j]);
                out.writeDouble(max[j]);
            }
        });
    }

    public static FeatureStats fromBytes(byte[] bytes) {
        return Bytes.read(bytes, in -> {
            FeatureStats s = new FeatureStats();
            int n = in.readInt();
            long c = in.readLong();
            if (n < 0) return s;
            s.init(n);
            s.count = c;
            for (int j = 0; j < n; j++) {
                s.mean[j] = in.readDouble();
                s.m2[j] = in.readDouble();
                s.min[j] = in.readDouble();
                s.max[j] = in.readDouble();
            }
            return s;
        });
    }
}
