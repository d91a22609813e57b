package io.squeeze.quantize;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class GptqTest {
    static float[] floats(JsonNode a) {
        float[] f = new float[a.size()];
        for (int i = 0; i < f.length; i++) f[i] = (float) a.get(i).asDouble();
        return f;
    }

    static int[] ints(short[] s) {
        int[] r = new int[s.length];
        for (int i = 0; i < r.length; i++) r[i] = s[i];
        return r;
    }

    static JsonNode reference() throws Exception {
        try (InputStream in = GptqTest.class.getResourceAsStream("/reference/gptq_reference.json")) {
            return new ObjectMapper().readTree(in);
        }
    }

    /** Σ over rows of ‖x·(W − deq(Q))‖², in double. */
    static double outputError(float[] x, int n, float[] w, float[] deq, int k, int c) {
        double e = 0;
        for (int r = 0; r < n; r++)
            for (int ch = 0; ch < c; ch++) {
                double s = 0;
                for (int i = 0; i < k; i++) s += x[r * k + i] * ((double) w[i * c + ch] - deq[i * c + ch]);
                e += s * s;
            }
        return e;
    }

    @Test
    void matchesTheReferenceImplementationTranscribedInTorch() throws Exception {
        JsonNode ref = reference();
        int k = ref.get("k").asInt(), c = ref.get("c").asInt(), n = ref.get("rows").asInt();
        float[] x = floats(ref.get("x")), w = floats(ref.get("w"));
        QuantizedTensor nearest = QuantizedTensor.quantize(w, new long[]{k, c}, QuantizedTensor.Format.INT4, true, 1);
        int[] expectedNearest = new int[k * c], expectedGptq = new int[k * c];
        for (int i = 0; i < k * c; i++) {
            expectedNearest[i] = ref.get("nearest").get(i).asInt();
            expectedGptq[i] = ref.get("gptq").get(i).asInt();
        }
        assertArrayEquals(expectedNearest, ints(nearest.values()), "the grid itself");
        int[] q = Gptq.round(w, k, c, new Gram(k).update(x, n), nearest.params(), -8, 7, 0.01, true, null);
        assertArrayEquals(expectedGptq, q);
        for (int ch = 0; ch < c; ch++) assertEquals(0, q[5 * c + ch], "the dead input's weights are zero");
        float[] deq = new float[q.length];
        for (int i = 0; i < q.length; i++) deq[i] = nearest.params()[i % c].dequantize(q[i]);
        assertEquals(ref.get("output_error_gptq").asDouble(), outputError(x, n, w, deq, k, c), 1e-4 * ref.get("output_error_gptq").asDouble());
        assertEquals(ref.get("output_error_nearest").asDouble(), outputError(x, n, w, nearest.dequantize(), k, c), 1e-4 * ref.get("output_error_nearest").asDouble());
    }

    @Test
    void prunedWeightsStayZeroAndTheirErrorIsCompensated() throws Exception {
        JsonNode ref = reference();
        int k = ref.get("k").asInt(), c = ref.get("c").asInt(), n = ref.get("rows").asInt();
        float[] x = floats(ref.get("x")), w = floats(ref.get("w"));
        boolean[] kept = new boolean[w.length];
        float[] masked = w.clone();
        for (int i = 0; i < w.length; i++) {
            kept[i] = Math.abs(w[i]) > 0.2f;
            if (!kept[i]) masked[i] = 0;
        }
        QuantizedTensor nearest = QuantizedTensor.quantize(masked, new long[]{k, c}, QuantizedTensor.Format.INT4, true, 1);
        int[] q = Gptq.round(masked, k, c, new Gram(k).update(x, n), nearest.params(), -8, 7, 0.01, true, kept);
        float[] deq = new float[q.length];
        for (int i = 0; i < q.length; i++) {
            if (!kept[i]) assertEquals(0, q[i], "pruned weight " + i);
            deq[i] = nearest.params()[i % c].dequantize(q[i]);
        }
        double gptq = outputError(x, n, masked, deq, k, c), rtn = outputError(x, n, masked, nearest.dequantize(), k, c);
        assertTrue(gptq < 0.7 * rtn, "GPTQ " + gptq + " vs nearest " + rtn);
    }

    @Test
    void withUncorrelatedInputsGptqIsNearestRounding() {
        int k = 10, c = 4;
        Random r = new Random(3);
        float[] w = new float[k * c];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        float[] x = new float[k * k]; // rows of a scaled identity: XᵀX diagonal
        for (int i = 0; i < k; i++) x[i * k + i] = 1 + i;
        QuantizedTensor t = QuantizedTensor.quantize(w, new long[]{k, c}, QuantizedTensor.Format.INT8, true, 1);
        assertArrayEquals(ints(t.values()), Gptq.round(w, k, c, new Gram(k).update(x, k), t.params(), -128, 127, 0.01, true, null));
        assertArrayEquals(ints(t.values()), Gptq.round(w, k, c, new Gram(k).update(x, k), t.params(), -128, 127, 0.01, false, null));
    }

    @Test
    void theCholeskyFactorOfTheInverseInvertsTheMatrix() {
        int k = 7;
        Random r = new Random(5);
        double[] b = new double[k * k], a = new double[k * k];
        for (int i = 0; i < b.length; i++) b[i] = r.nextGaussian();
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                for (int m = 0; m < k; m++) a[i * k + j] += b[m * k + i] * b[m * k + j];
                if (i == j) a[i * k + j] += 0.5;
            }
        double[] u = Gptq.upperCholeskyOfInverse(a, k);
        for (int i = 0; i < k; i++) for (int j = 0; j < i; j++) assertEquals(0, u[i * k + j], "upper triangular");
        for (int i = 0; i < k; i++) // A · (UᵀU) = I
            for (int j = 0; j < k; j++) {
                double s = 0;
                for (int m = 0; m < k; m++) {
                    double inv = 0;
                    for (int p = 0; p < k; p++) inv += u[p * k + m] * u[p * k + j];
                    s += a[i * k + m] * inv;
                }
                assertEquals(i == j ? 1 : 0, s, 1e-9);
            }
        assertThrows(IllegalStateException.class, () -> Gptq.cholesky(new double[]{1, 2, 2, 1}, 2));
    }

    @Test
    void gramMatricesMergeAndRoundTripThroughBytes() {
        int k = 5;
        Random r = new Random(9);
        float[] x = new float[40 * k];
        for (int i = 0; i < x.length; i++) x[i] = r.nextFloat() - 0.3f;
        Gram whole = new Gram(k).update(x, 40);
        Gram a = new Gram(k).update(java.util.Arrays.copyOfRange(x, 0, 15 * k), 15);
        Gram b = new Gram(k).update(java.util.Arrays.copyOfRange(x, 15 * k, 40 * k), 25);
        Gram merged = Gram.fromBytes(a.toBytes()).merge(Gram.fromBytes(b.toBytes()));
        assertEquals(40, merged.rows());
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                double expected = 0;
                for (int n = 0; n < 40; n++) expected += (double) x[n * k + i] * x[n * k + j];
                assertEquals(expected, whole.get(i, j), 1e-12 * Math.abs(expected) + 1e-12);
                assertEquals(whole.get(i, j), merged.get(i, j), 1e-12 * Math.abs(expected) + 1e-12);
                assertEquals(merged.get(i, j), merged.get(j, i));
            }
        assertThrows(IllegalArgumentException.class, () -> new Gram(3).merge(new Gram(4)));
        assertThrows(IllegalArgumentException.class, () -> new Gram(3).update(new float[7], 2));
    }
}
