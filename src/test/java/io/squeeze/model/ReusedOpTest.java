package io.squeeze.model;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import static org.junit.jupiter.api.Assertions.*;

/** An ND4J custom op run through one kept native op context gives ND4J's own results, and builds no context a call. */
class ReusedOpTest {
    @Test
    void productsSumsAndBroadcastsAreNd4jsBitForBit() {
        Nd4j.getRandom().setSeed(11);
        INDArray a = Nd4j.randn(DataType.FLOAT, 33, 70), b = Nd4j.randn(DataType.FLOAT, 70, 19), row = Nd4j.randn(DataType.FLOAT, 1, 19);
        ReusedOp product = ReusedOp.matmul(false, false), transposedA = ReusedOp.matmul(true, false), add = ReusedOp.add(), sum = ReusedOp.sumRows();
        for (int call = 0; call < 3; call++) { // the same context, called again on new arrays
            INDArray x = a.mul(call + 1), f = Nd4j.createUninitialized(DataType.FLOAT, new long[]{33, 19}, 'f');
            INDArray want = Nd4j.createUninitialized(DataType.FLOAT, new long[]{33, 19}, 'c');
            x.mmuli(b, want);
            assertArrayEquals(StepReluTest.bits(want), StepReluTest.bits(product.run(f, x, b)), "x·b, call " + call);
            INDArray g = Nd4j.create(DataType.FLOAT, 70, 19), gw = Nd4j.create(DataType.FLOAT, 70, 19);
            Nd4j.gemm(x, want, gw, true, false, 1.0, 0.0);
            assertArrayEquals(StepReluTest.bits(gw), StepReluTest.bits(transposedA.run(g, x, want)), "xᵀ·(x·b), call " + call);
            INDArray plus = want.dup(), wantPlus = want.dup().addi(row);
            assertArrayEquals(StepReluTest.bits(wantPlus), StepReluTest.bits(add.run(plus, plus, row)), "a broadcast row, in place");
            INDArray s = Nd4j.create(DataType.FLOAT, 1, 19);
            assertArrayEquals(StepReluTest.bits(want.sum(true, 0)), StepReluTest.bits(sum.run(s, want)), "column sums");
        }
        var e = assertThrows(IllegalArgumentException.class, () -> sum.run(Nd4j.create(DataType.FLOAT, 1, 19), a, b));
        assertEquals("reduce_sum takes 1 inputs, got 2", e.getMessage());
    }

    @Test
    void aCallBuildsNoOpContext() throws Exception {
        INDArray a = Nd4j.rand(DataType.FLOAT, 8, 5), b = Nd4j.rand(DataType.FLOAT, 5, 4), out = Nd4j.create(DataType.FLOAT, new long[]{8, 4}, 'f');
        ReusedOp product = ReusedOp.matmul(false, false);
        product.run(out, a, b);
        var counting = new DenseForwardOnceTest.CountingDeallocator();
        Object before = DenseForwardOnceTest.CountingDeallocator.swapIn(counting);
        try {
            assertEquals(0, counting.count(() -> {
                for (int i = 0; i < 10; i++) product.run(out, a, b);
            }), "nothing registered for deallocation in 10 calls");
            counting.count(() -> Nd4j.gemm(a, b, out, false, false, 1.0, 0.0));
            assertEquals(1, counting.contexts(), "ND4J's own call builds one");
        } finally {
            DenseForwardOnceTest.CountingDeallocator.swapIn(before);
        }
    }
}
