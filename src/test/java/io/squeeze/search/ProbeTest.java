package io.squeeze.search;

import io.squeeze.core.Mask;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Each probe compresses a tensor exactly as its technique's kernel does, and counts what that saves. */
class ProbeTest {
    static Probe.Weights weights(int rows, int cols, long seed) {
        Random r = new Random(seed);
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        return new Probe.Weights(0, new long[]{rows, cols}, v, Mask.all(v.length), false);
    }

    @Test
    void pruneZeroesTheSmallestMagnitudesAndKeepsTheRest() {
        Probe.Weights w = weights(40, 25, 1);
        float[] p = new Probe.Prune().apply(w, 0.3);
        int zeros = 0;
        float maxPruned = 0, minKept = Float.MAX_VALUE;
        for (int i = 0; i < p.length; i++) {
            if (p[i] == 0) {
                zeros++;
                maxPruned = Math.max(maxPruned, Math.abs(w.values()[i]));
            } else {
                assertEquals(w.values()[i], p[i]);
                minKept = Math.min(minKept, Math.abs(w.values()[i]));
            }
        }
        assertEquals(300, zeros); // round-half-even of 0.3 x 1000
        assertTrue(maxPruned <= minKept);
        assertEquals(300 * 32.0, new Probe.Prune().bitsSaved(w, 0.3));
    }
}
