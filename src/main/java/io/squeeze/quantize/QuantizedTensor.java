package io.squeeze.quantize;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Bytes;

/**
 * A weight tensor stored as integers: 8-bit (qint8 [-128, 127] symmetric, quint8 [0, 255] affine) or 4-bit
 * ([-8, 7] symmetric, [0, 15] affine; two values per byte, low nibble first), with a scale and zero point per
 * tensor or per channel along {@code axis}; or as IEEE half precision (fp16). {@link #toBytes()} is the packed
 * form: a small header, the qparams, then the values — 1 byte (int8), ½ byte (int4) or 2 bytes (fp16) per weight.
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
        INT8(8, 0), INT4(4, 1), FP16(16, 2);

        private final int bits, id;

        Format(int bits, int id) {
            this.bits = bits;
            this.id = id;
        }

        public int bits() {
            return bits;
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

    public float[] dequantize() {
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
