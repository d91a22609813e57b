package io.squeeze.core;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HuffmanTest {

    @Test
    void roundTripsSkewedStreamsNearTheirEntropy() {
        Random r = new Random(7);
        int[] s = new int[100_000];
        for (int i = 0; i < s.length; i++) s[i] = Math.min(63, (int) Math.abs(r.nextGaussian() * 6)); // 64 symbols, few used often
        byte[] b = Huffman.encode(s, 64);
        assertArrayEquals(s, Huffman.decode(b, 64));
        double entropy = 0;
        long[] f = Huffman.counts(s, 64);
        for (long c : f) if (c > 0) entropy -= c * Math.log((double) c / s.length) / Math.log(2);
        long bits = Huffman.codeBits(f);
        assertTrue(bits >= entropy && bits < entropy + s.length, bits + " bits for entropy " + entropy); // within 1 bit per symbol
        assertTrue(b.length * 8L < bits + 8 * 64, "stored " + b.length + " bytes");
        assertTrue(b.length < s.length * 6 / 8, "coded below 6 fixed bits per symbol: " + b.length);
    }

    @Test
    void knownCodeLengthsAndBytes() {
        // counts a:5 b:2 c:1 d:1 -> lengths 1,2,3,3; canonical codes a=0 b=10 c=110 d=111
        int[] s = {0, 0, 1, 0, 2, 3, 0, 1, 0};
        byte[] b = Huffman.encode(s, 4);
        // header: alphabet 4, count 9, mode 1, lengths (2|1<<4... low nibble first): [1,2] -> 0x21, [3,3] -> 0x33
        // codes: 0 0 10 0 110 111 0 10 0 -> 0010 0110 1110 1000 -> 0x26 0xE8
        assertArrayEquals(new byte[]{4, 9, 1, 0x21, 0x33, 0x26, (byte) 0xE8}, b);
        assertArrayEquals(s, Huffman.decode(b, 4));
    }

    @Test
    void emptyOneSymbolAndAllEqualStreams() {
        assertArrayEquals(new int[0], Huffman.decode(Huffman.encode(new int[0], 5), 5));
        assertArrayEquals(new int[]{3}, Huffman.decode(Huffman.encode(new int[]{3}, 5), 5));
        int[] same = new int[10_000];
        Arrays.fill(same, 2);
        byte[] b = Huffman.encode(same, 300);
        assertTrue(b.length <= 6, "all-equal streams take no bits per symbol: " + b.length);
        assertArrayEquals(same, Huffman.decode(b, 300));
        int[] two = {1, 0, 1, 1};
        assertArrayEquals(two, Huffman.decode(Huffman.encode(two, 2), 2));
    }

    @Test
    void lengthsAreLimitedForFibonacciCounts() {
        // Fibonacci counts make the deepest unlimited Huffman tree: 30 symbols would need 29-bit codes
        long[] f = new long[30];
        f[0] = f[1] = 1;
        for (int i = 2; i < f.length; i++) f[i] = f[i - 1] + f[i - 2];
        int[] len = Huffman.lengths(f, Huffman.MAX_LENGTH);
        assertEquals(Huffman.MAX_LENGTH, Arrays.stream(len).max().orElseThrow());
        int total = 0;
        for (long c : f) total += (int) c;
        int[] s = new int[total];
        for (int sym = 0, k = 0; sym < f.length; sym++) for (long c = 0; c < f[sym]; c++) s[k++] = sym;
        assertArrayEquals(s, Huffman.decode(Huffman.encode(s, 30), 30));
    }

    @Test
    void corruptStreamsAreRefused() {
        int[] s = {0, 1, 2, 3, 0, 0, 1, 2, 0, 0, 0};
        byte[] b = Huffman.encode(s, 4);
        assertThrows(IllegalStateException.class, () -> Huffman.decode(Arrays.copyOf(b, b.length - 1), 4), "truncated");
        byte[] extra = Arrays.copyOf(b, b.length + 1);
        assertThrows(IllegalStateException.class, () -> Huffman.decode(extra, 4), "trailing byte");
        byte[] lengths = b.clone();
        lengths[3] = (byte) 0x11; // lengths 1,1 then 2,2: over-subscribed
        assertThrows(IllegalStateException.class, () -> Huffman.decode(lengths, 4), "bad table");
        assertThrows(IllegalStateException.class, () -> Huffman.decode(b, 5), "other alphabet");
        byte[] mode = b.clone();
        mode[2] = 7;
        assertThrows(IllegalStateException.class, () -> Huffman.decode(mode, 4), "mode");
        byte[] pad = Huffman.encode(new int[]{0, 1, 0}, 2); // 3 bits of code, 5 of padding
        pad[pad.length - 1] |= 1;
        assertThrows(IllegalStateException.class, () -> Huffman.decode(pad, 2), "padding");
        assertThrows(IllegalArgumentException.class, () -> Huffman.encode(new int[]{4}, 4));
        assertThrows(IllegalStateException.class, () -> Huffman.decode(new byte[]{2, 3, 0, 9}, 2), "repeated symbol outside the alphabet");
    }

    @Test
    void deterministicForTies() {
        int[] s = {0, 1, 2, 3, 4, 5, 6, 7};
        assertArrayEquals(Huffman.encode(s, 8), Huffman.encode(s.clone(), 8));
        assertEquals(3 * 8, Huffman.codeBits(Huffman.counts(s, 8)));
    }
}
