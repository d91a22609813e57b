package io.squeeze.data;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class FeatureStatsTest {
    static List<float[]> rows(int n, long seed) {
        Random r = new Random(seed);
        List<float[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(new float[]{(float) r.nextGaussian() * 3 + 1, r.nextInt(17), (float) r.nextDouble()});
        return out;
    }

    @Test
    void valuesMatchTwoPassFormulas() {
        List<float[]> rows = rows(1000, 1);
        FeatureStats s = FeatureStats.empty();
        rows.forEach(s::update);
        for (int j = 0; j < 3; j++) {
            double mean = 0, min = Double.MAX_VALUE, max = -Double.MAX_VALUE;
            for (float[] x : rows) {
                mean += x[j];
                min = Math.min(min, x[j]);
                max = Math.max(max, x[j]);
            }
            mean /= rows.size();
            double var = 0;
            for (float[] x : rows) var += (x[j] - mean) * (x[j] - mean);
            var /= rows.size();
            assertEquals(mean, s.mean(j), 1e-9);
            assertEquals(var, s.variance(j), 1e-9 * Math.max(1, var));
            assertEquals(min, s.min(j));
            assertEquals(max, s.max(j));
        }
        assertEquals(1000, s.count());
    }

    @Test
    void splitAndMergeInAnyOrderEqualsOnePass() {
        List<float[]> rows = rows(997, 2);
        FeatureStats single = FeatureStats.empty();
        rows.forEach(single::update);
        List<FeatureStats> parts = new ArrayList<>();
        for (int p = 0; p < 7; p++) {
            FeatureStats s = FeatureStats.empty();
            for (int i = p * rows.size() / 7; i < (p + 1) * rows.size() / 7; i++) s.update(rows.get(i));
            parts.add(s);
        }
        for (long seed = 0; seed < 5; seed++) {
            List<FeatureStats> order = new ArrayList<>();
            for (FeatureStats s : parts) order.add(FeatureStats.fromBytes(s.toBytes()));
            Collections.shuffle(order, new Random(seed));
            FeatureStats merged = FeatureStats.empty();
            for (FeatureStats s : order) merged.merge(s);
            assertEquals(single.count(), merged.count());
            for (int j = 0; j < 3; j++) {
                assertEquals(single.mean(j), merged.mean(j), 1e-12 * Math.max(1, Math.abs(single.mean(j))));
                assertEquals(single.variance(j), merged.variance(j), 1e-10 * single.variance(j));
                assertEquals(single.min(j), merged.min(j));
                assertEquals(single.max(j), merged.max(j));
            }
        }
    }

    @Test
    void mergingEmptyChangesNothingAndBytesRoundTrip() {
        FeatureStats s = FeatureStats.empty();
        rows(10, 3).forEach(s::update);
        byte[] before = s.toBytes();
        s.merge(FeatureStats.empty());
        assertArrayEquals(before, s.toBytes());
        FeatureStats e = FeatureStats.empty().merge(FeatureStats.fromBytes(before));
        assertArrayEquals(before, e.toBytes());
        assertEquals(0, FeatureStats.fromBytes(FeatureStats.empty().toBytes()).count());
    }

    @Test
    void summaryCountsLabelsAndMerges() {
        DataSummary a = DataSummary.empty(), b = DataSummary.empty(), all = DataSummary.empty();
        Example[] ex = {new Example(0, new float[]{1, 2}, 3), new Example(1, new float[]{0, 1}, 0),
                new Example(2, new float[]{5, 5}, -1), new Example(3, new float[]{2, 2}, 3)};
        for (int i = 0; i < ex.length; i++) {
            (i < 2 ? a : b).update(ex[i]);
            all.update(ex[i]);
        }
        DataSummary m = DataSummary.fromBytes(b.toBytes()).merge(DataSummary.fromBytes(a.toBytes()));
        assertArrayEquals(new long[]{1, 0, 0, 2},
                new long[]{m.labelCount(0), m.labelCount(1), m.labelCount(2), m.labelCount(3)});
        assertEquals(4, m.rows());
        assertEquals(1, m.unlabelled());
        assertEquals(4, m.numClasses());
        assertEquals(all.features().mean(0), m.features().mean(0), 1e-12);
    }

    @Test
    void normalizersFromStatistics() {
        FeatureStats s = FeatureStats.empty();
        s.update(new float[]{0, 10, 7});
        s.update(new float[]{4, 20, 7});
        Normalizer mm = Normalizer.fit(Normalization.MINMAX, s);
        assertArrayEquals(new float[]{0.5f, 0.5f, 0f}, mm.apply(new float[]{2, 15, 7}));
        Normalizer st = Normalizer.fit(Normalization.STANDARD, s);
        assertArrayEquals(new float[]{1f, -1f, 0f}, st.apply(new float[]{4, 10, 7}), 1e-6f);
        float[] flat = {2, 15, 7, 4, 20, 7};
        assertArrayEquals(new float[]{0.5f, 0.5f, 0, 1, 1, 0}, mm.applyRows(flat, 2));
        assertSame(Normalizer.NONE, Normalizer.fit(Normalization.NONE, s));
    }
}
