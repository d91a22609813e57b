package io.squeeze.artifact;

import io.squeeze.core.Mask;
import io.squeeze.quantize.QuantizedTensor;

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
    },
    /**
     * A quantized tensor ({@link QuantizedTensor#toBytes()}: header, qparams per tensor or channel, then 1 byte per
     * int8 weight, ½ per int4, 2 per fp16), DEFLATEd. Decodes to the dequantized values.
     */
    QUANTIZED_DEFLATE,
    /**
     * A pruned and quantized tensor: the mask's bitmap, then the quantized tensor holding only the kept values
     * (so pruning's and quantization's savings multiply), DEFLATEd.
     */
    SPARSE_QUANTIZED_DEFLATE,

    /**
     * A tensor with at most 256 distinct values (weight sharing): the values once as a codebook, each weight's index
     * Huffman-coded ({@link CodebookCoding}). Chosen by {@link PackedModel} whenever it is smaller than DEFLATE.
     */
    CODEBOOK_HUFFMAN {
        @Override
        public byte[] encode(float[] v, Mask mask) {
            return CodebookCoding.encode(v, null);
        }

        @Override
        public Tensor decode(byte[] bytes, int n) {
            return CodebookCoding.decode(bytes, n, false);
        }
    },
    /**
     * A pruned tensor with at most 256 distinct kept values: the codebook, then the kept weights' relative positions
     * (R bits with fillers) and their indices, both Huffman-coded (Deep Compression's storage, {@link CodebookCoding}).
     */
    SPARSE_CODEBOOK_HUFFMAN {
        @Override
        public byte[] encode(float[] v, Mask mask) {
            if (mask == null || mask.size() != v.length) throw new IllegalArgumentException("sparse encoding needs a mask of " + v.length);
            return CodebookCoding.encode(v, mask);
        }

        @Override
        public Tensor decode(byte[] bytes, int n) {
            return CodebookCoding.decode(bytes, n, true);
        }
    },

    /**
     * A quantized tensor's integers Huffman-coded ({@link QuantizedCoding}): the header and qparams, then the values as
     * codes. Chosen over {@link #QUANTIZED_DEFLATE} whenever smaller.
     */
    QUANTIZED_HUFFMAN,
    /**
     * A pruned quantized tensor: header and qparams, then the kept values' relative positions and codes, both
     * Huffman-coded ({@link QuantizedCoding}); chosen over {@link #SPARSE_QUANTIZED_DEFLATE} whenever smaller.
     */
    SPARSE_QUANTIZED_HUFFMAN;

    /** A decoded quantized tensor and its mask (null when not pruned). */
    public record Quantized(QuantizedTensor tensor, Mask mask) {}

    /**
     * Encodes {@code q} (with its mask, when pruned: only kept values are stored) DEFLATEd or Huffman-coded, whichever
     * is smaller; returns the encoding used and the bytes.
     */
    public static java.util.Map.Entry<Encoding, byte[]> encodeQuantized(QuantizedTensor q, Mask mask) {
        java.util.Map.Entry<Encoding, byte[]> d = deflateQuantized(q, mask);
        byte[] h = QuantizedCoding.encode(q, mask);
        if (h == null || h.length >= d.getValue().length) return d;
        return java.util.Map.entry(mask == null ? QUANTIZED_HUFFMAN : SPARSE_QUANTIZED_HUFFMAN, h);
    }

    /** The DEFLATE encoding of {@code q}, whatever its size. */
    static java.util.Map.Entry<Encoding, byte[]> deflateQuantized(QuantizedTensor q, Mask mask) {
        if (mask == null) return java.util.Map.entry(QUANTIZED_DEFLATE, deflate(q.toBytes()));
        if (mask.size() != q.values().length) throw new IllegalArgumentException("mask of " + mask.size() + " for a tensor of " + q.values().length);
        short[] kept = new short[(int) mask.keptCount()];
        for (int i = 0, k = 0; i < q.values().length; i++) if (mask.kept(i)) kept[k++] = q.values()[i];
        // the kept values as a flat tensor; axis and shape travel in front so channels can be restored (nf4, whose
        // blocks follow the positions, keeps every value: pruned ones are its zero code)
        QuantizedTensor compact = q.format() == QuantizedTensor.Format.NF4 ? q
                : new QuantizedTensor(q.format(), q.symmetric(), new long[]{kept.length}, -1, q.params(), kept);
        byte[] body = io.squeeze.core.Bytes.write(out -> {
            out.write(mask.toBytes());
            out.writeInt(q.axis());
            out.writeByte(q.shape().length);
            for (long s : q.shape()) out.writeLong(s);
            out.write(compact.toBytes());
        });
        return java.util.Map.entry(SPARSE_QUANTIZED_DEFLATE, deflate(body));
    }

    /** Decodes a tensor stored with a quantized encoding, keeping its integers. */
    public static Quantized decodeQuantized(Encoding e, byte[] bytes, int n) {
        if (e == QUANTIZED_HUFFMAN || e == SPARSE_QUANTIZED_HUFFMAN) return QuantizedCoding.decode(bytes, n, e == SPARSE_QUANTIZED_HUFFMAN);
        Inflated raw = inflateAll(bytes);
        byte[] b = java.util.Arrays.copyOf(raw.bytes, raw.length);
        if (e == SPARSE_QUANTIZED_DEFLATE) return decodeSparseQuantized(b, n);
        if (e != QUANTIZED_DEFLATE) throw new IllegalArgumentException(e + " is not a quantized encoding");
        QuantizedTensor t = QuantizedTensor.fromBytes(b);
        if (t.values().length != n) throw new IllegalStateException("quantized tensor holds " + t.values().length + " values, expected " + n);
        return new Quantized(t, null);
    }

    private static Quantized decodeSparseQuantized(byte[] b, int n) {
        int bitBytes = (n + 7) >>> 3;
        if (b.length < bitBytes + 5) throw new IllegalStateException("sparse quantized tensor holds " + b.length + " bytes, less than its bitmap");
        Mask mask = Mask.fromBytes(java.util.Arrays.copyOf(b, bitBytes), n);
        return io.squeeze.core.Bytes.read(java.util.Arrays.copyOfRange(b, bitBytes, b.length), in -> {
            int axis = in.readInt();
            long[] shape = new long[in.readByte()];
            for (int i = 0; i < shape.length; i++) shape[i] = in.readLong();
            QuantizedTensor compact = QuantizedTensor.fromBytes(in.readAllBytes());
            if (compact.format() == QuantizedTensor.Format.NF4) {
                if (compact.values().length != n) throw new IllegalStateException("sparse nf4 tensor holds " + compact.values().length + " values, expected " + n);
                return new Quantized(new QuantizedTensor(compact.format(), false, shape, -1, compact.params(), compact.values()), mask);
            }
            if (compact.values().length != mask.keptCount())
                throw new IllegalStateException("sparse quantized tensor holds " + compact.values().length + " values for " + mask.keptCount() + " kept");
            short[] v = new short[n];
            long stride = 1;
            if (axis >= 0) for (int a = axis + 1; a < shape.length; a++) stride *= shape[a];
            QuantizedTensor.Format f = compact.format();
            for (int i = 0, k = 0; i < n; i++) {
                if (mask.kept(i)) v[i] = compact.values()[k++];
                else if (f != QuantizedTensor.Format.FP16) {
                    int c = compact.params().length == 1 ? 0 : (int) ((i / stride) % compact.params().length);
                    v[i] = (short) compact.params()[c].zeroPoint(); // a pruned weight is exactly 0
                }
            }
            return new Quantized(new QuantizedTensor(f, compact.symmetric(), shape, axis, compact.params(), v), mask);
        });
    }

    /** Whether tensors so encoded hold integers with qparams ({@link #decodeQuantized} keeps them). */
    public boolean quantized() {
        return this == QUANTIZED_DEFLATE || this == SPARSE_QUANTIZED_DEFLATE || this == QUANTIZED_HUFFMAN || this == SPARSE_QUANTIZED_HUFFMAN;
    }

    /** Decoded values and, for sparse encodings, the mask (null for dense). */
    public record Tensor(float[] values, Mask mask) {}

    /** Encodes float values (and the mask, for sparse encodings); the quantized encodings take {@code encodeQuantized}. */
    public byte[] encode(float[] values, Mask mask) {
        throw new UnsupportedOperationException(this + ": quantized tensors are encoded with encodeQuantized");
    }

    /** Decodes {@code count} values (and the mask of a sparse encoding); the quantized encodings to their dequantized values. */
    public Tensor decode(byte[] bytes, int count) {
        if (!quantized()) throw new UnsupportedOperationException(this + " has no decoder"); // every other constant overrides this
        Quantized q = decodeQuantized(this, bytes, count);
        return new Tensor(q.tensor().dequantize(), q.mask());
    }

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
