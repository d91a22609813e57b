package io.squeeze.artifact;

import io.squeeze.core.Huffman;
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
 * weight's codebook index, Huffman-coded. For a pruned tensor only the kept weights are stored, each with its
 * position as the <em>relative index</em> to the previous kept weight in R bits: a gap larger than 2^R is bridged by
 * filler entries (a gap of 2^R and the reserved index K, "a zero"), as the paper's Figure 2. The gap stream and the
 * index stream are Huffman-coded separately; R is chosen per tensor (1–8) for the fewest coded bits. Values are kept
 * bit for bit (codebook entries are raw float32), so decoding is exact.
 * <p>
 * Layout (version 1): a version byte; K (varint) and the K values as little-endian float32, ascending; for a pruned
 * tensor R (a byte) and the gap stream's length (varint) and bytes; then the index stream ({@link Huffman}, alphabet
 * K, or K + 1 with the filler).
 */
public final class CodebookCoding {
    /** The largest codebook: indices of at most 8 bits. */
    public static final int MAX_CODEBOOK = 256;
    private static final int VERSION = 1;

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
        if (mask == null) {
            int[] idx = new int[v.length];
            for (int i = 0; i < v.length; i++) idx[i] = index.get(Float.floatToRawIntBits(v[i]));
            out.writeBytes(Huffman.encode(idx, book.length));
            return out.toByteArray();
        }
        int kept = (int) mask.keptCount();
        int[] pos = new int[kept], sym = new int[kept];
        for (int i = 0, k = 0; i < v.length; i++) if (mask.kept(i)) {
            pos[k] = i;
            sym[k++] = index.get(Float.floatToRawIntBits(v[i]));
        }
        int bestR = 1;
        long best = Long.MAX_VALUE;
        for (int r = 1; r <= 8; r++) {
            Streams s = relative(pos, sym, r, book.length);
            long bits = Huffman.codeBits(Huffman.counts(s.gaps, 1 << r)) + Huffman.codeBits(Huffman.counts(s.symbols, book.length + 1));
            if (bits < best) { best = bits; bestR = r; }
        }
        Streams s = relative(pos, sym, bestR, book.length);
        out.write(bestR);
        byte[] gaps = Huffman.encode(s.gaps, 1 << bestR);
        Varint.write(out, gaps.length);
        out.writeBytes(gaps);
        out.writeBytes(Huffman.encode(s.symbols, book.length + 1));
        return out.toByteArray();
    }

    /** A decoded tensor: values and, when stored pruned, the mask. */
    public static Encoding.Tensor decode(byte[] bytes, int n, boolean sparse) {
        int[] p = {0};
        int version = next(bytes, p);
        if (version != VERSION) throw new IllegalStateException("codebook tensor has layout version " + version + ", this Squeeze reads " + VERSION);
        long k = Varint.read(bytes, p, "codebook tensor");
        if (k < 1 || k > MAX_CODEBOOK || p[0] + k * 4 > bytes.length) throw new IllegalStateException("codebook tensor has a codebook of " + k + " entries");
        ByteBuffer b = ByteBuffer.wrap(bytes, p[0], (int) k * 4).order(ByteOrder.LITTLE_ENDIAN);
        float[] book = new float[(int) k];
        for (int i = 0; i < k; i++) book[i] = b.getFloat();
        p[0] += (int) k * 4;
        float[] v = new float[n];
        if (!sparse) {
            int[] idx = Huffman.decode(Arrays.copyOfRange(bytes, p[0], bytes.length), book.length);
            if (idx.length != n) throw new IllegalStateException("codebook tensor holds " + idx.length + " values, expected " + n);
            for (int i = 0; i < n; i++) v[i] = book[idx[i]];
            return new Encoding.Tensor(v, null);
        }
        int r = next(bytes, p);
        if (r < 1 || r > 8) throw new IllegalStateException("codebook tensor has relative indices of " + r + " bits");
        long gl = Varint.read(bytes, p, "codebook tensor");
        if (p[0] + gl > bytes.length) throw new IllegalStateException("codebook tensor's gap stream runs past its end");
        int[] gaps = Huffman.decode(Arrays.copyOfRange(bytes, p[0], p[0] + (int) gl), 1 << r);
        int[] sym = Huffman.decode(Arrays.copyOfRange(bytes, p[0] + (int) gl, bytes.length), book.length + 1);
        if (gaps.length != sym.length) throw new IllegalStateException("codebook tensor has " + gaps.length + " positions for " + sym.length + " indices");
        boolean[] kept = new boolean[n];
        long at = -1;
        for (int i = 0; i < gaps.length; i++) {
            at += gaps[i] + 1;
            if (at >= n) throw new IllegalStateException("codebook tensor places a weight at " + at + ", past its " + n + " entries");
            if (sym[i] == book.length) continue; // filler
            kept[(int) at] = true;
            v[(int) at] = book[sym[i]];
        }
        return new Encoding.Tensor(v, Mask.of(kept));
    }

    /** The number of codebook entries of a stored tensor (its first bytes), for reports. */
    public static int codebookSize(byte[] bytes) {
        int[] p = {1};
        return (int) Varint.read(bytes, p, "codebook tensor");
    }

    private record Streams(int[] gaps, int[] symbols) {}

    /** Relative indices in {@code r} bits with fillers (symbol {@code filler}) for longer gaps. */
    private static Streams relative(int[] pos, int[] sym, int r, int filler) {
        int span = 1 << r, count = 0;
        long prev = -1;
        for (int p : pos) {
            count += (int) ((p - prev - 1) / span) + 1;
            prev = p;
        }
        int[] g = new int[count], s = new int[count];
        prev = -1;
        int k = 0;
        for (int i = 0; i < pos.length; i++) {
            long gap = pos[i] - prev;
            while (gap > span) {
                g[k] = span - 1;
                s[k++] = filler;
                gap -= span;
            }
            g[k] = (int) gap - 1;
            s[k++] = sym[i];
            prev = pos[i];
        }
        return new Streams(g, s);
    }

    private static int next(byte[] b, int[] p) {
        if (p[0] >= b.length) throw new IllegalStateException("codebook tensor ends early");
        return b[p[0]++] & 0xff;
    }
}
