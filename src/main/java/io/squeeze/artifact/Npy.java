package io.squeeze.artifact;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * NumPy {@code .npy} format version 1.0: magic {@code \x93NUMPY}, version, a little-endian uint16 header length,
 * an ASCII dict header padded with spaces to a multiple of 64 bytes ending in a newline, then the raw data.
 */
public final class Npy {
    private Npy() {}

    /** float32 values in C order of {@code shape}. */
    public static byte[] float32(float[] values, long[] shape) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putFloat(v);
        return write("<f4", shape, b.array());
    }

    /** int8 values in C order of {@code shape}. */
    public static byte[] int8(byte[] values, long[] shape) {
        return write("|i1", shape, values);
    }

    /** uint8 values (0..255 in a short each) in C order of {@code shape}. */
    public static byte[] uint8(short[] values, long[] shape) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < b.length; i++) b[i] = (byte) values[i];
        return write("|u1", shape, b);
    }

    /** IEEE half-precision bit patterns in C order of {@code shape}. */
    public static byte[] float16(short[] bits, long[] shape) {
        ByteBuffer b = ByteBuffer.allocate(bits.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (short v : bits) b.putShort(v);
        return write("<f2", shape, b.array());
    }

    public static byte[] int32(int[] values, long[] shape) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : values) b.putInt(v);
        return write("<i4", shape, b.array());
    }

    private static byte[] write(String descr, long[] shape, byte[] data) {
        String dims = shape.length == 1 ? shape[0] + "," : Arrays.stream(shape).mapToObj(Long::toString).collect(Collectors.joining(", "));
        String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
        int unpadded = 10 + dict.length() + 1;
        int pad = (64 - unpadded % 64) % 64;
        String header = dict + " ".repeat(pad) + "\n";
        ByteArrayOutputStream out = new ByteArrayOutputStream(10 + header.length() + data.length);
        out.writeBytes(new byte[]{(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0});
        int len = header.length();
        out.write(len & 0xff);
        out.write((len >>> 8) & 0xff);
        out.writeBytes(header.getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(data);
        return out.toByteArray();
    }
}
