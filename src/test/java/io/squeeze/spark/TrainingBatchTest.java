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
    }
}
