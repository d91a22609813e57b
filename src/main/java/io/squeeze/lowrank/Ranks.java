package io.squeeze.lowrank;

import io.squeeze.core.BadInputException;

import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;

/**
 * Rank selection from singular values. A rank-k factorization of an nIn×nOut matrix costs k·(nIn + nOut) weights
 * instead of nIn·nOut, so it saves only while k < nIn·nOut / (nIn + nOut).
 *
 * <p>The joint budget is filled greedily by energy per weight: every layer starts at rank 1 and the next
 * singular value taken is the one with the largest σᵢ² / (nIn + nOut) among all layers. Because each layer's
 * σᵢ² are non-increasing, this greedy order minimises the total discarded energy Σ σᵢ² over the budget (the
 * fractional-knapsack argument, exact up to the last value that does not fit).
 */
public final class Ranks {
    private Ranks() {}

    /** A matrix's shape and singular values. */
    public record Layer(String name, int rows, int cols, double[] s) {
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

    public static int[] choose(RankPolicy p, List<Layer> layers) {
        int[] k = new int[layers.size()];
        if (p instanceof RankPolicy.PerLayer) {
            throw new IllegalArgumentException("per-layer policies are resolved per layer: call choose(policy, layer) for each");
        }
        if (p instanceof RankPolicy.Fixed f) {
            for (int i = 0; i < k.length; i++) {
                Layer l = layers.get(i);
                if (f.rank() > l.maxRank())
                    throw new BadInputException("factorize.rank " + f.rank() + " is above min(nIn, nOut) = " + l.maxRank() + " of " + l.name());
                k[i] = f.rank();
            }
        } else if (p instanceof RankPolicy.Energy e) {
            for (int i = 0; i < k.length; i++) k[i] = energyRank(layers.get(i).s(), e.energy());
        } else {
            RankPolicy.Budget b = (RankPolicy.Budget) p;
            long total = layers.stream().mapToLong(Layer::dense).sum();
            long budget = b.of(total), used = 0;
            for (int i = 0; i < k.length; i++) {
                k[i] = 1;
                used += layers.get(i).cost(1);
            }
            if (used > budget)
                throw new BadInputException("factorize.params-budget " + budget + " weights cannot be met: rank 1 everywhere needs " + used);
            PriorityQueue<int[]> q = new PriorityQueue<>((x, y) -> Double.compare(gain(layers.get(y[0]), y[1]), gain(layers.get(x[0]), x[1])));
            for (int i = 0; i < k.length; i++) if (layers.get(i).maxRank() > 1) q.add(new int[]{i, 1});
            while (!q.isEmpty()) {
                int[] top = q.poll();
                Layer l = layers.get(top[0]);
                long c = l.rows() + l.cols();
                if (used + c > budget) continue;
                used += c;
                k[top[0]] = top[1] + 1;
                if (top[1] + 1 < l.maxRank()) q.add(new int[]{top[0], top[1] + 1});
            }
        }
        return k;
    }

    /** σ²(index) per weight of the next rank. */
    private static double gain(Layer l, int index) {
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
