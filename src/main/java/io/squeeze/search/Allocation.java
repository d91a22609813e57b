package io.squeeze.search;

import io.squeeze.core.BadInputException;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A level per layer that reaches a storage budget with the least predicted damage, solved from sensitivity curves
 * as a multiple-choice knapsack: each layer takes exactly one of its measured levels (or none: no compression), a
 * level's damage is its measured increase of the metric's loss with only that layer compressed, damages add up
 * across layers (the additivity assumption of Han et al. 2015's per-layer rates and of ModelOpt's {@code
 * auto_quantize}), and the chosen levels must save at least {@code required} (weights pruned, or bits). Solved
 * exactly by dynamic programming over the saving, counted in units of {@code required / RESOLUTION} rounded down
 * per option — so a solution's true saving is never below its counted one, and a found solution always meets the
 * budget; a cheaper solution that needs the rounded-off fraction of a unit can be missed.
 */
public final class Allocation {
    static final int RESOLUTION = 20_000;

    private Allocation() {}

    /** What a level costs: the damage measure read from a curve. */
    public enum Damage {
        /** Increase of the cross-entropy loss (smooth where accuracy is still flat). */
        LOSS,
        /** Drop of accuracy. */
        ACCURACY;

        /** The damage of {@code p} against the unchanged model {@code base} (never negative). */
        public double of(Sensitivity.Point base, Sensitivity.Point p) {
            double d = this == LOSS ? p.loss() - base.loss() : base.accuracy() - p.accuracy();
            return Math.max(0, d);
        }
    }

    /** One layer's options: levels with their damage and saving; the option "none" (level null) is always there. */
    public record Choice(int layer, String name, List<Double> levels, double[] damage, double[] saving) {}

    /** The chosen level per layer (null: the layer stays as it is), the predicted damage and the saving. */
    public record Result(List<Integer> layers, List<Double> levels, double predictedDamage, double saving, double required) {
        public Double levelOf(int layer) {
            int i = layers.indexOf(layer);
            return i < 0 ? null : levels.get(i);
        }
    }

    /** Options from curves, the saving of a level given by {@code saving} (e.g. weights pruned, bits saved). */
    public static List<Choice> choices(Sensitivity s, Damage damage, java.util.function.ToDoubleFunction<Sensitivity.Point> saving) {
        List<Choice> out = new ArrayList<>();
        Sensitivity.Point base = s.baseline();
        for (Sensitivity.LayerCurve l : s.layers()) {
            int n = l.curve().size();
            double[] d = new double[n], g = new double[n];
            List<Double> levels = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                Sensitivity.Point p = l.curve().get(i);
                levels.add(p.level());
                d[i] = damage.of(base, p);
                g[i] = saving.applyAsDouble(p);
            }
            out.add(new Choice(l.index(), l.name(), levels, d, g));
        }
        return out;
    }

    /** The least-damage choice saving at least {@code required}; bad input naming the reachable maximum when none does. */
    public static Result solve(List<Choice> choices, double required, String budget) {
        double reachable = 0;
        for (Choice c : choices) {
            double best = 0;
            for (double g : c.saving()) best = Math.max(best, g);
            reachable += best;
        }
        if (reachable + 1e-9 < required)
            throw new BadInputException(budget + " cannot be reached: the largest measured levels of every layer save " + fmt(reachable) + ", "
                    + fmt(required) + " needed; measure larger levels");
        int units = required <= 0 ? 0 : RESOLUTION;
        double unit = required <= 0 ? 1 : required / RESOLUTION;
        int L = choices.size();
        double[] cost = new double[units + 1];
        java.util.Arrays.fill(cost, Double.POSITIVE_INFINITY);
        cost[0] = 0;
        int[][] pick = new int[L][units + 1];
        for (int l = 0; l < L; l++) {
            Choice c = choices.get(l);
            double[] next = new double[units + 1];
            java.util.Arrays.fill(next, Double.POSITIVE_INFINITY);
            int[] p = pick[l];
            java.util.Arrays.fill(p, -2);
            for (int u = 0; u <= units; u++) {
                if (cost[u] == Double.POSITIVE_INFINITY) continue;
                if (cost[u] < next[u]) { // "none"
                    next[u] = cost[u];
                    p[u] = -1;
                }
                for (int o = 0; o < c.levels().size(); o++) {
                    long gain = (long) Math.floor(c.saving()[o] / unit + 1e-9);
                    int v = (int) Math.min(units, u + Math.max(0, gain));
                    double nc = cost[u] + c.damage()[o];
                    if (nc < next[v] - 1e-15) {
                        next[v] = nc;
                        p[v] = encode(u, o);
                    }
                }
            }
            cost = next;
            pick[l] = p;
        }
        if (cost[units] == Double.POSITIVE_INFINITY)
            throw new BadInputException(budget + " cannot be reached with the measured levels (counted in units of " + unit + ")");
        List<Integer> layers = new ArrayList<>();
        List<Double> levels = new ArrayList<>();
        double saving = 0;
        int u = units;
        Double[] chosen = new Double[L];
        for (int l = L - 1; l >= 0; l--) {
            int code = pick[l][u];
            if (code == -1) continue;
            int prev = code >>> 8, o = code & 0xff;
            chosen[l] = choices.get(l).levels().get(o);
            saving += choices.get(l).saving()[o];
            u = prev;
        }
        for (int l = 0; l < L; l++) {
            layers.add(choices.get(l).layer());
            levels.add(chosen[l]);
        }
        return new Result(layers, levels, cost[units], saving, required);
    }

    public static String fmt(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : String.format(Locale.ROOT, "%.6g", v);
    }

    private static int encode(int prevUnit, int option) {
        if (option > 0xff) throw new BadInputException("at most 256 levels per layer, got " + (option + 1));
        return prevUnit << 8 | option;
    }
}
