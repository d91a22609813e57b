package io.squeeze.quantize;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class CalibrationTest {
    @Test
    void histogramAndRangeSearchMatchPyTorchHistogramObserver() throws Exception {
        JsonNode cases = new ObjectMapper().readTree(new File("src/test/resources/reference/histogram_reference.json")).get("cases");
        assertEquals(8, cases.size());
        for (JsonNode c : cases) {
            String what = c.get("data").asText() + (c.get("reduce_range").asBoolean() ? " rr" : "");
            float[] x = new float[c.get("x").size()];
            for (int i = 0; i < x.length; i++) x[i] = (float) c.get("x").get(i).asDouble();
            Calibration first = new Calibration(Calibration.Pass.minMax(false)).update(0, x);
            assertEquals((float) c.get("min").asDouble(), first.entries().get(0).min(), 0f, what);
            assertEquals((float) c.get("max").asDouble(), first.entries().get(0).max(), 0f, what);
            Calibration second = new Calibration(new Observer.Histogram().secondPass(first)).update(0, x);
            long[] counts = second.entries().get(0).histogram().counts();
            for (int b = 0; b < counts.length; b++) assertEquals(c.get("histogram").get(b).asDouble(), counts[b], 0, what + " bin " + b);
            float[] r = RangeChoice.histogramL2(second.entries().get(0).histogram(), 256);
            assertEquals(c.get("range_min").asDouble(), r[0], 1e-5 * Math.abs(c.get("range_min").asDouble()) + 1e-6, what + " range min");
            assertEquals(c.get("range_max").asDouble(), r[1], 1e-5 * Math.abs(c.get("range_max").asDouble()) + 1e-6, what + " range max");
            QParams q = Calibrator.ranges(new Observer.Histogram(), first, second, c.get("reduce_range").asBoolean()).get(0).qparams();
            assertEquals(c.get("scale").asDouble(), q.scale(), 1e-6 * c.get("scale").asDouble(), what + " scale");
            assertEquals(c.get("zero_point").asInt(), q.zeroPoint(), what + " zero point");
        }
    }

    static float[] sample(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (r.nextGaussian() * 2 + (r.nextDouble() < 0.001 ? 30 : 0));
        return x;
    }

    /** Calibration of x (keys 0 and 1) split into parts, merged in a shuffled order through bytes. */
    static Calibration merged(float[] x, int parts, Calibration.Pass pass, long seed) {
        List<Calibration> cs = new ArrayList<>();
        int step = (x.length + parts - 1) / parts;
        for (int p = 0; p < parts; p++) {
            float[] s = Arrays.copyOfRange(x, Math.min(x.length, p * step), Math.min(x.length, (p + 1) * step));
            Calibration c = new Calibration(pass);
            if (s.length > 0) c.update(0, s).update(1, negate(s));
            cs.add(c);
        }
        Collections.shuffle(cs, new Random(seed));
        Calibration m = new Calibration(pass);
        for (Calibration c : cs) m.merge(Calibration.fromBytes(c.toBytes()));
        return m;
    }

    static float[] negate(float[] x) {
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) y[i] = -x[i];
        return y;
    }

    @Test
    void minMaxAndHistogramsMergeExactlyInAnyOrderAndSplit() {
        float[] x = sample(20_000, 1);
        Calibration.Pass p1 = Calibration.Pass.minMax(false);
        Calibration single = new Calibration(p1).update(0, x).update(1, negate(x));
        for (Observer o : List.<Observer>of(new Observer.Histogram(), new Observer.Entropy())) {
            Calibration.Pass p2 = o.secondPass(single);
            Calibration h = new Calibration(p2).update(0, x).update(1, negate(x));
            Map<Integer, Calibrator.Range> want = Calibrator.ranges(o, single, h, false);
            for (int parts : new int[]{1, 3, 7, 40}) {
                for (long seed = 0; seed < 3; seed++) {
                    Calibration m1 = merged(x, parts, p1, seed), m2 = merged(x, parts, p2, seed + 10);
                    m2.merge(new Calibration(p2)); // an empty partition changes nothing
                    assertEquals(single.entries().get(0).min(), m1.entries().get(0).min());
                    assertEquals(single.entries().get(0).max(), m1.entries().get(0).max());
                    assertEquals(h.entries().get(0).histogram(), m2.entries().get(0).histogram(), o + " parts " + parts);
                    assertEquals(want, Calibrator.ranges(o, m1, m2, false), o + " parts " + parts);
                }
            }
        }
    }

    @Test
    void percentileSketchesMergeWithinTheirRankBound() {
        float[] x = sample(200_000, 2);
        float[] sorted = x.clone();
        Arrays.sort(sorted);
        Calibration.Pass pass = Calibration.Pass.minMax(true);
        double p = 0.9999;
        for (int parts : new int[]{1, 5, 16}) {
            Calibration m = merged(x, parts, pass, parts);
            m.merge(new Calibration(pass));
            Calibration.Entry e = m.entries().get(0);
            assertEquals(x.length, e.up().getN());
            float[] r = RangeChoice.percentile(e.up(), e.down(), p);
            // the sketch's value has a true rank within its stated bound (3 standard deviations) of p, both tails
            double rankHi = rank(sorted, r[1]), rankLo = 1 - rank(sorted, r[0]);
            double bound = e.up().getRankUpperBound(p, 3) - p;
            assertTrue(Math.abs(rankHi - p) <= bound + 2.0 / x.length, "upper tail rank " + rankHi + " parts " + parts + " bound " + bound);
            assertTrue(Math.abs(rankLo - p) <= bound + 2.0 / x.length, "lower tail rank " + rankLo + " parts " + parts);
            assertTrue(bound < 2e-5, "relative-error sketch is tight at the tail: " + bound);
        }
    }

    static double rank(float[] sorted, float v) {
        int i = Arrays.binarySearch(sorted, v);
        if (i < 0) i = -i - 1;
        else while (i < sorted.length && sorted[i] == v) i++;
        return i / (double) sorted.length;
    }

    @Test
    void entropyClipsHeavyTailsAndKeepsAUniformRange() {
        Random r = new Random(4);
        float[] relu = new float[50_000], uniform = new float[50_000];
        for (int i = 0; i < relu.length; i++) {
            relu[i] = (float) Math.max(0, -Math.log(r.nextDouble()) * (r.nextBoolean() ? 1 : -1)) * (1 + (i % 100 == 0 ? 3 : 0)); // Laplace tail, 1 % stretched
            uniform[i] = r.nextFloat() * 4f;
        }
        for (float[] x : List.of(relu, uniform)) {
            Calibration first = new Calibration(Calibration.Pass.minMax(false)).update(0, x);
            Observer o = new Observer.Entropy();
            Calibration second = new Calibration(o.secondPass(first)).update(0, x);
            Calibrator.Range range = Calibrator.ranges(o, first, second, false).get(0);
            assertEquals(0f, range.lo());
            if (x == relu) assertTrue(range.hi() > 3f && range.hi() < 0.8f * range.observedMax(), "the heavy tail is clipped: " + range.hi() + " of " + range.observedMax());
            else assertTrue(range.hi() > 3.6f, "a uniform range is kept: " + range.hi());
        }
    }

    @Test
    void aCollapsedRangeGetsPyTorchsEpsilonScale() {
        float[] x = new float[100];
        Arrays.fill(x, 0.5f);
        Calibration c = new Calibration(Calibration.Pass.minMax(false)).update(0, new float[100]);
        QParams zero = Calibrator.ranges(new Observer.MinMax(), c, null, false).get(0).qparams();
        assertEquals(QParams.EPS, zero.scale());
        assertEquals(0, zero.zeroPoint());
        c = new Calibration(Calibration.Pass.minMax(false)).update(0, x);
        assertEquals(QParams.fromMinMax(0.5f, 0.5f, QDtype.QUINT8, false, false),
                Calibrator.ranges(new Observer.MinMax(), c, null, false).get(0).qparams());
    }
}
