package io.squeeze.eval;

import io.squeeze.core.BadInputException;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class EvalStatsTest {
    @Test
    void handComputedMetrics() {
        // 3 classes, 3 rows
        float[] p = {0.7f, 0.2f, 0.1f, 0.1f, 0.3f, 0.6f, 0.2f, 0.5f, 0.3f};
        float[] base = {0.9f, 0.05f, 0.05f, 0.1f, 0.8f, 0.1f, 0.1f, 0.8f, 0.1f};
        EvalStats s = new EvalStats(3, true).update(new int[]{0, 2, 2}, new long[]{0, 1, 2}, p, base, 10, 5, "w");
        assertEquals(3, s.rows());
        assertEquals(2.0 / 3, s.accuracy(), 1e-12);
        assertEquals((-Math.log(0.7f) - Math.log(0.6f) - Math.log(0.3f)) / 3, s.loss(), 1e-9);
        assertEquals(1, s.confusion(2, 1));
        assertEquals(1, s.confusion(2, 2));
        assertArrayEquals(new double[]{1.0, Double.NaN, 0.5}, s.perClassAccuracy(), 1e-12);
        assertEquals(2.0 / 3, s.agreement(), 1e-12); // rows 0 and 2 agree
        assertEquals(1.0 / 3, s.baselineAccuracy(), 1e-12);
        assertTrue(Double.isNaN(s.top5()));
        assertEquals(10e-6, s.msPerBatch(), 1e-12);
    }

    @Test
    void top5CountsRanksAndLossClips() {
        float[] p = new float[10];
        p[0] = 0.5f; p[1] = 0.2f; p[2] = 0.1f; p[3] = 0.08f; p[4] = 0.07f; p[5] = 0.05f; // label 5 ranks 6th
        EvalStats s = new EvalStats(10, false).update(new int[]{5}, new long[]{0}, p, null, 0, 0, "w");
        assertEquals(0.0, s.top5());
        EvalStats t = new EvalStats(10, false).update(new int[]{4}, new long[]{0}, p, null, 0, 0, "w");
        assertEquals(1.0, t.top5());
        EvalStats z = new EvalStats(10, false).update(new int[]{9}, new long[]{0}, p, null, 0, 0, "w");
        assertEquals(-Math.log(EvalStats.EPS), z.loss(), 1e-9);
    }

    @Test
    void labelOutOfRangeIsBadInput() {
        var e = assertThrows(BadInputException.class, () -> new EvalStats(2, false)
                .update(new int[]{2}, new long[]{17}, new float[]{0.5f, 0.5f}, null, 0, 0, "csv:t"));
        assertEquals("csv:t row 17: label 2 is out of range for a model with 2 classes", e.getMessage());
    }

    @Test
    void mergeOrderAndSplitEqualSinglePass() {
        Random r = new Random(4);
        int k = 7, n = 500;
        float[] p = new float[n * k], q = new float[n * k];
        int[] y = new int[n];
        long[] ids = new long[n];
        for (int i = 0; i < n; i++) {
            y[i] = r.nextInt(k);
            ids[i] = i;
            for (int c = 0; c < k; c++) {
                p[i * k + c] = r.nextFloat();
                q[i * k + c] = r.nextFloat();
            }
        }
        EvalStats single = new EvalStats(k, true).update(y, ids, p, q, 0, 0, "w");
        EvalStats[] parts = new EvalStats[5];
        for (int s = 0; s < 5; s++) {
            int a = s * n / 5, b = (s + 1) * n / 5;
            parts[s] = new EvalStats(k, true).update(java.util.Arrays.copyOfRange(y, a, b), java.util.Arrays.copyOfRange(ids, a, b),
                    java.util.Arrays.copyOfRange(p, a * k, b * k), java.util.Arrays.copyOfRange(q, a * k, b * k), 0, 0, "w");
        }
        EvalStats fwd = new EvalStats(k, true), rev = new EvalStats(k, true);
        for (int s = 0; s < 5; s++) fwd.merge(EvalStats.fromBytes(parts[s].toBytes()));
        for (int s = 4; s >= 0; s--) rev.merge(parts[s]);
        rev.merge(new EvalStats(k, true));
        for (EvalStats m : new EvalStats[]{fwd, rev}) {
            assertEquals(single.rows(), m.rows());
            assertEquals(single.accuracy(), m.accuracy());
            assertEquals(single.top5(), m.top5());
            assertEquals(single.agreement(), m.agreement());
            assertEquals(single.loss(), m.loss(), 1e-12);
            for (int a = 0; a < k; a++) for (int b = 0; b < k; b++) assertEquals(single.confusion(a, b), m.confusion(a, b));
        }
        assertEquals(5, fwd.batches());
    }
}
