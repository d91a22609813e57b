package io.squeeze.spark;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import static org.junit.jupiter.api.Assertions.*;

/** A cached minibatch gives back the arrays it was made of; the dropout seed's hash reads values, not layouts. */
public class TrainingBatchTest {

    @Test
    void aCachedMinibatchGivesBackItsArrays() {
        Nd4j.getRandom().setSeed(1);
        INDArray x = Nd4j.rand(DataType.FLOAT, 3, 1, 4, 5);
        INDArray y = Nd4j.rand(DataType.FLOAT, 3, 10);
        INDArray xf = x.dup('f'); // an 'f' array is stored in C order
        DataSet back = TrainingBatch.of(new DataSet(xf, y)).dataSet();
        assertEquals(x, back.getFeatures());
        assertArrayEquals(new long[]{3, 1, 4, 5}, back.getFeatures().shape());
        assertEquals('c', back.getFeatures().ordering());
        assertEquals(y, back.getLabels());
        assertNull(back.getFeaturesMaskArray());
    }

    @Test
    void aWorkersMinibatchesGoIntoItsKeptArraysOnePerShape() {
        Nd4j.getRandom().setSeed(3);
        var kept = new io.squeeze.model.NdRows.Buffers();
        TrainingBatch a = TrainingBatch.of(new DataSet(Nd4j.rand(DataType.FLOAT, 4, 6), Nd4j.rand(DataType.FLOAT, 4, 3)));
        TrainingBatch b = TrainingBatch.of(new DataSet(Nd4j.rand(DataType.FLOAT, 4, 6), Nd4j.rand(DataType.FLOAT, 4, 3)));
        TrainingBatch last = TrainingBatch.of(new DataSet(Nd4j.rand(DataType.FLOAT, 2, 6), Nd4j.rand(DataType.FLOAT, 2, 3)));
        DataSet da = a.dataSet(kept);
        assertEquals(a.dataSet(), da);
        INDArray features = da.getFeatures(), labels = da.getLabels();
        DataSet db = b.dataSet(kept);
        assertSame(features, db.getFeatures(), "the next minibatch overwrites the same array");
        assertSame(labels, db.getLabels());
        assertEquals(b.dataSet().getFeatures(), features);
        assertEquals(b.dataSet().getLabels(), labels);
        DataSet dl = last.dataSet(kept);
        assertEquals(last.dataSet(), dl, "a shorter minibatch gets an array of its shape");
        assertNotSame(features, dl.getFeatures());
        var multi = TrainingBatch.of(new org.nd4j.linalg.dataset.MultiDataSet(new INDArray[]{a.dataSet().getFeatures(), b.dataSet().getFeatures()},
                new INDArray[]{a.dataSet().getLabels()}));
        var m = multi.multi(kept);
        assertEquals(a.dataSet().getFeatures(), m.getFeatures(0));
        assertEquals(b.dataSet().getFeatures(), m.getFeatures(1), "each input its own array");
        assertNotSame(m.getFeatures(0), m.getFeatures(1));
        assertNull(m.getFeaturesMaskArrays());
    }

    @Test
    void theHashIsOfTheValuesWhateverTheLayout() {
        Nd4j.getRandom().setSeed(2);
        INDArray big = Nd4j.rand(DataType.FLOAT, 6, 8);
        INDArray rows = big.get(NDArrayIndex.interval(2, 5), NDArrayIndex.all()); // a view at offset 16
        assertEquals(16, rows.offset());
        long h = DropoutSeedHook.hash(rows.dup());
        assertEquals(h, DropoutSeedHook.hash(rows));
        assertEquals(h, DropoutSeedHook.hash(rows.dup('f')));
        assertEquals(h, DropoutSeedHook.hash(rows.castTo(DataType.DOUBLE)), "a double array hashes its float values");
        // the hash as defined: 31-fold over the float bits in C order
        long expect = 1125899906842597L;
        for (float v : rows.dup('c').data().asFloat()) expect = 31 * expect + Float.floatToRawIntBits(v);
        assertEquals(expect, h);
        INDArray other = rows.dup();
        other.putScalar(2, 7, other.getFloat(2, 7) + 1f);
        assertNotEquals(h, DropoutSeedHook.hash(other));
        // lengths around its four-value steps and its 4096-value blocks, negative values (sign-extended bits), at an offset
        for (int n : new int[]{0, 1, 3, 4, 5, 7, 4095, 4096, 4097, 9001}) {
            INDArray whole = Nd4j.rand(DataType.FLOAT, 1, n + 5).subi(0.5);
            INDArray view = whole.get(NDArrayIndex.point(0), NDArrayIndex.interval(5, n + 5));
            long e = 1125899906842597L;
            for (float v : view.dup('c').data().asFloat()) e = 31 * e + Float.floatToRawIntBits(v);
            assertEquals(e, DropoutSeedHook.hash(view), "length " + n);
        }
    }
}
