package io.squeeze.model;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One ND4J custom op that a training kernel runs every step, through one native op context it keeps. ND4J 1.0.0-M2's
 * {@code NativeOpExecutioner.exec(CustomOp)} builds a new {@code CpuOpContext} for every call and copies the op's
 * integer, float and boolean arguments into new native arrays (JavaCPP pointers). The context is registered with
 * ND4J's deallocator and each pointer with JavaCPP's; their bookkeeping survives the next young collection and is
 * copied by it, and {@code CpuOpContext.close()} frees nothing. Here the context is built once and the op's arguments
 * are set in it once; each call sets only its input and output arrays and runs the op with
 * {@code exec(op, context)}, the call ND4J's own {@code exec(CustomOp)} ends in, so the kernel and its results are
 * ND4J's (tested bit for bit through the layers that use it).
 *
 * <p>The op's arguments (not its arrays) are fixed when this is made; one instance serves one call site of one layer,
 * and one thread at a time (a layer's).
 */
final class ReusedOp {
    private final DynamicCustomOp op;
    private final OpContext context;
    private final int inputs;

    /**
     * Keeps {@code op}'s name and arguments, built as ND4J's own code builds it for this call site (its arrays, if any,
     * are dropped); each {@link #run} gives {@code inputs} input arrays and one output array.
     */
    ReusedOp(DynamicCustomOp op, int inputs) {
        this.op = op;
        this.inputs = inputs;
        this.context = Nd4j.getExecutioner().buildContext();
        context.markInplace(false);
        if (op.bArgs().length > 0) context.setBArguments(op.bArgs());
        if (op.iArgs().length > 0) context.setIArguments(op.iArgs());
        if (op.tArgs().length > 0) context.setTArguments(op.tArgs());
        if (op.dArgs().length > 0) context.setDArguments(op.dArgs());
        op.clearArrays();
    }

    /** ND4J's matrix product {@code out = a·b} (each optionally transposed), as {@code Mmul} with alpha 1 and beta 0. */
    static ReusedOp matmul(boolean transposeA, boolean transposeB) {
        return new ReusedOp(DynamicCustomOp.builder("matmul").addIntegerArguments(transposeA ? 1 : 0, transposeB ? 1 : 0, 0)
                .addFloatingPointArguments(1.0, 0.0).build(), 2);
    }

    /** ND4J's broadcasting {@code add}: {@code out = a + b}. */
    static ReusedOp add() {
        return new ReusedOp(DynamicCustomOp.builder("add").build(), 2);
    }

    /** ND4J's {@code reduce_sum} over dimension 0, dimensions kept: {@code out = Σ_rows a}. */
    static ReusedOp sumRows() {
        return new ReusedOp(DynamicCustomOp.builder("reduce_sum").addIntegerArguments(0).addBooleanArguments(true).build(), 1);
    }

    /** Runs the op on {@code in} (as many arrays as this op takes) into {@code out}; returns {@code out}. */
    INDArray run(INDArray out, INDArray... in) {
        if (in.length != inputs) throw new IllegalArgumentException(op.opName() + " takes " + inputs + " inputs, got " + in.length);
        for (int i = 0; i < in.length; i++) context.setInputArray(i, in[i]);
        context.setOutputArray(0, out);
        Nd4j.getExecutioner().exec(op, context);
        return out;
    }
}
