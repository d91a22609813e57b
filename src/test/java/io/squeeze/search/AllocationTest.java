package io.squeeze.search;

import io.squeeze.core.BadInputException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** The knapsack allocation against brute force on random instances, and its refusals. */
class AllocationTest {
    static Allocation.Choice choice(int layer, Random r, int levels) {
        List<Double> ls = new ArrayList<>();
        double[] d = new double[levels], g = new double[levels];
        for (int i = 0; i < levels; i++) {
            ls.add((i + 1) / (double) (levels + 1));
            g[i] = (i + 1) * (100 + r.nextInt(900));
            d[i] = (i == 0 ? 0 : d[i - 1]) + r.nextDouble() * (i + 1);
        }
        return new Allocation.Choice(layer, "l" + layer, ls, d, g);
    }

    /** Least damage over every combination (option -1: none) saving at least {@code required}. */
    static double brute(List<Allocation.Choice> cs, double required) {
        int n = cs.size();
        int[] pick = new int[n];
        java.util.Arrays.fill(pick, -1);
        double best = Double.POSITIVE_INFINITY;
        while (true) {
            double dmg = 0, save = 0;
            for (int l = 0; l < n; l++)
                if (pick[l] >= 0) {
                    dmg += cs.get(l).damage()[pick[l]];
                    save += cs.get(l).saving()[pick[l]];
                }
            if (save >= required) best = Math.min(best, dmg);
            int l = 0;
            while (l < n && ++pick[l] == cs.get(l).levels().size()) pick[l++] = -1;
            if (l == n) return best;
        }
    }

    @Test
    void theDynamicProgramFindsTheLeastDamageThatMeetsTheBudget() {
        Random r = new Random(11);
        for (int t = 0; t < 200; t++) {
            List<Allocation.Choice> cs = new ArrayList<>();
            int layers = 2 + r.nextInt(3);
            for (int l = 0; l < layers; l++) cs.add(choice(l, r, 2 + r.nextInt(4)));
            double max = 0;
            for (var c : cs) max += c.saving()[c.levels().size() - 1];
            double required = max * (0.1 + 0.85 * r.nextDouble());
            Allocation.Result res = Allocation.solve(cs, required, "budget");
            assertTrue(res.saving() >= required, "meets the budget");
            double exact = brute(cs, required);
            // never below the true optimum (its solutions meet the budget); at most the optimum over savings rounded
            // down to the solver's units of 1/20,000 of the budget
            assertTrue(res.predictedDamage() >= exact - 1e-9, "trial " + t + ": " + res.predictedDamage() + " below exact " + exact);
            assertTrue(res.predictedDamage() <= bruteWithSlack(cs, required) + 1e-9, "trial " + t + ": " + res.predictedDamage() + " vs exact " + exact);
            double check = 0;
            for (int l = 0; l < layers; l++) {
                Double lv = res.levels().get(l);
                if (lv != null) check += cs.get(l).damage()[cs.get(l).levels().indexOf(lv)];
            }
            assertEquals(res.predictedDamage(), check, 1e-9, "the reported damage is the chosen levels'");
        }
    }

    /** The exact optimum when every option's saving is rounded down to the solver's units. */
    static double bruteWithSlack(List<Allocation.Choice> cs, double required) {
        double unit = required / Allocation.RESOLUTION;
        List<Allocation.Choice> rounded = new ArrayList<>();
        for (var c : cs) {
            double[] g = c.saving().clone();
            for (int i = 0; i < g.length; i++) g[i] = Math.floor(g[i] / unit + 1e-9) * unit;
            rounded.add(new Allocation.Choice(c.layer(), c.name(), c.levels(), c.damage(), g));
        }
        return brute(rounded, required - 1e-6 * unit);
    }

    @Test
    void aBudgetNoLevelReachesIsRefusedSayingWhatIsReachable() {
        List<Allocation.Choice> cs = List.of(new Allocation.Choice(0, "a", List.of(0.5), new double[]{0.1}, new double[]{50}),
                new Allocation.Choice(1, "b", List.of(0.5), new double[]{0.2}, new double[]{30}));
        BadInputException e = assertThrows(BadInputException.class, () -> Allocation.solve(cs, 90, "prune.target 0.9"));
        assertTrue(e.getMessage().startsWith("prune.target 0.9 cannot be reached: the largest measured levels of every layer save 80, 90 needed"), e.getMessage());
        Allocation.Result r = Allocation.solve(cs, 60, "t");
        assertEquals(List.of(0.5, 0.5), r.levels());
        assertEquals(0.3, r.predictedDamage(), 1e-12);
        Allocation.Result one = Allocation.solve(cs, 30, "t");
        assertEquals(java.util.Arrays.asList(0.5, null), one.levels(), "the cheaper layer that is enough alone");
        assertEquals(0.1, one.predictedDamage(), 1e-12);
    }
}
