package io.squeeze.data;

import java.io.Serializable;
import java.util.Arrays;

/**
 * An affine per-feature transform {@code x' = (x - offset) * scale}, fitted on training data.
 *
 * @param kind   which statistic it came from
 * @param offset per-feature offset (empty for NONE)
 * @param scale  per-feature multiplier (empty for NONE)
 */
public record Normalizer(Normalization kind, float[] offset, float[] scale) implements Serializable {

    public static final Normalizer NONE = new Normalizer(Normalization.NONE, new float[0], new float[0]);

    public Normalizer {
        if (kind == Normalization.NONE && (offset.length != 0 || scale.length != 0))
            throw new IllegalArgumentException("normalizer NONE takes no statistics");
        if (offset.length != scale.length)
            throw new IllegalArgumentException("normalizer offset/scale lengths differ: " + offset.length + " vs " + scale.length);
    }

    /** Fits the transform of {@code kind} from feature statistics. */
    public static Normalizer fit(Normalization kind, FeatureStats stats) {
        if (kind == Normalization.NONE) return NONE;
        int n = stats.numFeatures();
        float[] off = new float[n], sc = new float[n];
        for (int j = 0; j < n; j++) {
            double o, range;
            if (kind == Normalization.MINMAX) {
                o = stats.min(j);
                range = stats.max(j) - stats.min(j);
            } else {
                o = stats.mean(j);
                range = Math.sqrt(stats.variance(j));
            }
            off[j] = (float) o;
            sc[j] = range > 0 ? (float) (1.0 / range) : 0f;
        }
        return new Normalizer(kind, off, sc);
    }

    public boolean isIdentity() {
        return kind == Normalization.NONE;
    }

    /** Applies the transform in place and returns the same array. */
    public float[] apply(float[] x) {
        if (isIdentity()) return x;
        if (x.length != offset.length)
            throw new IllegalArgumentException("normalizer fitted on " + offset.length + " features, got " + x.length);
        for (int j = 0; j < x.length; j++) x[j] = (x[j] - offset[j]) * scale[j];
        return x;
    }

    /** Applies the transform to {@code rows} rows stored row-major in {@code flat}, in place. */
    public float[] applyRows(float[] flat, int rows) {
        if (isIdentity()) return flat;
        int n = offset.length;
        if (flat.length < rows * n) throw new IllegalArgumentException("batch holds " + flat.length + " values, expected " + rows * n);
        for (int r = 0; r < rows; r++) {
            int base = r * n;
            for (int j = 0; j < n; j++) flat[base + j] = (flat[base + j] - offset[j]) * scale[j];
        }
        return flat;
    }

    /** The rows normalized, leaving {@code flat} untouched: {@code flat} itself when this is the identity, else a copy. */
    public float[] appliedRows(float[] flat, int rows) {
        return isIdentity() ? flat : applyRows(flat.clone(), rows);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Normalizer n && n.kind == kind && Arrays.equals(n.offset, offset) && Arrays.equals(n.scale, scale);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * kind.hashCode() + Arrays.hashCode(offset)) + Arrays.hashCode(scale);
    }

    @Override
    public String toString() {
        return "Normalizer[" + kind + ", " + offset.length + " features]";
    }
}
