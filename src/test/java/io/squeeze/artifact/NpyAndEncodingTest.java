package io.squeeze.artifact;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class NpyAndEncodingTest {
    @Test
    void npyHeaderIsNumpyV1() {
        byte[] b = Npy.float32(new float[]{1, 2, 3, 4, 5, 6}, new long[]{2, 3});
        assertEquals((byte) 0x93, b[0]);
        assertEquals("NUMPY", new String(b, 1, 5, StandardCharsets.US_ASCII));
        assertEquals(1, b[6]);
        assertEquals(0, b[7]);
        int hlen = (b[8] & 0xff) | (b[9] & 0xff) << 8;
        assertEquals(0, (10 + hlen) % 64);
        String header = new String(b, 10, hlen, StandardCharsets.US_ASCII);
        assertTrue(header.startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), header);
        assertTrue(header.endsWith("\n"));
        ByteBuffer data = ByteBuffer.wrap(b, 10 + hlen, 24).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 1; i <= 6; i++) assertEquals(i, data.getFloat());
        assertEquals(10 + hlen + 24, b.length);
        String h1 = new String(Npy.float32(new float[]{1}, new long[]{1}), 10, 54, StandardCharsets.US_ASCII);
        assertTrue(h1.contains("'shape': (1,)"), h1);
    }

    @Test
    void f32DeflateRoundTripsExactly() {
        Random r = new Random(1);
        float[] v = new float[10_001];
        for (int i = 0; i < v.length; i++) v[i] = i % 3 == 0 ? 0f : (float) r.nextGaussian();
        v[5] = Float.MIN_VALUE;
        v[7] = -0f;
        byte[] enc = Encoding.F32_DEFLATE.encode(v, null);
        assertTrue(enc.length < v.length * 4, "zeros compress");
        float[] back = Encoding.F32_DEFLATE.decode(enc, v.length).values();
        for (int i = 0; i < v.length; i++) assertEquals(Float.floatToRawIntBits(v[i]), Float.floatToRawIntBits(back[i]), "at " + i);
        assertThrows(IllegalStateException.class, () -> Encoding.F32_DEFLATE.decode(enc, v.length + 1));
    }
}
