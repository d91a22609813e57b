package io.squeeze.artifact;

import io.squeeze.prune.Mask;

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
        public byte[] encode(float[] v, Mask mask) {
            ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (float f : v) b.putFloat(f);
            return deflate(b.array());
        }

        @Override
        public Tensor decode(byte[] bytes, int n) {
            ByteBuffer b = ByteBuffer.wrap(inflate(bytes, n * 4)).order(ByteOrder.LITTLE_ENDIAN);
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = b.getFloat();
            return new Tensor(v, null);
        }
    },
    /**
     * A pruned tensor: the mask as a bitmap (bit i of byte i/8 set = entry i kept), then the kept values as
     * little-endian float32 in order, all DEFLATEd. At 90 % sparsity: 1/8 + 0.1 × 4 = 0.525 bytes per weight
     * before DEFLATE, against 4 dense.
     */
    SPARSE_F32_DEFLATE {
        @Override
        public byte[] encode(float[] v, Mask mask) {
            if (mask == null || mask.size() != v.length) throw new IllegalArgumentException("sparse encoding needs a mask of " + v.length);
            byte[] bits = mask.toBytes();
            ByteBuffer b = ByteBuffer.allocate(bits.length + (int) mask.keptCount() * 4).order(ByteOrder.LITTLE_ENDIAN);
            b.put(bits);
            for (int i = 0; i < v.length; i++) if (mask.kept(i)) b.putFloat(v[i]);
            return deflate(b.array());
        }

        @Override
        public Tensor decode(byte[] bytes, int n) {
            int bitBytes = (n + 7) >>> 3;
            Inflated raw = inflateAll(bytes);
            if (raw.length < bitBytes) throw new IllegalStateException("sparse tensor holds " + raw.length + " bytes, less than its bitmap");
            Mask mask = Mask.fromBytes(java.util.Arrays.copyOf(raw.bytes, bitBytes), n);
            long kept = mask.keptCount();
            if (raw.length != bitBytes + kept * 4) throw new IllegalStateException("sparse tensor holds " + raw.length + " bytes, expected " + (bitBytes + kept * 4));
            ByteBuffer b = ByteBuffer.wrap(raw.bytes, bitBytes, (int) kept * 4).order(ByteOrder.LITTLE_ENDIAN);
            float[] v = new float[n];
            for (int i = 0; i < n; i++) if (mask.kept(i)) v[i] = b.getFloat();
            return new Tensor(v, mask);
        }
    };

    /** Decoded values and, for sparse encodings, the mask (null for dense). */
    public record Tensor(float[] values, Mask mask) {}

    public abstract byte[] encode(float[] values, Mask mask);

    public abstract Tensor decode(byte[] bytes, int count);

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

    private record Inflated(byte[] bytes, int length) {}

    private static Inflated inflateAll(byte[] packed) {
        Inflater inf = new Inflater(true);
        inf.setInput(packed);
        ByteArrayOutputStream out = new ByteArrayOutputStream(packed.length * 4);
        byte[] buf = new byte[1 << 16];
        try {
            while (!inf.finished()) {
                int k = inf.inflate(buf);
                if (k == 0 && (inf.needsInput() || inf.needsDictionary())) break;
                out.write(buf, 0, k);
            }
            return new Inflated(out.toByteArray(), out.size());
        } catch (DataFormatException e) {
            throw new IllegalStateException("packed tensor is corrupt: " + e.getMessage(), e);
        } finally {
            inf.end();
        }
    }

    static byte[] inflate(byte[] packed, int rawLength) {
        Inflated r = inflateAll(packed);
        if (r.length != rawLength) throw new IllegalStateException("packed tensor holds " + r.length + " bytes, expected " + rawLength);
        return r.bytes;
    }
}
