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
 * code stream are Huffman-coded separately, and R (1–8) is chosen per tensor for the fewest coded bits. The positions
 * run over the tensor seen as a matrix of its first dimension's rows, row after row (compressed sparse row) or column
 * after column (compressed sparse column), whichever codes smaller — the paper stores CSR or CSC. LeNet-300-100's
 * pruned 784×300 layer codes 338 B smaller column by column (docs/RESULTS.md).
 * <p>
 * Layout: dense, the code stream ({@link Huffman}, alphabet A) to the end; pruned, a byte holding R (bits 0–3) and
 * the column order (bit 7), with the column order the number of rows (varint), then the gap stream's length (varint)
 * and bytes, then the code stream (alphabet A + 1, the filler being A) to the end.
 */
final class SymbolCoding {
    private SymbolCoding() {}

    /** Decoded codes (-1 where not kept) and, when stored pruned, the mask. */
    record Decoded(int[] codes, Mask mask) {}

    /**
     * Writes {@code codes} (each in [0, alphabet); entries the mask prunes are not stored) of a tensor whose first
     * dimension has {@code rows} entries (1: no matrix view, row order only).
     */
    static void write(ByteArrayOutputStream out, int[] codes, int alphabet, Mask mask, long rows) {
        if (mask == null) {
            out.writeBytes(Huffman.encode(codes, alphabet));
            return;
        }
        Order best = order(codes, alphabet, mask, 1);
        if (rows > 1 && rows < codes.length && codes.length % rows == 0) {
            Order byColumn = order(codes, alphabet, mask, (int) rows);
            if (byColumn.bits() + 8L * Varint.size(rows) < best.bits()) best = byColumn;
        }
        int[][] s = relative(best.pos(), best.sym(), best.r(), alphabet);
        out.write(best.r() | (best.rows() > 1 ? COLUMNS : 0));
        if (best.rows() > 1) Varint.write(out, best.rows());
        byte[] gaps = Huffman.encode(s[0], 1 << best.r());
        Varint.write(out, gaps.length);
        out.writeBytes(gaps);
        out.writeBytes(Huffman.encode(s[1], alphabet + 1));
    }

    /** The flag of the column order in the R byte. */
    private static final int COLUMNS = 0x80;

    /** A scan order (rows 1: row after row; else column after column of {@code rows} rows) with its best R and coded bits. */
    private record Order(int rows, int[] pos, int[] sym, int r, long bits) {}

    private static Order order(int[] codes, int alphabet, Mask mask, int rows) {
        int kept = (int) mask.keptCount(), cols = codes.length / rows;
        int[] pos = new int[kept], sym = new int[kept];
        int k = 0;
        if (rows == 1) {
            for (int i = 0; i < codes.length; i++) if (mask.kept(i)) {
                pos[k] = i;
                sym[k++] = codes[i];
            }
        } else {
            for (int c = 0; c < cols; c++)
                for (int r = 0; r < rows; r++) {
                    int i = r * cols + c;
                    if (!mask.kept(i)) continue;
                    pos[k] = c * rows + r;
                    sym[k++] = codes[i];
                }
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
        return new Order(rows, pos, sym, bestR, best);
    }

    /** Reads {@code n} entries' codes from {@code b[p[0]..]} to the end; {@link IllegalStateException} if corrupt. */
    static Decoded read(byte[] b, int[] p, int n, int alphabet, boolean sparse, String what) {
        if (!sparse) {
            int[] codes = Huffman.decode(Arrays.copyOfRange(b, p[0], b.length), alphabet);
            if (codes.length != n) throw new IllegalStateException(what + " holds " + codes.length + " values, expected " + n);
            return new Decoded(codes, null);
        }
        if (p[0] >= b.length) throw new IllegalStateException(what + " ends early");
        int flags = b[p[0]++] & 0xff, r = flags & ~COLUMNS;
        if (r < 1 || r > 8) throw new IllegalStateException(what + " has relative indices of " + r + " bits");
        long rows = (flags & COLUMNS) == 0 ? 1 : Varint.read(b, p, what);
        if (rows < 1 || n % rows != 0) throw new IllegalStateException(what + " has " + rows + " rows for " + n + " entries");
        long cols = n / rows;
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
            int idx = (int) (rows == 1 ? at : (at % rows) * cols + at / rows);
            kept[idx] = true;
            codes[idx] = sym[i];
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
