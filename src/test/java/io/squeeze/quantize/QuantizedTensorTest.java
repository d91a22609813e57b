package io.squeeze.quantize;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class QuantizedTensorTest {
    @Test
    void halfPrecisionRoundTripsEveryHalfAndRoundsToNearestEven() {
        for (int h = 0; h < 0x10000; h++) {
            float f = Half.toFloat((short) h);
            if (Float.isNaN(f)) {
                assertTrue(Float.isNaN(Half.toFloat(Half.fromFloat(f))));
                continue;
            }
            assertEquals(Float.floatToRawIntBits(f), Float.floatToRawIntBits(Half.toFloat(Half.fromFloat(f))), "half " + h);
        }
        assertEquals(65504f, Half.toFloat(Half.fromFloat(65504f)));
        assertEquals(Float.POSITIVE_INFINITY, Half.toFloat(Half.fromFloat(70000f)));
        assertEquals(1.0f, Half.toFloat(Half.fromFloat(1.0f + 0x1p-11f)), "a tie rounds to the even neighbour (1.0)");
        assertEquals(1.0f + 0x1p-9f, Half.toFloat(Half.fromFloat(1.0f + 3 * 0x1p-11f)), "a tie rounds to the even neighbour (up)");
        Random r = new Random(2);
        for (int i = 0; i < 100_000; i++) {
            float f = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(9) - 6));
            short h = Half.fromFloat(f);
            double got = Math.abs(Half.toFloat(h) - (double) f);
            for (int d : new int[]{-1, 1}) {
                float other = Half.toFloat((short) (h + d));
                if (!Float.isNaN(other) && Math.signum(other) == Math.signum(Half.toFloat(h))) assertTrue(got <= Math.abs(other - (double) f), "nearest for " + f);
            }
        }
    }

    @Test
    void int8PerChannelEqualsPyTorchAndPacksOneBytePerWeight() throws Exception {
        JsonNode cases = new ObjectMapper().readTree(new File("src/test/resources/reference/quant_reference.json")).get("cases");
        int checked = 0;
        for (JsonNode c : cases) {
            if (c.get("reduce_range").asBoolean()) continue;
            boolean sym = c.get("symmetric").asBoolean();
            if (sym != c.get("dtype").asText().equals("qint8")) continue; // int8 = qint8 symmetric or quint8 affine
            int rows = c.get("shape").get(0).asInt(), cols = c.get("shape").get(1).asInt();
            float[] x = new float[rows * cols];
            for (int i = 0; i < x.length; i++) x[i] = (float) c.get("x").get(i).asDouble();
            QuantizedTensor q = QuantizedTensor.quantize(x, new long[]{rows, cols}, QuantizedTensor.Format.INT8, sym, 0);
            for (int i = 0; i < x.length; i++) assertEquals(c.get("channel_q").get(i).asInt(), q.values()[i], c.get("data").asText() + " " + i);
            QuantizedTensor back = QuantizedTensor.fromBytes(q.toBytes());
            assertArrayEquals(q.values(), back.values());
            assertArrayEquals(q.params(), back.params());
            assertArrayEquals(q.dequantize(), back.dequantize());
            checked++;
        }
        assertEquals(10, checked);
    }

    @Test
    void int4AndFp16PackAndBoundTheError() {
        Random r = new Random(9);
        int out = 64, in = 301;
        float[] w = new float[out * in];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian() * 0.1f;
        long[] shape = {out, in};
        for (boolean sym : new boolean[]{true, false}) {
            QuantizedTensor q4 = QuantizedTensor.quantize(w, shape, QuantizedTensor.Format.INT4, sym, 0);
            for (short v : q4.values()) assertTrue(sym ? v >= -8 && v <= 7 : v >= 0 && v <= 15, "4-bit value " + v);
            byte[] b = q4.toBytes();
            assertEquals(3 + 16 + 4 + 4 + 8 * out + (w.length + 1) / 2, b.length, "header, qparams, two weights per byte");
            QuantizedTensor back = QuantizedTensor.fromBytes(b);
            assertArrayEquals(q4.values(), back.values());
            float[] d = back.dequantize();
            for (int i = 0; i < w.length; i++) {
                float scale = q4.params()[i / in].scale();
                assertTrue(Math.abs(d[i] - w[i]) <= scale / 2 + 1e-7 || Math.abs(w[i]) > 7 * scale, "error within half a step at " + i);
            }
            QuantizedTensor q8 = QuantizedTensor.quantize(w, shape, QuantizedTensor.Format.INT8, sym, -1);
            assertEquals(1, q8.params().length);
            assertTrue(q8.toBytes().length <= w.length + 64);
        }
        QuantizedTensor h = QuantizedTensor.quantize(w, shape, QuantizedTensor.Format.FP16, false, -1);
        assertEquals(2 * w.length + 1 + 1 + 1 + 16 + 8, h.toBytes().length);
        float[] hd = QuantizedTensor.fromBytes(h.toBytes()).dequantize();
        for (int i = 0; i < w.length; i++) assertEquals(w[i], hd[i], Math.abs(w[i]) * 0x1p-11f + 1e-7f);
    }
}
