package io.squeeze.lowrank;

import io.squeeze.model.Factorization;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The per-layer kernel: singular values of a weight matrix, and its rank-k factors split as
 * {@code A = U_k Σ_k^½}, {@code B = Σ_k^½ V_kᵀ}, with the relative Frobenius error of A·B.
 */
public final class LayerFactors {
    private LayerFactors() {}

    public static double[] singularValues(float[] w, int rows, int cols) {
        return Svd.singularValues(Svd.matrix(w, rows, cols));
    }

    /** Factors and their relative reconstruction error ‖W − AB‖_F / ‖W‖_F. */
    public record Result(Factorization.Factors factors, double relativeError) implements java.io.Serializable {}

    public static Result factor(float[] w, int rows, int cols, int k, SvdMethod m) {
        INDArray a = Svd.matrix(w, rows, cols);
        Svd.Factors f = m.truncated(a, k);
        INDArray root = Nd4j.createFromArray(f.s()).castTo(DataType.DOUBLE);
        root = org.nd4j.linalg.ops.transforms.Transforms.sqrt(root, true);
        INDArray left = f.u().mulRowVector(root), right = f.vt().mulColumnVector(root.reshape(k, 1));
        double norm = a.norm2Number().doubleValue();
        double err = norm == 0 ? 0 : a.sub(left.mmul(right)).norm2Number().doubleValue() / norm;
        return new Result(new Factorization.Factors(left.castTo(DataType.FLOAT).dup('c').data().asFloat(),
                right.castTo(DataType.FLOAT).dup('c').data().asFloat(), k), err);
    }
}
