package io.squeeze.artifact;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * How one tensor is stored in {@code packed/tensors.bin}. Values are the tensor in C order of DL4J's shape.
 * Compression techniques add their encodings here.
 */
public enum Encoding {
    /** Little-endian float32, then DEFLATE (RFC 1951) at level 9. */
    F32_DEFLATE {
        @Override
        public byte[] encode(float[] v) {
            ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (float f : v) b.putFloat(f);
            return deflate(b.array());
        }

        @Override
        public float[] decode(byte[] bytes, int n) {
            ByteBuffer b = ByteBuffer.wrap(inflate(bytes, n * 4)).order(ByteOrder.LITTLE_ENDIAN);
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = b.getFloat();
            return v;
        }
    };

    public abstract byte[] encode(float[] values);

    public abstract float[] decode(byte[] bytes, int count);

    static byte[] deflate(byte[] raw) {
        Deflater d = new Deflater(9, true);
        d.setInput(raw);
        d.finish();
        ByteArrayOutputStream out = new ByteArrayOutputStream(Math.max(64, raw.length / 2));
        byte[] buf = new byte[1 << 16];
        while (!d.finished()) out.write(buf, 0, d.deflate(buf));
        d.end();
        return out.toByteArray();
    }

    static byte[] inflate(byte[] packed, int rawLength) {
        Inflater inf = new Inflater(true);
        inf.setInput(packed);
        byte[] raw = new byte[rawLength];
        try {
            int off = 0;
            while (off < rawLength) {
                int k = inf.inflate(raw, off, rawLength - off);
                if (k == 0 && (inf.finished() || inf.needsInput())) break;
                off += k;
            }
            if (off != rawLength) throw new IllegalStateException("packed tensor holds " + off + " bytes, expected " + rawLength);
            return raw;
        } catch (DataFormatException e) {
            throw new IllegalStateException("packed tensor is corrupt: " + e.getMessage(), e);
        } finally {
            inf.end();
        }
    }
}
