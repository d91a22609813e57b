package io.squeeze.data;

import io.squeeze.core.BadInputException;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Iterator;

import static org.junit.jupiter.api.Assertions.*;

class TextRecordsTest {
    @Test
    void csvRow() {
        Example e = TextRecords.csv(new String[]{"1.5", " -2", "0", "7"}, 4, "csv:x");
        assertArrayEquals(new float[]{1.5f, -2f, 0f}, e.features());
        assertEquals(7, e.label());
        assertEquals(4, e.id());
        assertEquals(3, TextRecords.csv(new String[]{"1", "3.0"}, 0, "w").label());
    }

    @Test
    void csvErrorsNameRowAndValue() {
        var e = assertThrows(BadInputException.class, () -> TextRecords.csv(new String[]{"1", "abc", "2"}, 9, "csv:d"));
        assertEquals("csv:d row 9 feature 1: 'abc' is not a number", e.getMessage());
        e = assertThrows(BadInputException.class, () -> TextRecords.csv(new String[]{"NaN", "2"}, 3, "csv:d"));
        assertEquals("csv:d row 3 feature 0 is NaN (features must be finite)", e.getMessage());
        e = assertThrows(BadInputException.class, () -> TextRecords.csv(new String[]{"1", "Infinity", "2"}, 3, "csv:d"));
        assertTrue(e.getMessage().contains("Infinity"));
        e = assertThrows(BadInputException.class, () -> TextRecords.csv(new String[]{"1", "2.5"}, 1, "csv:d"));
        assertEquals("csv:d row 1: label 2.5 is not a class index (a non-negative integer)", e.getMessage());
        assertThrows(BadInputException.class, () -> TextRecords.csv(new String[]{"1", "-1"}, 1, "csv:d"));
        assertThrows(BadInputException.class, () -> TextRecords.csv(new String[]{"1"}, 1, "csv:d"));
    }

    @Test
    void libsvmRow() {
        TextRecords.SparseRow r = TextRecords.libsvm("2 1:0.5 4:-1  7:3", 5, "libsvm:x");
        assertEquals(2, r.label());
        assertArrayEquals(new int[]{0, 3, 6}, r.indices());
        assertEquals(6, r.maxIndex());
        assertArrayEquals(new float[]{0.5f, 0, 0, -1, 0, 0, 3, 0}, r.toDense(8, "w").features());
        var e = assertThrows(BadInputException.class, () -> r.toDense(5, "libsvm:x"));
        assertEquals("libsvm:x row 5: feature index 7 is beyond the 5 features expected", e.getMessage());
        assertThrows(BadInputException.class, () -> TextRecords.libsvm("1 3:1 2:1", 0, "w"));
        assertThrows(BadInputException.class, () -> TextRecords.libsvm("1 0:1", 0, "w"));
        assertThrows(BadInputException.class, () -> TextRecords.libsvm("1 a:1", 0, "w"));
        assertThrows(BadInputException.class, () -> TextRecords.libsvm("1 2", 0, "w"));
    }

    static byte[] idx(int magic, int... dimsThenData) throws IOException {
        ByteArrayOutputStream bo = new ByteArrayOutputStream();
        DataOutputStream o = new DataOutputStream(bo);
        o.writeInt(magic);
        int rank = magic & 0xff;
        for (int i = 0; i < rank; i++) o.writeInt(dimsThenData[i]);
        for (int i = rank; i < dimsThenData.length; i++) o.writeByte(dimsThenData[i]);
        return bo.toByteArray();
    }

    @Test
    void idxRowsAndHeaders() throws IOException {
        byte[] img = idx(0x803, 3, 2, 2, 0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0);
        byte[] lab = idx(0x801, 3, 7, 1, 9);
        ByteArrayInputStream a = new ByteArrayInputStream(img), b = new ByteArrayInputStream(lab);
        Idx.Header ih = Idx.header(a, 3, "img"), lh = Idx.header(b, 1, "lab");
        assertEquals(3, ih.count());
        assertEquals(4, ih.itemSize());
        assertEquals(16, ih.byteLength());
        assertEquals(3, lh.count());
        Iterator<Example> it = Idx.rows(a, b, 4, 1, 3, "img");
        Example e1 = it.next();
        assertEquals(1, e1.id());
        assertEquals(1, e1.label());
        assertArrayEquals(new float[]{1 / 255f, 2 / 255f, 3 / 255f, 4 / 255f}, e1.features());
        Example e2 = it.next();
        assertArrayEquals(new float[]{1, 1, 0, 0}, e2.features());
        assertEquals(9, e2.label());
        assertFalse(it.hasNext());
    }

    @Test
    void idxBadInput() throws IOException {
        var e = assertThrows(BadInputException.class, () -> Idx.header(new ByteArrayInputStream(idx(0x801, 3)), 3, "f"));
        assertTrue(e.getMessage().startsWith("f is not an IDX file of rank 3"), e.getMessage());
        e = assertThrows(BadInputException.class, () -> Idx.header(new ByteArrayInputStream(new byte[]{0, 0, 8}), 3, "f"));
        assertEquals("f is truncated: no complete IDX header", e.getMessage());
        byte[] img = idx(0x803, 3, 1, 2, 5, 6, 7);
        ByteArrayInputStream a = new ByteArrayInputStream(img), b = new ByteArrayInputStream(idx(0x801, 3, 1, 2, 3));
        Idx.header(a, 3, "f");
        Idx.header(b, 1, "l");
        Iterator<Example> it = Idx.rows(a, b, 2, 0, 3, "f");
        it.next();
        e = assertThrows(BadInputException.class, it::next);
        assertEquals("f is truncated at row 1", e.getMessage());
    }

    @Test
    void dataSpecParsing() {
        DataSpec s = DataSpec.parse("idx:hdfs://nn/mnist", Split.TEST, false);
        assertEquals(DataFormat.IDX, s.format());
        assertEquals("hdfs://nn/mnist", s.path());
        assertEquals(Split.TEST, s.split());
        assertEquals(DataFormat.PARQUET, DataSpec.parse("parquet:s3a://b/p", null, false).format());
        var e = assertThrows(BadInputException.class, () -> DataSpec.parse("tsv:/x", null, false));
        assertEquals("data 'tsv:/x' must start with one of [idx:, parquet:, csv:, libsvm:]", e.getMessage());
        assertThrows(BadInputException.class, () -> DataSpec.parse("/plain/path", null, false));
        assertThrows(BadInputException.class, () -> DataSpec.parse("csv:", null, false));
    }

    @Test
    void batchesStreamFixedSizes() {
        var rows = java.util.List.of(new Example(0, new float[]{1, 2}, 0), new Example(1, new float[]{3, 4}, 1),
                new Example(2, new float[]{5, 6}, 2)).iterator();
        var it = Batches.of(rows, 2, 2, "w");
        Batches.Batch b1 = it.next();
        assertEquals(2, b1.rows());
        assertArrayEquals(new float[]{1, 2, 3, 4}, b1.features());
        assertArrayEquals(new int[]{0, 1}, b1.labels());
        Batches.Batch b2 = it.next();
        assertEquals(1, b2.rows());
        assertArrayEquals(new float[]{5, 6}, b2.features());
        assertArrayEquals(new long[]{2}, b2.ids());
        assertFalse(it.hasNext());
        var bad = Batches.of(java.util.List.of(new Example(4, new float[]{1}, 0)).iterator(), 2, 2, "csv:z");
        assertEquals("csv:z row 4 has 1 features, expected 2", assertThrows(BadInputException.class, bad::next).getMessage());
    }
}
