package io.squeeze.artifact;

import io.squeeze.core.Bytes;
import io.squeeze.core.Mask;
import io.squeeze.quantize.QParams;
import io.squeeze.quantize.QuantizedTensor;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;

/**
 * A quantized tensor with its integers entropy-coded: int8 and int4 values are codes (offset to start at 0: +128
 * for signed int8, +8 for signed int4) Huffman-coded by {@link SymbolCoding} — for a pruned tensor only the kept
 * values, with relative positions, as Deep Compression stores its weights (Han, Mao and Dally 2016, section 4).
 * Exact: decoding gives back the same integers and qparams. fp16 (65,536 codes) and nf4 tensors are not coded this way.
 * <p>
 * Layout (version 2): a version byte; the format's id, symmetric, the shape (rank byte, longs), the channel axis,
 * the qparams (count, then scale float and zero point int each), big-endian; then the codes ({@link SymbolCoding},
 * positions in row or column order by the first dimension). Version 1, the same without the column order, is read.
 */
final class QuantizedCoding {
    private static final int VERSION = 2;

    private QuantizedCoding() {}

    /** The coded tensor, or null for fp16. */
    static byte[] encode(QuantizedTensor q, Mask mask) {
        if (!q.format().integer()) return null; // fp16 (65,536 codes), nf4 (block maxima, not qparams)
        if (mask != null && mask.size() != q.values().length) throw new IllegalArgumentException("mask of " + mask.size() + " for a tensor of " + q.values().length);
        int offset = offset(q.format(), q.symmetric()), alphabet = 1 << q.format().bits();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(VERSION);
        out.writeBytes(Bytes.write(o -> {
            o.writeByte(q.format().id());
            o.writeBoolean(q.symmetric());
            o.writeByte(q.shape().length);
            for (long s : q.shape()) o.writeLong(s);
            o.writeInt(q.axis());
            o.writeInt(q.params().length);
            for (QParams p : q.params()) {
                o.writeFloat(p.scale());
                o.writeInt(p.zeroPoint());
            }
        }));
        int[] codes = new int[q.values().length];
        for (int i = 0; i < codes.length; i++) codes[i] = mask != null && !mask.kept(i) ? 0 : q.values()[i] + offset;
        SymbolCoding.write(out, codes, alphabet, mask, q.shape().length > 1 ? q.shape()[0] : 1);
        return out.toByteArray();
    }

    /** Decodes {@code n} values; pruned ones take their channel's zero point (exactly 0 once dequantized). */
    static Encoding.Quantized decode(byte[] b, int n, boolean sparse) {
        if (b.length < 3) throw new IllegalStateException("quantized tensor ends early");
        if ((b[0] & 0xff) < 1 || (b[0] & 0xff) > VERSION)
            throw new IllegalStateException("quantized tensor has layout version " + (b[0] & 0xff) + ", this Squeeze reads 1 to " + VERSION);
        ByteBuffer in = ByteBuffer.wrap(b, 1, b.length - 1);
        try {
            QuantizedTensor.Format f;
            try {
                f = QuantizedTensor.Format.byId(in.get());
            } catch (io.squeeze.core.BadInputException e) {
                throw new IllegalStateException(e.getMessage());
            }
            if (!f.integer()) throw new IllegalStateException("quantized tensor is " + f + ", which is not Huffman-coded");
            boolean symmetric = in.get() != 0;
            long[] shape = new long[in.get()];
            long count = 1;
            for (int i = 0; i < shape.length; i++) count *= shape[i] = in.getLong();
            if (count != n) throw new IllegalStateException("quantized tensor has " + count + " values, expected " + n);
            int axis = in.getInt();
            int np = in.getInt();
            if (np < 1 || np > n) throw new IllegalStateException("quantized tensor has " + np + " qparams");
            QParams[] params = new QParams[np];
            for (int i = 0; i < np; i++) params[i] = new QParams(in.getFloat(), in.getInt());
            int offset = offset(f, symmetric);
            SymbolCoding.Decoded d = SymbolCoding.read(b, new int[]{in.position()}, n, 1 << f.bits(), sparse, "quantized tensor");
            long stride = 1;
            if (axis >= 0) for (int a = axis + 1; a < shape.length; a++) stride *= shape[a];
            short[] v = new short[n];
            for (int i = 0; i < n; i++) {
                int c = np == 1 ? 0 : (int) ((i / stride) % np);
                v[i] = (short) (d.codes()[i] >= 0 ? d.codes()[i] - offset : params[c].zeroPoint());
            }
            return new Encoding.Quantized(new QuantizedTensor(f, symmetric, shape, axis, params, v), d.mask());
        } catch (java.nio.BufferUnderflowException | NegativeArraySizeException e) {
            throw new IllegalStateException("quantized tensor ends early");
        }
    }

    /** What is added to a value to make it a code in [0, 2^bits). */
    private static int offset(QuantizedTensor.Format f, boolean symmetric) {
        return symmetric ? 1 << (f.bits() - 1) : 0;
    }
}
