package io.squeeze.prune;

import io.squeeze.core.Mask;
import io.squeeze.core.BadInputException;
import io.squeeze.TestSpark;
import io.squeeze.spark.SparkPruner;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class SelectionTest {
    static Target target(int id, int n, long seed, Amount a) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return new Target(id, id, "W", new long[]{n / 10, 10}, v, Mask.all(n), a, 1, 0);
    }

    /** A sort-based reference: the k smallest |w| (ties by flat position). */
    static Mask bySorting(Target t, long k) {
        Integer[] idx = new Integer[t.size()];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        Arrays.sort(idx, (a, b) -> {
            int c = Float.compare(Math.abs(t.values()[a]), Math.abs(t.values()[b]));
            return c != 0 ? c : Integer.compare(a, b);
        });
        boolean[] kept = new boolean[t.size()];
        Arrays.fill(kept, true);
        for (int i = 0; i < k; i++) kept[idx[i]] = false;
        return Mask.of(kept);
    }

    @Test
    void radixSelectionEqualsSortingWithTiesAndAnyChunking() {
        Target t = target(0, 10_000, 3, Amount.fraction(0.37));
        float[] v = t.values();
        for (int i = 0; i < 2000; i++) v[i * 5] = 0.25f; // 2,000 exact ties
        Mask expected = bySorting(t, Math.round(0.37 * 10_000));
        for (int chunk : new int[]{1 << 20, 999, 64}) {
            assertEquals(expected, Pruner.masks(List.of(t), new L1Unstructured(), t.amount(), chunk).get(0), "chunk " + chunk);
        }
    }

    @Test
    void amountsAndErrors() {
        assertEquals(2, Amount.fraction(0.25).of(10, "x"));
        assertEquals(4, Amount.fraction(0.35).of(10, "x"));
        assertEquals(4, Amount.fraction(0.45).of(10, "x")); // 4.5 -> 4
        assertEquals(7, Amount.parse("7").of(10, "x"));
        assertEquals(0.3, Amount.parse("0.3").fraction());
        assertEquals("prune.amount must be in [0,1], got 1.3", assertThrows(BadInputException.class, () -> Amount.parse("1.3")).getMessage());
        assertEquals("prune.amount 11 is more than the 10 remaining entries of layer 2 W",
                assertThrows(BadInputException.class, () -> Amount.count(11).of(10, "layer 2 W")).getMessage());
        assertThrows(BadInputException.class, () -> Amount.parse("lots"));
        assertEquals("prune.norm must be 1, 2 or inf, got '3'", assertThrows(BadInputException.class, () -> PruneMethod.Norm.parse("3")).getMessage());
        Target bias = new Target(0, 0, "b", new long[]{1, 1}, new float[]{1}, Mask.all(1), Amount.fraction(0.5), 1, -1);
        assertEquals("ln pruning needs more than one out slice; layer 0 b has 1",
                assertThrows(BadInputException.class, () -> Structured.ln(bias, new LnStructured(PruneMethod.Norm.L1, PruneMethod.Dim.OUT), "layer 0 b")).getMessage());
        assertTrue(assertThrows(BadInputException.class, () -> Structured.ln(bias, new LnStructured(PruneMethod.Norm.L1, PruneMethod.Dim.IN), "layer 0 b"))
                .getMessage().startsWith("prune.dim in does not exist for layer 0 b"));
    }

    @Test
    void histogramsMergeInAnyOrder() {
        Target t = target(0, 5000, 9, Amount.fraction(0.5));
        List<Chunk> chunks = Pruner.chunks(t, new L1Unstructured(), 700);
        RadixHistogram single = Pruner.chunks(t, new L1Unstructured(), 1 << 20).get(0).high();
        RadixHistogram fwd = new RadixHistogram(), rev = new RadixHistogram();
        for (Chunk c : chunks) fwd.merge(RadixHistogram.fromBytes(c.high().toBytes()));
        for (int i = chunks.size() - 1; i >= 0; i--) rev.merge(chunks.get(i).high());
        rev.merge(new RadixHistogram());
        for (int b = 0; b < RadixHistogram.BINS; b++) {
            assertEquals(single.count(b), fwd.count(b));
            assertEquals(single.count(b), rev.count(b));
        }
        assertEquals(5000, fwd.total());
    }

    @Test
    void distributedMasksEqualSingleProcessMasks() {
        List<Target> ts = new ArrayList<>();
        for (int i = 0; i < 5; i++) ts.add(target(i, 2000 + 1000 * i, 20 + i, Amount.fraction(0.1 + 0.15 * i)));
        float[] v = ts.get(2).values();
        for (int i = 0; i < 300; i++) v[i * 7] = 0.5f; // ties across chunk boundaries
        List<PruneMethod> methods = List.of(new L1Unstructured(), new GlobalUnstructured(),
                new RandomUnstructured(7), new LnStructured(PruneMethod.Norm.L2, PruneMethod.Dim.OUT),
                new LnStructured(PruneMethod.Norm.LINF, PruneMethod.Dim.IN), new Threshold(0.3));
        for (PruneMethod m : methods) {
            Map<Integer, Mask> local = Pruner.masks(ts, m, Amount.fraction(0.6), 1 << 20);
            Map<Integer, Mask> dist = SparkPruner.masks(TestSpark.jsc(), ts, m, Amount.fraction(0.6), 900);
            assertEquals(local, dist, m.label());
        }
        long pruned = SparkPruner.masks(TestSpark.jsc(), ts, new GlobalUnstructured(), Amount.fraction(0.6), 900)
                .values().stream().mapToLong(Mask::prunedCount).sum();
        assertEquals(Math.round(0.6 * (2000 + 3000 + 4000 + 5000 + 6000)), pruned);
    }
}
