package io.squeeze.spark;

import io.squeeze.TestSpark;
import io.squeeze.core.Mask;
import io.squeeze.prune.Amount;
import io.squeeze.prune.GlobalUnstructured;
import io.squeeze.prune.L1Unstructured;
import io.squeeze.prune.PruneMethod;
import io.squeeze.prune.Pruner;
import io.squeeze.prune.Target;
import io.squeeze.prune.Threshold;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * The worked example of docs/ARCHITECTURE.md ("add a pruning method"): a method is one class implementing one of
 * the two kinds, and both runners — in process ({@link Pruner}) and on executors ({@link SparkPruner}) — run it
 * with no other change. The examples rank like existing methods, so their masks are known exactly.
 */
class AddAPruneMethodTest {

    /** Scores w² (a selecting method): ranks as |w|, so its masks are {@code l1_unstructured}'s. */
    @com.fasterxml.jackson.annotation.JsonTypeName("squared")
    record SquaredMagnitude(boolean global) implements PruneMethod.Selecting {
        @Override
        public float[] scores(Target t, int from, int to) {
            float[] s = new float[to - from];
            for (int i = from; i < to; i++) s[i - from] = t.mask().kept(i) ? t.values()[i] * t.values()[i] : Float.NaN;
            return s;
        }
    }

    /** Keeps the entries whose magnitude is at least a fraction of the tensor's largest (a per-tensor method). */
    @com.fasterxml.jackson.annotation.JsonTypeName("relative")
    record RelativeThreshold(double fraction) implements PruneMethod.PerTensor {
        @Override
        public Mask computeMask(Target t) {
            float max = 0;
            for (float v : t.values()) max = Math.max(max, Math.abs(v));
            return new Threshold(fraction * max).computeMask(t);
        }
    }

    static List<Target> targets() {
        Random r = new Random(3);
        return List.of(target(0, 3000, r), target(1, 1200, r), target(2, 50, r));
    }

    static Target target(int id, int n, Random r) {
        float[] v = new float[n];
        boolean[] kept = new boolean[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
            kept[i] = i % 7 != 0; // some entries pruned already
            if (!kept[i]) v[i] = 0;
        }
        return new Target(id, id, "W", new long[]{n / 10, 10}, v, Mask.of(kept), Amount.fraction(0.4), 1, 0);
    }

    @Test
    void aNewSelectingMethodRunsInProcessAndOnSparkWithTheMasksItDefines() {
        List<Target> ts = targets();
        for (boolean global : new boolean[]{false, true}) {
            PruneMethod reference = global ? new GlobalUnstructured() : new L1Unstructured();
            Map<Integer, Mask> expected = Pruner.masks(ts, reference, Amount.fraction(0.6), 500);
            SquaredMagnitude m = new SquaredMagnitude(global);
            assertEquals(expected, Pruner.masks(ts, m, Amount.fraction(0.6), 500));
            assertEquals(expected, SparkPruner.masks(TestSpark.jsc(), ts, m, Amount.fraction(0.6), 500));
            assertNotEquals(ts.get(0).mask(), expected.get(0)); // it pruned something
        }
    }

    @Test
    void aNewPerTensorMethodRunsInProcessAndOnSparkWithTheMasksItDefines() {
        List<Target> ts = targets();
        RelativeThreshold m = new RelativeThreshold(0.25);
        assertEquals("relative", m.label(), "a method's label is its @JsonTypeName");
        assertEquals("squared", new SquaredMagnitude(false).label());
        assertEquals("global", new GlobalUnstructured().label());
        assertEquals("ln(l2,out)", new io.squeeze.prune.LnStructured(PruneMethod.Norm.L2, PruneMethod.Dim.OUT).label());
        Map<Integer, Mask> local = Pruner.masks(ts, m, null, 500);
        for (Target t : ts) {
            float max = 0;
            for (float v : t.values()) max = Math.max(max, Math.abs(v));
            for (int i = 0; i < t.size(); i++)
                assertEquals(t.mask().kept(i) && Math.abs(t.values()[i]) >= 0.25 * max, local.get(t.id()).kept(i), "tensor " + t.id() + " entry " + i);
        }
        assertEquals(local, SparkPruner.masks(TestSpark.jsc(), ts, m, null, 500));
    }
}
