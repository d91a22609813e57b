package io.squeeze.model;

import io.squeeze.TestModels;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class SparseDenseTest {
    /** A [nIn, nOut] float matrix with about {@code density} of its entries non-zero (seeded), column {@code emptyCol} all zero. */
    private static INDArray sparse(int nIn, int nOut, double density, int emptyCol, long seed) {
        Random r = new Random(seed);
        float[] v = new float[nIn * nOut];
        for (int i = 0; i < nIn; i++)
            for (int j = 0; j < nOut; j++) if (j != emptyCol && r.nextDouble() < density) v[i * nOut + j] = (float) r.nextGaussian();
        return Nd4j.create(v, new long[]{nIn, nOut}, 'c');
    }

    @Test
    void equalsTheDenseProductForEveryBatchShapeOrderAndTail() {
        INDArray w = sparse(37, 13, 0.2, 5, 1), b = Nd4j.rand(DataType.FLOAT, 1, 13);
        SparseDense k = SparseDense.of(w, b);
        assertEquals(w.neq(0).castTo(DataType.INT32).sumNumber().intValue(), k.nonZeros());
        assertEquals(k.nonZeros() / (37.0 * 13), k.density(), 1e-12);
        assertEquals(k.nonZeros(), SparseDense.ifSparse(w, b).nonZeros(), "about 20 % non-zero: the kernel takes it");
        assertNull(SparseDense.ifSparse(sparse(37, 13, 0.5, -1, 9), b), "about 50 % non-zero: SGEMM");
        for (int rows : new int[]{1, 3, 256, 5}) { // buffers grow and are reused for a smaller batch
            Nd4j.getRandom().setSeed(rows);
            INDArray x = Nd4j.randn(DataType.FLOAT, rows, 37);
            INDArray expected = x.mmul(w).addiRowVector(b);
            for (INDArray in : new INDArray[]{x, x.dup('f'), x.transpose().transpose()}) {
                INDArray got = k.multiply(in, Nd4j.createUninitialized(DataType.FLOAT, new long[]{rows, 13}, 'f'));
                assertTrue(expected.equalsWithEps(got, 1e-5), () -> rows + " rows, " + in.ordering() + ": " + expected + " vs " + got);
                for (int r = 0; r < rows; r++) assertEquals(b.getFloat(0, 5), got.getFloat(r, 5), "the empty column is its bias");
            }
        }
        INDArray x = Nd4j.randn(DataType.FLOAT, 4, 37);
        INDArray noBias = SparseDense.of(w, null).multiply(x, Nd4j.createUninitialized(DataType.FLOAT, new long[]{4, 13}, 'f'));
        assertTrue(x.mmul(w).equalsWithEps(noBias, 1e-5));
        INDArray zero = SparseDense.of(Nd4j.zeros(DataType.FLOAT, 37, 13), b).multiply(x, Nd4j.createUninitialized(DataType.FLOAT, new long[]{4, 13}, 'f'));
        assertEquals(b.broadcast(4, 13), zero, "no non-zeros: every row is the bias");
        assertThrows(IllegalArgumentException.class, () -> k.multiply(x, Nd4j.create(DataType.FLOAT, new long[]{4, 13}, 'c')));
        assertThrows(IllegalArgumentException.class, () -> k.multiply(Nd4j.randn(DataType.FLOAT, 4, 36), Nd4j.create(DataType.FLOAT, new long[]{4, 13}, 'f')));
    }

    @Test
    void denseRuntimeRunsPrunedLayersSparseAndAgreesWithDl4j() {
        MultiLayerNetwork net = TestModels.mlp(60, new int[]{40, 20}, 10, 7);
        INDArray w0 = net.getLayer(0).getParam("W"), w1 = net.getLayer(1).getParam("W");
        w0.muli(sparse(60, 40, 0.1, -1, 2).neq(0).castTo(DataType.FLOAT)); // 90 % zeros: sparse kernel
        w1.muli(sparse(40, 20, 0.5, -1, 3).neq(0).castTo(DataType.FLOAT)); // 50 %: stays an SGEMM
        DenseRuntime rt = DenseRuntime.of(net).orElseThrow();
        assertEquals(60 * 40 / (60.0 * 40 + 40 * 20 + 20 * 10), rt.sparseShare(), 1e-12, "only the first layer is sparse");
        assertEquals(0.0, DenseRuntime.of(net, false).orElseThrow().sparseShare());
        for (int rows : new int[]{256, 9}) {
            Nd4j.getRandom().setSeed(rows);
            INDArray x = Nd4j.randn(DataType.FLOAT, rows, 60);
            INDArray expected = net.output(x.dup(), false);
            assertTrue(expected.equalsWithEps(rt.output(x), 1e-5));
            float[] rowMajor = x.dup('c').data().asFloat();
            assertArrayEquals(Logits.of(net, rowMajor, rows, 60), rt.logits(rowMajor, rows, 60), 1e-4f);
        }
    }
}
