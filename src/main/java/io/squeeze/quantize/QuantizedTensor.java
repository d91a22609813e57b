package io.squeeze.quantize;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Bytes;

/**
 * A weight tensor stored as integers: 8-bit (qint8 [-128, 127] symmetric, quint8 [0, 255] affine) or 4-bit
 * ([-8, 7] symmetric, [0, 15] affine; two values per byte, low nibble first), with a scale and zero point per
 * tensor or per channel along {@code axis}; or as IEEE half precision (fp16); or as 4-bit NormalFloat with
 * double-quantized block maxima ({@link NormalFloat4}: the values are level indices, and the params hold each block's
 * maximum as dequantized with its 8-bit code as zero point, then each group's scale, then the maxima's mean).
 * {@link #toBytes()} is the packed form: a small header, the qparams, then the values — 1 byte (int8), ½ byte (int4,
 * nf4) or 2 bytes (fp16) per weight; nf4 stores its block maxima as one byte each.
 *
 * @param format    the storage format
 * @param symmetric signed symmetric integers (else unsigned affine)
 * @param shape     the tensor's shape (C order)
 * @param axis    the channel axis, or -1 per tensor (always -1 for fp16)
 * @param params  qparams per channel (one per tensor; none for fp16)
 * @param values  integer values (int8/int4, unpacked) or fp16 bit patterns
 */
public record QuantizedTensor(Format format, boolean symmetric, long[] shape, int axis, QParams[] params, short[] values)
        implements java.io.Serializable {

    /**
     * Storage formats. Each is stored by its stable {@link #id()} (the first byte of {@link #toBytes()}), never by its
     * position in this list: a new format takes a new id, and an existing id never changes meaning (artifacts written
     * since format version 1 are test fixtures that must keep loading).
     */
    public enum Format {
        INT8(8, 0), INT4(4, 1), FP16(16, 2), NF4(4, 3);

        private final int bits, id;

        Format(int bits, int id) {
            this.bits = bits;
            this.id = id;
        }

        public int bits() {
            return bits;
        }

        /** Whether values are integers with scales and zero points (computed on the integer path); fp16 and nf4 compute in float. */
        public boolean integer() {
            return this == INT8 || this == INT4;
        }

        /** The stable id stored in a tensor's bytes. */
        public int id() {
            return id;
        }

        /** The format stored as {@code id}; a {@link BadInputException} for an id this version does not know. */
        public static Format byId(int id) {
            for (Format f : values()) if (f.id == id) return f;
            throw new BadInputException("quantized tensor has an unknown format id " + id + " (written by a newer Squeeze?)");
        }
    }

    static int[] range(Format f, boolean symmetric) {
        if (f == Format.INT8) return symmetric ? new int[]{-128, 127} : new int[]{0, 255};
        return symmetric ? new int[]{-8, 7} : new int[]{0, 15};
    }

    /** Quantizes weights; {@code axis} -1 for per-tensor. */
    public static QuantizedTensor quantize(float[] w, long[] shape, Format f, boolean symmetric, int axis) {
        if (f == Format.NF4) return ofNf4(NormalFloat4.quantize(w), shape);
        if (f == Format.FP16) {
            short[] h = new short[w.length];
            for (int i = 0; i < w.length; i++) h[i] = Half.fromFloat(w[i]);
            return new QuantizedTensor(f, false, shape, -1, new QParams[0], h);
        }
        int channels = axis < 0 ? 1 : (int) shape[axis];
        long stride = 1;
        if (axis >= 0) for (int a = axis + 1; a < shape.length; a++) stride *= shape[a];
        MinMaxObserver obs = new MinMaxObserver(channels).update(w, shape, Math.max(axis, 0));
        int[] r = range(f, symmetric);
        QParams[] p = new QParams[channels];
        for (int c = 0; c < channels; c++) p[c] = QParams.fromMinMax(obs.min(c), obs.max(c), r[0], r[1], symmetric, false);
        short[] q = new short[w.length];
        for (int i = 0; i < w.length; i++) {
            int c = channels == 1 ? 0 : (int) ((i / stride) % channels);
            q[i] = (short) p[c].quantize(w[i], r[0], r[1]);
        }
        return new QuantizedTensor(f, symmetric, shape, axis, p, q);
    }

    /**
     * Rows {@code [from, to)} of a 2-d tensor quantized per tensor or per column (axis 1), with the same qparams: an
     * LSTM's stacked [W; RW] split back into its two tensors ({@link #stackRows} is the inverse).
     */
    public QuantizedTensor rows(int from, int to) {
        if (shape.length != 2 || axis == 0 || format == Format.NF4)
            throw new IllegalStateException("only a 2-d per-tensor or per-column int/fp16 tensor splits by rows, not " + format + " axis " + axis);
        int cols = (int) shape[1];
        return new QuantizedTensor(format, symmetric, new long[]{to - from, cols}, axis, params,
                java.util.Arrays.copyOfRange(values, from * cols, to * cols));
    }

    /** {@code a} on top of {@code b}: two tensors of the same format, columns and qparams, as one. */
    public static QuantizedTensor stackRows(QuantizedTensor a, QuantizedTensor b) {
        if (a.format != b.format || a.symmetric != b.symmetric || a.axis != b.axis || a.shape.length != 2 || b.shape.length != 2
                || a.shape[1] != b.shape[1] || !java.util.Arrays.equals(a.params, b.params))
            throw new IllegalStateException("tensors of shapes " + java.util.Arrays.toString(a.shape) + " and " + java.util.Arrays.toString(b.shape)
                    + " do not share their format and qparams");
        short[] v = java.util.Arrays.copyOf(a.values, a.values.length + b.values.length);
        System.arraycopy(b.values, 0, v, a.values.length, b.values.length);
        return new QuantizedTensor(a.format, a.symmetric, new long[]{a.shape[0] + b.shape[0], a.shape[1]}, a.axis, a.params, v);
    }

    /** An nf4 tensor from its blocks. */
    static QuantizedTensor ofNf4(NormalFloat4.Blocks b, long[] shape) {
        int nb = b.q8().length, ng = b.scales().length;
        QParams[] p = new QParams[nb + ng + 1];
        for (int i = 0; i < nb; i++) p[i] = new QParams(b.absmax(i), b.q8()[i]);
        for (int g = 0; g < ng; g++) p[nb + g] = new QParams(b.scales()[g], 0);
        p[nb + ng] = new QParams(b.offset(), 0);
        return new QuantizedTensor(Format.NF4, false, shape, -1, p, b.codes());
    }

    /** An nf4 tensor's blocks (its values and the double-quantized maxima). */
    public NormalFloat4.Blocks nf4() {
        if (format != Format.NF4) throw new IllegalStateException(format + " is not nf4");
        int nb = NormalFloat4.blocks(values.length), ng = NormalFloat4.groups(nb);
        if (params.length != nb + ng + 1) throw new IllegalStateException("nf4 tensor of " + values.length + " values has " + params.length + " qparams, expected " + (nb + ng + 1));
        byte[] q8 = new byte[nb];
        float[] scales = new float[ng];
        for (int i = 0; i < nb; i++) q8[i] = (byte) params[i].zeroPoint();
        for (int g = 0; g < ng; g++) scales[g] = params[nb + g].scale();
        for (short v : values) if (v < 0 || v > 15) throw new IllegalStateException("nf4 tensor holds a code " + v + " outside [0, 15]");
        return new NormalFloat4.Blocks(values, q8, scales, params[nb + ng].scale());
    }

    public float[] dequantize() {
        if (format == Format.NF4) return nf4().dequantize();
        float[] out = new float[values.length];
        if (format == Format.FP16) {
            for (int i = 0; i < out.length; i++) out[i] = Half.toFloat(values[i]);
            return out;
        }
        long stride = 1;
        if (axis >= 0) for (int a = axis + 1; a < shape.length; a++) stride *= shape[a];
        for (int i = 0; i < out.length; i++) {
            int c = params.length == 1 ? 0 : (int) ((i / stride) % params.length);
            out[i] = params[c].dequantize(values[i]);
        }
        return out;
    }

    public byte[] toBytes() {
        return Bytes.write(out -> {
            out.writeByte(format.id());
            out.writeBoolean(symmetric);
            out.writeByte(shape.length);
            for (long s : shape) out.writeLong(s);
            out.writeInt(axis);
            if (format == Format.NF4) {
                NormalFloat4.Blocks b = nf4();
                out.writeInt(values.length);
                out.writeFloat(b.offset());
                out.writeInt(b.scales().length);
                for (float f : b.scales()) out.writeFloat(f);
                out.writeInt(b.q8().length);
                out.write(b.q8());
                for (int i = 0; i < values.length; i += 2) out.writeByte(values[i] & 0xf | (i + 1 < values.length ? values[i + 1] & 0xf : 0) << 4);
                return;
            }
            out.writeInt(params.length);
            for (QParams p : params) {
                out.writeFloat(p.scale());
                out.writeInt(p.zeroPoint());
            }
            switch (format) {
                case INT8 -> {
                    for (short v : values) out.writeByte(v);
                }
                case INT4 -> {
                    for (int i = 0; i < values.length; i += 2) {
                        int lo = values[i] & 0xf, hi = i + 1 < values.length ? values[i + 1] & 0xf : 0;
                        out.writeByte(lo | hi << 4);
                    }
                }
                case FP16 -> {
                    for (short v : values) out.writeShort(v);
                }
            }
        });
    }

    public static QuantizedTensor fromBytes(byte[] b) {
        return Bytes.read(b, in -> {
            Format f = Format.byId(in.readByte());
            boolean signed = in.readBoolean();
            long[] shape = new long[in.readByte()];
            long n = 1;
            for (int i = 0; i < shape.length; i++) n *= shape[i] = in.readLong();
            int axis = in.readInt();
            if (f == Format.NF4) {
                int count = in.readInt();
                float offset = in.readFloat();
                int ng = in.readInt();
                if (ng < 0 || ng > count + 1) throw new IllegalStateException("nf4 tensor has " + ng + " groups");
                float[] scales = new float[ng];
                for (int g = 0; g < ng; g++) scales[g] = in.readFloat();
                int nb = in.readInt();
                if (nb != NormalFloat4.blocks(count) || ng != NormalFloat4.groups(nb))
                    throw new IllegalStateException("nf4 tensor of " + count + " values has " + nb + " blocks in " + ng + " groups");
                byte[] q8 = new byte[nb];
                in.readFully(q8);
                short[] v = new short[count];
                for (int i = 0; i < count; i += 2) {
                    int x = in.readUnsignedByte();
                    v[i] = (short) (x & 0xf);
                    if (i + 1 < count) v[i + 1] = (short) (x >>> 4);
                }
                return ofNf4(new NormalFloat4.Blocks(v, q8, scales, offset), shape);
            }
            QParams[] p = new QParams[in.readInt()];
            for (int i = 0; i < p.length; i++) p[i] = new QParams(in.readFloat(), in.readInt());
            short[] v = new short[(int) n];
            switch (f) {
                case INT8 -> {
                    for (int i = 0; i < n; i++) v[i] = signed ? in.readByte() : (short) in.readUnsignedByte();
                }
                case INT4 -> {
                    for (int i = 0; i < n; i += 2) {
                        int x = in.readUnsignedByte();
                        v[i] = nibble(x & 0xf, signed);
                        if (i + 1 < n) v[i + 1] = nibble(x >>> 4, signed);
                    }
                }
                case FP16 -> {
                    for (int i = 0; i < n; i++) v[i] = in.readShort();
                }
            }
            return new QuantizedTensor(f, signed, shape, axis, p, v);
        });
    }

    private static short nibble(int x, boolean signed) {
        return (short) (signed && x >= 8 ? x - 16 : x);
    }
}
