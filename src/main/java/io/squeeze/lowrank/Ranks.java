package io.squeeze.lowrank;


import java.util.ArrayList;
import java.util.List;

/**
 * What rank selection works on: each layer's shape and singular values. A rank-k factorization of an nIn×nOut
 * matrix costs k·(nIn + nOut) weights instead of nIn·nOut, so it saves only while k < nIn·nOut / (nIn + nOut).
 * Each {@link RankPolicy} chooses ranks from these.
 */
public final class Ranks {
    private Ranks() {}

    /**
     * A matrix's shape and singular values.
     *
     * @param name      how messages name it
     * @param index     its layer index, -1 when it has none
     * @param layerName its layer's name, or null
     */
    public record Layer(String name, int rows, int cols, double[] s, int index, String layerName) {
        public Layer(String name, int rows, int cols, double[] s) {
            this(name, rows, cols, s, -1, null);
        }

        public int maxRank() {
            return Math.min(rows, cols);
        }

        public long dense() {
            return (long) rows * cols;
        }

        public long cost(int k) {
            return (long) k * (rows + cols);
        }

        public boolean saves(int k) {
            return cost(k) < dense();
        }

        /** Fraction of Σσ² kept by rank k. */
        public double energyKept(int k) {
            double t = 0, kept = 0;
            for (int i = 0; i < s.length; i++) {
                t += s[i] * s[i];
                if (i < k) kept += s[i] * s[i];
            }
            return t == 0 ? 1 : kept / t;
        }
    }

    /** σ²(index) per weight of the next rank: the joint budget's greedy order. */
    static double gain(Layer l, int index) {
        return l.s()[index] * l.s()[index] / (l.rows() + l.cols());
    }

    public static int energyRank(double[] s, double energy) {
        double total = 0;
        for (double v : s) total += v * v;
        double acc = 0;
        for (int i = 0; i < s.length; i++) {
            acc += s[i] * s[i];
            if (acc >= energy * total * (1 - 1e-12)) return i + 1;
        }
        return s.length;
    }

    /** Indices of layers whose chosen rank would not save weights (they stay dense). */
    public static List<Integer> noSaving(List<Layer> layers, int[] k) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < k.length; i++) if (!layers.get(i).saves(k[i])) out.add(i);
        return out;
    }
}
