package io.squeeze.artifact;

import io.squeeze.core.Mask;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class CodebookCodingTest {

    static float[] shared(int n, int k, Random r) {
        float[] book = new float[k];
        for (int j = 0; j < k; j++) book[j] = (float) r.nextGaussian();
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = book[Math.min(k - 1, (int) Math.abs(r.nextGaussian() * k / 4))];
        return v;
    }

    @Test
    void denseSharedTensorsRoundTripBitForBit() {
        Random r = new Random(5);
        float[] v = shared(10_000, 64, r);
        v[17] = -0.0f; // a signed zero and a NaN are values like any other
        v[18] = Float.NaN;
        byte[] b = Encoding.CODEBOOK_HUFFMAN.encode(v, null);
        Encoding.Tensor t = Encoding.CODEBOOK_HUFFMAN.decode(b, v.length);
        assertNull(t.mask());
        for (int i = 0; i < v.length; i++) assertEquals(Float.floatToRawIntBits(v[i]), Float.floatToRawIntBits(t.values()[i]), "entry " + i);
        assertTrue(b.length < v.length * 6 / 8, "under 6 bits per weight: " + b.length);
        long distinct = java.util.stream.IntStream.range(0, v.length).map(i -> Float.floatToRawIntBits(v[i])).distinct().count();
        assertEquals(distinct, CodebookCoding.codebookSize(b));
    }

    @Test
    void prunedTensorsStoreRelativePositionsWithFillers() {
        Random r = new Random(6);
        int n = 784 * 300;
        float[] v = shared(n, 64, r);
        boolean[] keep = new boolean[n];
        for (int i = 0; i < n; i++) keep[i] = r.nextDouble() < 0.07;
        keep[n - 1] = true;
        Arrays.fill(keep, 1000, 5000, false); // a gap of 4,000 needs fillers at any R
        Mask m = Mask.of(keep);
        float[] masked = m.apply(v);
        byte[] b = Encoding.SPARSE_CODEBOOK_HUFFMAN.encode(masked, m);
        Encoding.Tensor t = Encoding.SPARSE_CODEBOOK_HUFFMAN.decode(b, n);
        assertEquals(m, t.mask());
        assertArrayEquals(masked, t.values());
        // ~16.5k kept weights at random places: indices of ~5 bits of entropy, gaps of a geometric law (p 0.07: 5.2 bits)
        long kept = m.keptCount();
        assertTrue(b.length * 8.0 / kept < 11, b.length * 8.0 / kept + " bits per kept weight");
        byte[] sparseF32 = Encoding.SPARSE_F32_DEFLATE.encode(masked, m);
        assertTrue(b.length < sparseF32.length * 3 / 4, b.length + " vs " + sparseF32.length); // DEFLATE finds the 64 repeated floats too, less well
    }

    @Test
    void edgeCases() {
        // no kept value or more than 256 distinct: not codebook-coded
        assertNull(CodebookCoding.encode(new float[]{1f, 2f}, Mask.of(new boolean[]{false, false})));
        float[] many = new float[300];
        for (int i = 0; i < many.length; i++) many[i] = i;
        assertNull(CodebookCoding.encode(many, null));
        assertNotNull(CodebookCoding.encode(Arrays.copyOf(many, 256), null));
        // one value, one weight, all equal
        for (float[] v : new float[][]{{4f}, {2f, 2f, 2f, 2f}}) {
            byte[] b = CodebookCoding.encode(v, null);
            assertArrayEquals(v, Encoding.CODEBOOK_HUFFMAN.decode(b, v.length).values());
        }
        // the first and the last entry kept, nothing between
        boolean[] ends = new boolean[1000];
        ends[0] = ends[999] = true;
        float[] v = new float[1000];
        v[0] = 1f;
        v[999] = -1f;
        Encoding.Tensor t = Encoding.SPARSE_CODEBOOK_HUFFMAN.decode(CodebookCoding.encode(v, Mask.of(ends)), 1000);
        assertArrayEquals(v, t.values());
        assertEquals(2, t.mask().keptCount());
    }

    @Test
    void corruptTensorsAreRefused() {
        Random r = new Random(8);
        float[] v = shared(2000, 16, r);
        boolean[] keep = new boolean[2000];
        for (int i = 0; i < keep.length; i++) keep[i] = i % 3 == 0;
        Mask m = Mask.of(keep);
        byte[] b = CodebookCoding.encode(m.apply(v), m);
        assertThrows(IllegalStateException.class, () -> Encoding.SPARSE_CODEBOOK_HUFFMAN.decode(Arrays.copyOf(b, b.length - 3), 2000));
        assertThrows(IllegalStateException.class, () -> Encoding.SPARSE_CODEBOOK_HUFFMAN.decode(b, 1000), "positions past the end");
        byte[] version = b.clone();
        version[0] = 9;
        assertThrows(IllegalStateException.class, () -> Encoding.SPARSE_CODEBOOK_HUFFMAN.decode(version, 2000));
        byte[] dense = CodebookCoding.encode(v, null);
        assertThrows(IllegalStateException.class, () -> Encoding.CODEBOOK_HUFFMAN.decode(dense, 2001), "count");
        assertThrows(IllegalStateException.class, () -> Encoding.CODEBOOK_HUFFMAN.decode(new byte[]{1, 0}, 0), "empty codebook");
    }

    @Test
    void quantizedIntegersRoundTripHuffmanCodedAndTheSmallerEncodingIsChosen() {
        Random r = new Random(11);
        float[] w = new float[300 * 100];
        for (int i = 0; i < w.length; i++) w[i] = (float) (r.nextGaussian() * 0.05);
        boolean[] keep = new boolean[w.length];
        for (int i = 0; i < keep.length; i++) keep[i] = r.nextDouble() < 0.2;
        Mask m = Mask.of(keep);
        for (var f : new io.squeeze.quantize.QuantizedTensor.Format[]{io.squeeze.quantize.QuantizedTensor.Format.INT8, io.squeeze.quantize.QuantizedTensor.Format.INT4})
            for (boolean symmetric : new boolean[]{true, false})
                for (int axis : new int[]{-1, 1})
                    for (Mask mask : new Mask[]{null, m}) {
                        var q = io.squeeze.quantize.QuantizedTensor.quantize(mask == null ? w : mask.apply(w), new long[]{300, 100}, f, symmetric, axis);
                        String what = f + " symmetric " + symmetric + " axis " + axis + (mask == null ? " dense" : " pruned");
                        byte[] h = QuantizedCoding.encode(q, mask);
                        Encoding.Quantized back = QuantizedCoding.decode(h, w.length, mask != null);
                        assertEquals(mask, back.mask(), what);
                        var deflated = Encoding.decodeQuantized(mask == null ? Encoding.QUANTIZED_DEFLATE : Encoding.SPARSE_QUANTIZED_DEFLATE,
                                encodeDeflate(q, mask), w.length);
                        assertArrayEquals(deflated.tensor().values(), back.tensor().values(), what);
                        assertArrayEquals(deflated.tensor().dequantize(), back.tensor().dequantize(), what);
                        var chosen = Encoding.encodeQuantized(q, mask);
                        assertTrue(chosen.getValue().length <= encodeDeflate(q, mask).length, what);
                        assertArrayEquals(back.tensor().values(), Encoding.decodeQuantized(chosen.getKey(), chosen.getValue(), w.length).tensor().values());
                    }
        // int8 Gaussian weights: ~6 bits of entropy per value against DEFLATE's ~7
        var q = io.squeeze.quantize.QuantizedTensor.quantize(m.apply(w), new long[]{300, 100}, io.squeeze.quantize.QuantizedTensor.Format.INT8, true, 1);
        assertEquals(Encoding.SPARSE_QUANTIZED_HUFFMAN, Encoding.encodeQuantized(q, m).getKey());
        byte[] h = QuantizedCoding.encode(q, m);
        assertThrows(IllegalStateException.class, () -> QuantizedCoding.decode(Arrays.copyOf(h, 20), w.length, true));
        assertThrows(IllegalStateException.class, () -> QuantizedCoding.decode(h, w.length + 1, true));
        byte[] fmt = h.clone();
        fmt[1] = 77;
        assertThrows(IllegalStateException.class, () -> QuantizedCoding.decode(fmt, w.length, true));
        assertNull(QuantizedCoding.encode(io.squeeze.quantize.QuantizedTensor.quantize(w, new long[]{300, 100},
                io.squeeze.quantize.QuantizedTensor.Format.FP16, false, -1), null), "fp16 stays DEFLATEd");
    }

    /** The DEFLATE encoding alone, as written before Huffman coding existed. */
    private static byte[] encodeDeflate(io.squeeze.quantize.QuantizedTensor q, Mask mask) {
        return Encoding.deflateQuantized(q, mask).getValue();
    }

    /**
     * A layer whose outputs (columns) each keep a run of inputs (rows) codes its positions column by column, smaller
     * than row by row; it decodes exactly, a version-1 stream (row order) still decodes, and a column
     * count that does not divide the tensor is refused.
     */
    @Test
    void positionsGoColumnByColumnWhenThatIsSmallerAndVersionOneStillReads() {
        int rows = 784, cols = 300;
        Random r = new Random(13);
        float[] book = {-0.4f, -0.2f, 0.1f, 0.3f};
        float[] v = new float[rows * cols];
        boolean[] keep = new boolean[v.length];
        for (int j = 0; j < cols; j++) {
            int from = r.nextInt(rows - 40); // each output keeps a run of inputs: runs down the columns
            for (int i = from; i < from + 40; i++) {
                int k = i * cols + j;
                keep[k] = r.nextDouble() < 0.8;
                v[k] = keep[k] ? book[r.nextInt(4)] : 0f;
            }
        }
        Mask m = Mask.of(keep);
        byte[] byRow = CodebookCoding.encode(v, m), byColumn = CodebookCoding.encode(v, m, rows);
        int at = 1 + 1 + 4 * book.length; // version, K, the codebook: then the byte of R and the order
        assertEquals(0, byRow[at] & 0x80, "row order without the shape");
        assertEquals(0x80, byColumn[at] & 0x80, "column order chosen");
        assertTrue(byColumn.length < byRow.length, byColumn.length + " vs " + byRow.length);
        for (byte[] b : new byte[][]{byRow, byColumn}) {
            Encoding.Tensor t = Encoding.SPARSE_CODEBOOK_HUFFMAN.decode(b, v.length);
            assertArrayEquals(v, t.values());
            assertEquals(m, t.mask());
        }
        byte[] v1 = byRow.clone();
        v1[0] = 1;
        assertArrayEquals(v, Encoding.SPARSE_CODEBOOK_HUFFMAN.decode(v1, v.length).values(), "a version-1 stream");
        assertThrows(IllegalStateException.class, () -> Encoding.SPARSE_CODEBOOK_HUFFMAN.decode(byColumn, v.length - 1), "rows do not divide");
    }
}
