package io.squeeze.lowrank;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.File;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** SVD kernels against theory (Eckart–Young on known spectra) and against PyTorch 1.13. Reconstructions, not vectors. */
class SvdTest {
    /** U diag(s) Vᵀ with random orthonormal U, V: a matrix whose singular values are exactly s. */
    static INDArray knownSpectrum(int m, int n, double[] s, long seed) {
        Random r = new Random(seed);
        int k = s.length;
        INDArray gu = Nd4j.create(DataType.DOUBLE, m, k), gv = Nd4j.create(DataType.DOUBLE, n, k);
        for (int i = 0; i < m; i++) for (int j = 0; j < k; j++) gu.putScalar(i, j, r.nextGaussian());
        for (int i = 0; i < n; i++) for (int j = 0; j < k; j++) gv.putScalar(i, j, r.nextGaussian());
        INDArray u = Svd.orthonormalize(gu.dup('f')), v = Svd.orthonormalize(gv.dup('f'));
        return u.mulRowVector(Nd4j.createFromArray(s)).mmul(v.transpose()).dup('c');
    }

    static double[] decaying(int k, double rate) {
        double[] s = new double[k];
        for (int i = 0; i < k; i++) s[i] = 5 * Math.exp(-rate * i);
        return s;
    }

    @Test
    void exactTruncationAttainsTheEckartYoungOptimum() {
        for (int[] mn : new int[][]{{120, 80}, {70, 150}, {64, 64}}) {
            double[] s = decaying(Math.min(mn[0], mn[1]), 0.07);
            INDArray a = knownSpectrum(mn[0], mn[1], s, mn[0]);
            Svd.Factors f = Svd.exact(a);
            assertArrayEquals(s, f.s(), 1e-9);
            assertArrayEquals(s, Svd.singularValues(a), 1e-9);
            assertEquals(0, Svd.frobeniusError(a, f), 1e-9);
            for (int k : new int[]{1, 8, 32}) {
                Svd.Factors t = f.truncate(k);
                assertEquals(mn[0], t.u().rows());
                assertEquals(k, t.u().columns());
                assertEquals(mn[1], t.vt().columns());
                double opt = Svd.optimalError(s, k);
                assertEquals(opt, Svd.frobeniusError(a, t), 1e-4 * opt, mn[0] + "x" + mn[1] + " k=" + k);
            }
        }
    }

    @Test
    void randomizedAtDefaultsIsWithinFivePercentOfOptimalOnDecayingSpectra() {
        double[] s = decaying(100, 0.1);
        INDArray a = knownSpectrum(300, 100, s, 3);
        for (int k : new int[]{5, 10, 20}) {
            Svd.Factors r = Svd.randomized(a, k, 10, 2, 11);
            assertEquals(k, r.rank());
            double err = Svd.frobeniusError(a, r), opt = Svd.optimalError(s, k);
            assertTrue(err <= 1.05 * opt, "k=" + k + ": " + err + " vs optimal " + opt);
            assertTrue(err >= opt * (1 - 1e-9), "no better than optimal");
        }
        Svd.Factors x = Svd.randomized(a, 10, 10, 2, 5), y = Svd.randomized(a, 10, 10, 2, 5);
        assertEquals(0, x.reconstruct().sub(y.reconstruct()).amax().getDouble(0), 0, "seeded");
    }

    @Test
    void matchesPyTorch() throws Exception {
        JsonNode cases = new ObjectMapper().readTree(new File("src/test/resources/reference/svd_reference.json")).get("cases");
        for (JsonNode c : cases) {
            int m = c.get("m").asInt(), n = c.get("n").asInt();
            double[] v = new double[m * n];
            for (int i = 0; i < v.length; i++) v[i] = c.get("a").get(i).asDouble();
            INDArray a = Nd4j.create(v, new long[]{m, n}, 'c');
            Svd.Factors f = Svd.exact(a);
            for (int i = 0; i < f.s().length; i++) assertEquals(c.get("s").get(i).asDouble(), f.s()[i], 1e-9);
            for (int j = 0; j < c.get("ks").size(); j++) {
                int k = c.get("ks").get(j).asInt();
                double torchExact = c.get("exact_error").get(j).asDouble(), torchLowrank = c.get("lowrank_error").get(j).asDouble();
                assertEquals(torchExact, Svd.frobeniusError(a, f.truncate(k)), 1e-6 * torchExact, m + "x" + n + " k=" + k);
                double ours = Svd.frobeniusError(a, Svd.randomized(a, k, 10, 2, 1));
                assertTrue(ours <= 1.05 * torchExact, "randomized " + ours + " vs optimal " + torchExact);
                assertTrue(ours <= 1.05 * torchLowrank, "randomized " + ours + " vs torch.svd_lowrank " + torchLowrank);
            }
        }
    }
}
