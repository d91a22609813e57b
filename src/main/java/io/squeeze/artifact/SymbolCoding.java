package io.squeeze.artifact;

import io.squeeze.core.Huffman;
import io.squeeze.core.Mask;
import io.squeeze.core.Varint;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;

/**
 * A tensor's integer codes (codebook indices, int8/int4 values), entropy-coded as Deep Compression stores them (Han,
 * Mao and Dally 2016, section 4 and Figure 2). Dense: the codes, Huffman-coded. Pruned: only the kept entries, each
 * with its position as the <em>relative index</em> to the previous kept entry in R bits; a gap larger than 2^R is
 * bridged by filler entries (a gap of 2^R and the reserved code {@code alphabet}, "a zero"). The gap stream and the
 * code stream are Huffman-coded separately, and R (1–8) is chosen per tensor for the fewest coded bits.
 * <p>
 * Layout: dense, the code stream ({@link Huffman}, alphabet A) to the end; pruned, R (a byte), the gap stream's
 * length (varint) and bytes, then the code stream (alphabet A + 1, the filler being A) to the end.
 */
final class SymbolCoding {
    private SymbolCoding() {}

    /** Decoded codes (-1 where not kept) and, when stored pruned, the mask. */
    record Decoded(int[] codes, Mask mask) {}

    /** Writes {@code codes} (each in [0, alphabet); entries the mask prunes are not stored). */
    static void write(ByteArrayOutputStream out, int[] codes, int alphabet, Mask mask) {
        if (mask == null) {
            out.writeBytes(Huffman.encode(codes, alphabet));
            return;
        }
        int kept = (int) mask.keptCount();
        int[] pos = new int[kept], sym = new int[kept];
        for (int i = 0, k = 0; i < codes.length; i++) if (mask.kept(i)) {
            pos[k] = i;
            sym[k++] = codes[i];
        }
        int bestR = 1;
        long best = Long.MAX_VALUE;
        for (int r = 1; r <= 8; r++) {
            int[][] s = relative(pos, sym, r, alphabet);
            long bits = Huffman.codeBits(Huffman.counts(s[0], 1 << r)) + Huffman.codeBits(Huffman.counts(s[1], alphabet + 1));
            if (bits < best) {
                best = bits;
                bestR = r;
            }
        }
        int[][] s = relative(pos, sym, bestR, alphabet);
        out.write(bestR);
        byte[] gaps = Huffman.encode(s[0], 1 << bestR);
        Varint.write(out, gaps.length);
        out.writeBytes(gaps);
        out.writeBytes(Huffman.encode(s[1], alphabet + 1));
    }

    /** Reads {@code n} entries' codes from {@code b[p[0]..]} to the end; {@link IllegalStateException} if corrupt. */
    static Decoded read(byte[] b, int[] p, int n, int alphabet, boolean sparse, String what) {
        if (!sparse) {
            int[] codes = Huffman.decode(Arrays.copyOfRange(b, p[0], b.length), alphabet);
            if (codes.length != n) throw new IllegalStateException(what + " holds " + codes.length + " values, expected " + n);
            return new Decoded(codes, null);
        }
        if (p[0] >= b.length) throw new IllegalStateException(what + " ends early");
        int r = b[p[0]++] & 0xff;
        if (r < 1 || r > 8) throw new IllegalStateException(what + " has relative indices of " + r + " bits");
        long gl = Varint.read(b, p, what);
        if (p[0] + gl > b.length) throw new IllegalStateException(what + "'s gap stream runs past its end");
        int[] gaps = Huffman.decode(Arrays.copyOfRange(b, p[0], p[0] + (int) gl), 1 << r);
        int[] sym = Huffman.decode(Arrays.copyOfRange(b, p[0] + (int) gl, b.length), alphabet + 1);
        if (gaps.length != sym.length) throw new IllegalStateException(what + " has " + gaps.length + " positions for " + sym.length + " codes");
        int[] codes = new int[n];
        Arrays.fill(codes, -1);
        boolean[] kept = new boolean[n];
        long at = -1;
        for (int i = 0; i < gaps.length; i++) {
            at += gaps[i] + 1;
            if (at >= n) throw new IllegalStateException(what + " places a value at " + at + ", past its " + n + " entries");
            if (sym[i] == alphabet) continue; // filler
            kept[(int) at] = true;
            codes[(int) at] = sym[i];
        }
        return new Decoded(codes, Mask.of(kept));
    }

    /** Relative indices in {@code r} bits with fillers (code {@code filler}) for longer gaps: {gaps, codes}. */
    private static int[][] relative(int[] pos, int[] sym, int r, int filler) {
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
        return new int[][]{g, s};
    }
}
