package io.squeeze.core;

import java.io.ByteArrayOutputStream;

/** Unsigned LEB128 varints (7 bits per byte, low group first, high bit set on every byte but the last). */
public final class Varint {
    private Varint() {}

    public static void write(ByteArrayOutputStream out, long v) {
        while ((v & ~0x7fL) != 0) {
            out.write((int) (v & 0x7f) | 0x80);
            v >>>= 7;
        }
        out.write((int) v);
    }

    /** The number of bytes {@link #write} takes for {@code v}. */
    public static int size(long v) {
        int n = 1;
        while ((v & ~0x7fL) != 0) {
            v >>>= 7;
            n++;
        }
        return n;
    }

    /** Reads the varint at {@code pos[0]} and advances it; {@link IllegalStateException} naming {@code what} if malformed. */
    public static long read(byte[] b, int[] pos, String what) {
        long v = 0;
        for (int shift = 0; shift < 63; shift += 7) {
            if (pos[0] >= b.length) throw new IllegalStateException(what + " ends early");
            int x = b[pos[0]++] & 0xff;
            v |= (long) (x & 0x7f) << shift;
            if ((x & 0x80) == 0) return v;
        }
        throw new IllegalStateException(what + " has a malformed varint");
    }
}
