package io.squeeze.core;

import java.util.Comparator;
import java.util.Objects;

/**
 * One parameter tensor of a network: a layer index and the layer's DL4J parameter key ({@code W}, {@code b}, ...).
 * Ordered by layer, then parameter. Written {@code "<layer>_<param>"} (e.g. {@code 0_W}) where a string is needed.
 */
public record TensorKey(int layer, String param) implements Comparable<TensorKey>, java.io.Serializable {
    private static final Comparator<TensorKey> ORDER = Comparator.comparingInt(TensorKey::layer).thenComparing(TensorKey::param);

    public TensorKey {
        if (layer < 0) throw new IllegalArgumentException("a tensor's layer must be >= 0, got " + layer);
        Objects.requireNonNull(param, "param");
        if (param.isEmpty()) throw new IllegalArgumentException("a tensor's parameter key must not be empty");
    }

    /** Layer {@code layer}'s weights ({@code W}). */
    public static TensorKey weights(int layer) {
        return new TensorKey(layer, "W");
    }

    /** Layer {@code layer}'s bias ({@code b}). */
    public static TensorKey bias(int layer) {
        return new TensorKey(layer, "b");
    }

    /** Reads {@code "<layer>_<param>"}. */
    public static TensorKey parse(String s) {
        int u = s.indexOf('_');
        try {
            return new TensorKey(Integer.parseInt(s.substring(0, u)), s.substring(u + 1));
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("'" + s + "' is not a tensor key <layer>_<param>", e);
        }
    }

    @Override
    public int compareTo(TensorKey o) {
        return ORDER.compare(this, o);
    }

    @Override
    public String toString() {
        return layer + "_" + param;
    }
}
