package io.squeeze.artifact;

import io.squeeze.core.Mask;
import io.squeeze.core.Varint;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * The entropy-coded form of a tensor that holds at most {@link #MAX_CODEBOOK} distinct values (a weight-shared layer,
 * Han, Mao and Dally 2016, "Deep Compression", sections 3–4): the distinct values once as a codebook, then each
 * weight's codebook index, Huffman-coded — for a pruned tensor only the kept weights', with relative positions
 * ({@link SymbolCoding}). Values are kept bit for bit (codebook entries are raw float32), so decoding is exact.
 * <p>
 * Layout (version 2): a version byte; K (varint) and the K values as little-endian float32, ascending; then the
 * indices ({@link SymbolCoding}, alphabet K; positions in row or column order). Version 1, the same without the
 * column order, is read.
 */
public final class CodebookCoding {
    /** The largest codebook: indices of at most 8 bits. */
    public static final int MAX_CODEBOOK = 256;
    private static final int VERSION = 2;

    private CodebookCoding() {}

    /** The distinct values of the kept entries ascending (by value, -0 before +0), or null when there are more than {@link #MAX_CODEBOOK}. */
    public static float[] codebook(float[] v, Mask mask) {
        Map<Integer, Boolean> seen = new HashMap<>();
        for (int i = 0; i < v.length; i++) {
            if (mask != null && !mask.kept(i)) continue;
            if (seen.putIfAbsent(Float.floatToRawIntBits(v[i]), Boolean.TRUE) == null && seen.size() > MAX_CODEBOOK) return null;
        }
        float[] c = new float[seen.size()];
        int k = 0;
        for (int bits : seen.keySet()) c[k++] = Float.intBitsToFloat(bits);
        Arrays.sort(c);
        return c;
    }

    /** The coded tensor, or null when it has no kept value or more than {@link #MAX_CODEBOOK} distinct ones. */
    public static byte[] encode(float[] v, Mask mask) {
        return encode(v, mask, 1);
    }

    /** As {@link #encode(float[], Mask)}, for a tensor whose first dimension has {@code rows} entries (positions may go column by column). */
    public static byte[] encode(float[] v, Mask mask, long rows) {
        if (mask != null && mask.size() != v.length) throw new IllegalArgumentException("mask of " + mask.size() + " for a tensor of " + v.length);
        float[] book = codebook(v, mask);
        if (book == null || book.length == 0) return null;
        Map<Integer, Integer> index = new HashMap<>();
        for (int k = 0; k < book.length; k++) index.put(Float.floatToRawIntBits(book[k]), k);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(VERSION);
        Varint.write(out, book.length);
        ByteBuffer b = ByteBuffer.allocate(book.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : book) b.putFloat(f);
        out.writeBytes(b.array());
        int[] idx = new int[v.length];
        for (int i = 0; i < v.length; i++) if (mask == null || mask.kept(i)) idx[i] = index.get(Float.floatToRawIntBits(v[i]));
        SymbolCoding.write(out, idx, book.length, mask, rows);
        return out.toByteArray();
    }

    /** A decoded tensor: values and, when stored pruned, the mask. */
    public static Encoding.Tensor decode(byte[] bytes, int n, boolean sparse) {
        int[] p = {0};
        if (bytes.length == 0) throw new IllegalStateException("codebook tensor is empty");
        int version = bytes[p[0]++] & 0xff;
        if (version < 1 || version > VERSION)
            throw new IllegalStateException("codebook tensor has layout version " + version + ", this Squeeze reads 1 to " + VERSION);
        long k = Varint.read(bytes, p, "codebook tensor");
        if (k < 1 || k > MAX_CODEBOOK || p[0] + k * 4 > bytes.length) throw new IllegalStateException("codebook tensor has a codebook of " + k + " entries");
        ByteBuffer b = ByteBuffer.wrap(bytes, p[0], (int) k * 4).order(ByteOrder.LITTLE_ENDIAN);
        float[] book = new float[(int) k];
        for (int i = 0; i < k; i++) book[i] = b.getFloat();
        p[0] += (int) k * 4;
        SymbolCoding.Decoded d = SymbolCoding.read(bytes, p, n, book.length, sparse, "codebook tensor");
        float[] v = new float[n];
        for (int i = 0; i < n; i++) if (d.codes()[i] >= 0) v[i] = book[d.codes()[i]];
        return new Encoding.Tensor(v, d.mask());
    }

    /** The number of codebook entries of a stored tensor (its first bytes), for reports. */
    public static int codebookSize(byte[] bytes) {
        int[] p = {1};
        return (int) Varint.read(bytes, p, "codebook tensor");
    }
}
