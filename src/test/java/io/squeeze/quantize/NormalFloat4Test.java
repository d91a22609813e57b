package io.squeeze.quantize;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.core.Mask;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** NF4 against the reference of make_nf4_reference.py (the paper's levels, numpy float32), and its storage. */
class NormalFloat4Test {

    static float f(JsonNode bits) {
        return Float.intBitsToFloat(bits.asInt());
    }

    @Test
    void levelsBlocksAndDoubleQuantizationEqualTheReference() throws Exception {
        JsonNode ref;
        try (InputStream in = getClass().getResourceAsStream("/reference/nf4_reference.json")) {
            ref = new ObjectMapper().readTree(in);
        }
        for (int i = 0; i < 16; i++) assertEquals(f(ref.get("levels").get(i)), NormalFloat4.LEVELS[i], "level " + i);
        for (JsonNode c : ref.get("cases")) {
            String name = c.get("name").asText();
            float[] w = new float[c.get("w").size()];
            for (int i = 0; i < w.length; i++) w[i] = f(c.get("w").get(i));
            NormalFloat4.Blocks b = NormalFloat4.quantize(w);
            String codes = c.get("codes").asText();
            for (int i = 0; i < w.length; i++) assertEquals(Character.digit(codes.charAt(i), 16), b.codes()[i], name + " code " + i);
            assertEquals(c.get("q8").size(), b.q8().length, name);
            for (int k = 0; k < b.q8().length; k++) assertEquals(c.get("q8").get(k).asInt(), b.q8()[k], name + " q8 " + k);
            for (int g = 0; g < b.scales().length; g++) assertEquals(f(c.get("scales").get(g)), b.scales()[g], name + " group scale " + g);
            assertEquals(f(c.get("offset")), b.offset(), name);
            float[] d = b.dequantize();
            for (int i = 0; i < w.length; i++) assertEquals(f(c.get("dequantized").get(i)), d[i], name + " value " + i);
        }
    }

    @Test
    void storedAsFourBitsAndAByteABlockAndRoundTripsExactly() {
        Random r = new Random(3);
        float[] w = new float[300 * 100 + 17]; // not a multiple of the block: the last block holds 49 values
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05);
        QuantizedTensor q = QuantizedTensor.quantize(w, new long[]{w.length}, QuantizedTensor.Format.NF4, false, -1);
        byte[] bytes = q.toBytes();
        int blocks = (w.length + 63) / 64;
        assertEquals(1 + 1 + 1 + 8 + 4 + 4 + 4 + 4 + 4 * 2 + 4 + blocks + (w.length + 1) / 2, bytes.length, "header, 2 group scales, a byte a block, 4 bits a weight");
        QuantizedTensor back = QuantizedTensor.fromBytes(bytes);
        assertArrayEquals(q.values(), back.values());
        assertArrayEquals(q.dequantize(), back.dequantize());
        // error: each value within half a level gap of its block's maximum (plus the 8-bit maximum's rounding)
        float[] d = q.dequantize();
        for (int i = 0; i < w.length; i++) {
            float max = 0;
            for (int j = i / 64 * 64; j < Math.min(w.length, i / 64 * 64 + 64); j++) max = Math.max(max, Math.abs(w[j]));
            assertTrue(Math.abs(d[i] - w[i]) <= 0.17f * max, i + ": " + w[i] + " -> " + d[i]);
        }
        // a block of zeros is all zero codes; the level 0 is exact
        QuantizedTensor z = QuantizedTensor.quantize(new float[70], new long[]{70}, QuantizedTensor.Format.NF4, false, -1);
        assertArrayEquals(new float[70], z.dequantize());
        // corrupt: a block count that does not fit the values
        byte[] bad = bytes.clone();
        int nbAt = 1 + 1 + 1 + 8 + 4 + 4 + 4 + 4 + 4 * 2; // format, symmetric, rank, shape, axis, count, offset, groups, scales
        bad[nbAt + 3] ^= 1;
        assertThrows(IllegalStateException.class, () -> QuantizedTensor.fromBytes(bad));
    }

    @Test
    void aPrunedNf4TensorKeepsItsMaskAndZeros() {
        Random r = new Random(4);
        float[] w = new float[1000];
        boolean[] keep = new boolean[1000];
        for (int i = 0; i < w.length; i++) {
            keep[i] = r.nextBoolean();
            w[i] = keep[i] ? (float) r.nextGaussian() : 0f;
        }
        Mask m = Mask.of(keep);
        QuantizedTensor q = QuantizedTensor.quantize(w, new long[]{10, 100}, QuantizedTensor.Format.NF4, false, -1);
        var e = io.squeeze.artifact.Encoding.encodeQuantized(q, m);
        var back = io.squeeze.artifact.Encoding.decodeQuantized(e.getKey(), e.getValue(), 1000);
        assertEquals(m, back.mask());
        assertArrayEquals(q.dequantize(), back.tensor().dequantize());
        for (int i = 0; i < 1000; i++) if (!keep[i]) assertEquals(0f, back.tensor().dequantize()[i]);
    }
}
