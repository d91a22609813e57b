package io.squeeze.quantize;

import io.squeeze.core.Mask;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class WeightSharingTest {

    /** A plain single-threaded Lloyd's algorithm written from its definition: O(n·k) assignment, same linear start. */
    static float[] plainLloyd(float[] w, int k, int iters) {
        float min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
        for (float x : w) { min = Math.min(min, x); max = Math.max(max, x); }
        double[] c = new double[k];
        for (int j = 0; j < k; j++) c[j] = (float) (min + (max - (double) min) * j / (k - 1));
        for (int it = 0; it < iters; it++) {
            double[] s = new double[k];
            long[] n = new long[k];
            for (float x : w) {
                int best = 0;
                for (int j = 1; j < k; j++) if (Math.abs(x - (float) c[j]) < Math.abs(x - (float) c[best])) best = j;
                s[best] += x;
                n[best]++;
            }
            for (int j = 0; j < k; j++) if (n[j] > 0) c[j] = (float) (s[j] / n[j]);
        }
        float[] out = new float[k];
        for (int j = 0; j < k; j++) out[j] = (float) c[j];
        Arrays.sort(out);
        return out;
    }

    @Test
    void sameCentroidsAsAPlainLloydFromTheLinearStart() {
        Random r = new Random(3);
        float[] w = new float[20_000];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05);
        WeightSharing.Clusters c = WeightSharing.cluster(w, null, 32, WeightSharing.MAX_ITERATIONS);
        assertTrue(c.iterations() > 1 && c.iterations() < WeightSharing.MAX_ITERATIONS, "converged in " + c.iterations());
        float[] ref = plainLloyd(w, 32, c.iterations());
        assertArrayEquals(ref, c.centroids(), 1e-6f);
        // every weight sits at its nearest centroid, and the sse is what the assignment gives
        double sse = 0;
        for (int i = 0; i < w.length; i++) {
            float mine = c.centroids()[c.assignment()[i]];
            for (float o : c.centroids()) assertTrue(Math.abs(w[i] - mine) <= Math.abs(w[i] - o) + 1e-7f);
            sse += (w[i] - mine) * (double) (w[i] - mine);
        }
        assertEquals(sse, c.sse(), 1e-9);
    }

    @Test
    void linearInitializationKeepsTheExtremes() {
        assertArrayEquals(new float[]{-1f, -0.5f, 0f, 0.5f, 1f}, WeightSharing.linear(-1f, 1f, 5));
        assertArrayEquals(new float[]{0.5f}, WeightSharing.linear(0f, 1f, 1));
        // one large weight among many small ones keeps a cluster of its own (a density-based start would lose it)
        float[] w = new float[1001];
        Random r = new Random(1);
        for (int i = 0; i < 1000; i++) w[i] = (float) (r.nextGaussian() * 0.01);
        w[1000] = 1f;
        WeightSharing.Clusters c = WeightSharing.cluster(w, null, 4, 100);
        assertEquals(1f, c.centroids()[3]);
        assertEquals(1f, c.shared()[1000]);
    }

    @Test
    void prunedWeightsTakeNoPartAndStayZero() {
        float[] w = {0.9f, 0f, -0.9f, 0f, 0.1f, 0.2f, 0f, 0.3f};
        boolean[] keep = {true, false, true, false, true, true, false, true};
        WeightSharing.Clusters c = WeightSharing.cluster(w, Mask.of(keep), 2, 100);
        for (int i = 0; i < w.length; i++) assertEquals(keep[i], c.assignment()[i] >= 0);
        float[] s = c.shared();
        assertEquals(0f, s[1]);
        assertEquals(0f, s[6]);
        // clusters {-0.9} and {0.1, 0.2, 0.3, 0.9}? linear start -0.9, 0.9: midpoint 0 -> {-0.9} and {0.1..0.9}
        assertArrayEquals(new float[]{-0.9f, 0.375f}, c.centroids(), 1e-6f);
    }

    @Test
    void fewerDistinctValuesThanClustersAreKeptExactly() {
        float[] w = {0.25f, -1f, 0.25f, 3f, -1f};
        WeightSharing.Clusters c = WeightSharing.cluster(w, null, 16, 100);
        assertArrayEquals(new float[]{-1f, 0.25f, 3f}, c.centroids());
        assertArrayEquals(w, c.shared());
        assertEquals(0, c.iterations());
        assertEquals(0.0, c.sse());
        WeightSharing.Clusters none = WeightSharing.cluster(new float[]{1f, 2f}, Mask.of(new boolean[]{false, false}), 4, 10);
        assertEquals(0, none.centroids().length);
        assertArrayEquals(new float[]{0f, 0f}, none.shared());
    }

    @Test
    void deterministicAndMergeable() {
        Random r = new Random(9);
        float[] w = new float[5000];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        WeightSharing.Clusters a = WeightSharing.cluster(w, null, 64, 300), b = WeightSharing.cluster(w.clone(), null, 64, 300);
        assertArrayEquals(a.centroids(), b.centroids());
        assertArrayEquals(a.assignment(), b.assignment());
        // sums over two halves merge to the sums over the whole
        WeightSharing.Sums whole = WeightSharing.pass(w, null, 0, w.length, a.centroids());
        WeightSharing.Sums merged = WeightSharing.pass(w, null, 0, 2000, a.centroids())
                .merge(WeightSharing.pass(w, null, 2000, w.length, a.centroids()));
        assertArrayEquals(whole.count(), merged.count());
        assertArrayEquals(whole.sum(), merged.sum(), 1e-9);
        assertEquals(whole.sse(), merged.sse(), 1e-9);
        assertEquals(a.sse(), whole.sse(), 1e-9);
        assertEquals(0, WeightSharing.nearest(new float[]{0f, 1f}, 0.5f), "a midpoint goes to the lower centroid");
        assertEquals(1, WeightSharing.nearest(new float[]{0f, 1f}, 0.5000001f));
    }
}
