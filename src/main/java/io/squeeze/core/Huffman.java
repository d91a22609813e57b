package io.squeeze.core;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.PriorityQueue;

/**
 * Canonical Huffman coding of a stream of small integer symbols (Huffman 1952, "A Method for the Construction of
 * Minimum-Redundancy Codes"), as Deep Compression's last stage codes cluster indices and relative positions (Han,
 * Mao and Dally 2016, section 4). Code lengths come from the symbols' counts (ties broken by the smaller symbol, so
 * the code is deterministic) and are limited to {@link #MAX_LENGTH} bits: when a length exceeds it, every count is
 * halved (a non-zero count stays ≥ 1) and the code is rebuilt, as zlib's and JPEG's encoders do. Codes are
 * canonical (RFC 1951, 3.2.2), so only the length of each symbol is stored.
 * <p>
 * Stored form: the alphabet size and the symbol count as unsigned LEB128 varints; then nothing for an empty stream;
 * mode byte 0 and the symbol (varint) when every symbol is the same one (zero bits per symbol); otherwise mode byte 1,
 * each symbol's code length as a nibble (0 = unused; low nibble first), and the codes, most significant bit first,
 * zero-padded to a byte. Decoding looks up the next 10 bits in a table (one step for every code of at most 10 bits)
 * and reads longer codes bit by bit. {@link #decode} refuses a stream whose lengths do not form a complete prefix code, that ends
 * early, or that carries anything after its last symbol.
 */
public final class Huffman {
    /** The longest code. */
    public static final int MAX_LENGTH = 15;
    /** Codes of at most this many bits decode by one table lookup; longer ones bit by bit. */
    private static final int LOOKUP = 10;

    private Huffman() {}

    /** Encodes {@code symbols}, each in [0, alphabet). */
    public static byte[] encode(int[] symbols, int alphabet) {
        if (alphabet <= 0) throw new IllegalArgumentException("alphabet must be > 0, got " + alphabet);
        long[] freq = counts(symbols, alphabet);
        ByteArrayOutputStream out = new ByteArrayOutputStream(16 + symbols.length / 2);
        Varint.write(out, alphabet);
        Varint.write(out, symbols.length);
        if (symbols.length == 0) return out.toByteArray();
        int used = 0, only = -1;
        for (int s = 0; s < alphabet; s++) if (freq[s] > 0) { used++; only = s; }
        if (used == 1) {
            out.write(0);
            Varint.write(out, only);
            return out.toByteArray();
        }
        out.write(1);
        int[] len = lengths(freq, MAX_LENGTH);
        for (int s = 0; s < alphabet; s += 2) out.write(len[s] | (s + 1 < alphabet ? len[s + 1] : 0) << 4);
        int[] code = canonical(len);
        long acc = 0;
        int bits = 0;
        for (int s : symbols) {
            acc = acc << len[s] | code[s];
            bits += len[s];
            while (bits >= 8) {
                bits -= 8;
                out.write((int) (acc >>> bits) & 0xff);
            }
            acc &= (1L << bits) - 1;
        }
        if (bits > 0) out.write((int) (acc << (8 - bits)) & 0xff);
        return out.toByteArray();
    }

    /** Decodes a stream written by {@link #encode} over the same alphabet; {@link IllegalStateException} if corrupt. */
    public static int[] decode(byte[] b, int alphabet) {
        int[] pos = {0};
        long a = Varint.read(b, pos, "Huffman stream");
        if (a != alphabet) throw new IllegalStateException("Huffman stream is over an alphabet of " + a + " symbols, expected " + alphabet);
        long n = Varint.read(b, pos, "Huffman stream");
        if (n > Integer.MAX_VALUE - 8) throw new IllegalStateException("Huffman stream claims " + n + " symbols");
        int[] out = new int[(int) n];
        if (n == 0) return end(b, pos[0], out);
        int mode = next(b, pos);
        if (mode == 0) {
            long s = Varint.read(b, pos, "Huffman stream");
            if (s >= alphabet) throw new IllegalStateException("Huffman stream repeats symbol " + s + ", outside [0, " + alphabet + ")");
            Arrays.fill(out, (int) s);
            return end(b, pos[0], out);
        }
        if (mode != 1) throw new IllegalStateException("Huffman stream has an unknown mode " + mode);
        int[] len = new int[alphabet];
        for (int s = 0; s < alphabet; s += 2) {
            int x = next(b, pos);
            len[s] = x & 0xf;
            if (s + 1 < alphabet) len[s + 1] = x >>> 4;
            else if (x >>> 4 != 0) throw new IllegalStateException("Huffman stream has a code length past its alphabet");
        }
        long kraft = 0;
        int[] count = new int[MAX_LENGTH + 1];
        for (int l : len) if (l > 0) { kraft += 1L << (MAX_LENGTH - l); count[l]++; }
        if (kraft != 1L << MAX_LENGTH) throw new IllegalStateException("Huffman stream's code lengths do not form a complete prefix code");
        int[] sorted = new int[alphabet];
        int[] first = new int[MAX_LENGTH + 2], firstIndex = new int[MAX_LENGTH + 2];
        int k = 0;
        for (int l = 1; l <= MAX_LENGTH; l++) for (int s = 0; s < alphabet; s++) if (len[s] == l) sorted[k++] = s;
        for (int l = 1, code = 0, idx = 0; l <= MAX_LENGTH; l++) {
            first[l] = code;
            firstIndex[l] = idx;
            code = (code + count[l]) << 1;
            idx += count[l];
        }
        // a table over the next LOOKUP bits decodes every code of at most LOOKUP bits in one step: entry = symbol << 4 | length
        int[] table = new int[1 << LOOKUP];
        for (int l = 1; l <= LOOKUP; l++)
            for (int j = 0; j < count[l]; j++) {
                int code = first[l] + j, from = code << (LOOKUP - l), span = 1 << (LOOKUP - l);
                java.util.Arrays.fill(table, from, from + span, sorted[firstIndex[l] + j] << 4 | l);
            }
        int p = pos[0], have = 0;
        long acc = 0;
        for (int i = 0; i < n; i++) {
            while (have <= 56 && p < b.length) {
                acc = acc << 8 | (b[p++] & 0xff);
                have += 8;
            }
            int peek = (int) (have >= LOOKUP ? acc >>> (have - LOOKUP) : acc << (LOOKUP - have)) & ((1 << LOOKUP) - 1);
            int e = table[peek];
            if (e != 0) {
                if ((e & 0xf) > have) throw new IllegalStateException("Huffman stream ends after " + i + " of " + n + " symbols");
                have -= e & 0xf;
                out[i] = e >>> 4;
                continue;
            }
            int code = 0;
            for (int l = 1; ; l++) { // a code longer than LOOKUP bits
                if (l > MAX_LENGTH) throw new IllegalStateException("Huffman stream holds a code longer than " + MAX_LENGTH + " bits");
                if (have == 0) throw new IllegalStateException("Huffman stream ends after " + i + " of " + n + " symbols");
                code = code << 1 | (int) (acc >>> --have) & 1;
                int d = code - first[l];
                if (d >= 0 && d < count[l]) {
                    out[i] = sorted[firstIndex[l] + d];
                    break;
                }
            }
        }
        if (have >= 8 || p < b.length) throw new IllegalStateException("Huffman stream has " + (have / 8 + b.length - p) + " bytes after its last symbol");
        if ((acc & ((1L << have) - 1)) != 0) throw new IllegalStateException("Huffman stream has non-zero padding");
        return out;
    }

    /** The bits {@link #encode} spends on the codes of symbols with these counts (the table and header aside). */
    public static long codeBits(long[] freq) {
        int used = 0;
        for (long f : freq) if (f > 0) used++;
        if (used <= 1) return 0;
        int[] len = lengths(freq, MAX_LENGTH);
        long bits = 0;
        for (int s = 0; s < freq.length; s++) bits += freq[s] * len[s];
        return bits;
    }

    /** Counts of each symbol; refuses symbols outside the alphabet. */
    public static long[] counts(int[] symbols, int alphabet) {
        long[] freq = new long[alphabet];
        for (int s : symbols) {
            if (s < 0 || s >= alphabet) throw new IllegalArgumentException("symbol " + s + " is outside [0, " + alphabet + ")");
            freq[s]++;
        }
        return freq;
    }

    /** Huffman code lengths for these counts, none longer than {@code maxLength} (0 for unused symbols). */
    static int[] lengths(long[] freq, int maxLength) {
        long[] f = freq.clone();
        while (true) {
            int[] len = unlimited(f);
            int max = 0;
            for (int l : len) max = Math.max(max, l);
            if (max <= maxLength) return len;
            for (int s = 0; s < f.length; s++) if (f[s] > 0) f[s] = Math.max(1, f[s] >>> 1);
        }
    }

    private static int[] unlimited(long[] f) {
        int n = f.length;
        // nodes: leaves 0..n-1, internal n.. ; weight and the smallest symbol below, for deterministic ties
        long[] weight = new long[2 * n];
        int[] minSym = new int[2 * n], parent = new int[2 * n];
        PriorityQueue<Integer> q = new PriorityQueue<>((x, y) -> weight[x] != weight[y] ? Long.compare(weight[x], weight[y]) : Integer.compare(minSym[x], minSym[y]));
        for (int s = 0; s < n; s++) if (f[s] > 0) {
            weight[s] = f[s];
            minSym[s] = s;
            q.add(s);
        }
        int next = n;
        while (q.size() > 1) {
            int x = q.poll(), y = q.poll();
            weight[next] = weight[x] + weight[y];
            minSym[next] = Math.min(minSym[x], minSym[y]);
            parent[x] = next;
            parent[y] = next;
            q.add(next++);
        }
        int root = next - 1;
        int[] len = new int[n];
        for (int s = 0; s < n; s++) {
            if (f[s] == 0) continue;
            int d = 0;
            for (int v = s; v != root; v = parent[v]) d++;
            len[s] = Math.max(d, 1);
        }
        return len;
    }

    /** Canonical codes for these lengths (RFC 1951, 3.2.2). */
    private static int[] canonical(int[] len) {
        int[] count = new int[MAX_LENGTH + 1], nextCode = new int[MAX_LENGTH + 2];
        for (int l : len) if (l > 0) count[l]++;
        for (int l = 1, code = 0; l <= MAX_LENGTH; l++) {
            code = (code + count[l - 1]) << 1;
            nextCode[l] = code;
        }
        int[] code = new int[len.length];
        for (int s = 0; s < len.length; s++) if (len[s] > 0) code[s] = nextCode[len[s]]++;
        return code;
    }

    private static int[] end(byte[] b, int p, int[] out) {
        if (p != b.length) throw new IllegalStateException("Huffman stream has " + (b.length - p) + " bytes after its last symbol");
        return out;
    }

    private static int next(byte[] b, int[] pos) {
        if (pos[0] >= b.length) throw new IllegalStateException("Huffman stream ends early");
        return b[pos[0]++] & 0xff;
    }
}
