package io.squeeze.lowrank;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.Random;

/**
 * Truncated singular value decompositions of a dense matrix, in double precision through LAPACK (ND4J's OpenBLAS).
 *
 * <p>{@link #exact}: the eigendecomposition of the Gram matrix of the taller orientation (LAPACK syev), O(mn·min(m,n)),
 * no full m×m factor formed. By Eckart–Young its rank-k truncation is the best rank-k approximation in Frobenius
 * norm, with error √(Σ_{i>k} σᵢ²).
 *
 * <p>{@link #randomized}: Halko, Martinsson and Tropp, "Finding structure with randomness" (SIAM Review 2011),
 * Algorithms 4.4 and 5.1, as {@code torch.svd_lowrank}: a Gaussian test matrix of k + p columns (seeded), q power
 * iterations re-orthonormalised by QR each step, then the exact SVD of the small projected matrix.
 */
public final class Svd {
    private Svd() {}

    /**
     * {@code A ≈ U diag(s) Vt}.
     *
     * @param u  [m, k]
     * @param s  [k], descending
     * @param vt [k, n]
     */
    public record Factors(INDArray u, double[] s, INDArray vt) {
        public int rank() {
            return s.length;
        }

        public Factors truncate(int k) {
            if (k > s.length) throw new IllegalArgumentException("rank " + k + " exceeds the " + s.length + " computed");
            return new Factors(u.get(NDArrayIndex.all(), NDArrayIndex.interval(0, k)).dup('c'), java.util.Arrays.copyOf(s, k),
                    vt.get(NDArrayIndex.interval(0, k), NDArrayIndex.all()).dup('c'));
        }

        public INDArray reconstruct() {
            return u.mulRowVector(Nd4j.createFromArray(s)).mmul(vt);
        }
    }

    public static INDArray matrix(float[] a, int m, int n) {
        return Nd4j.create(a, new long[]{m, n}, 'c').castTo(DataType.DOUBLE);
    }

    /** op(a)·b into a new column-major [rows, cols] array (what LAPACK takes; ND4J's row-major results cost a copy). */
    private static INDArray product(INDArray a, boolean transposeA, INDArray b, int rows, int cols) {
        INDArray c = Nd4j.createUninitialized(a.dataType(), new long[]{rows, cols}, 'f');
        Nd4j.gemm(a, b.castTo(a.dataType()), c, transposeA, false, 1.0, 0.0);
        return c;
    }

    /** Q of the thin QR of a tall (m ≥ n) {@code y}, a column-major array overwritten in place. */
    static INDArray orthonormalize(INDArray y) {
        Nd4j.getBlasWrapper().lapack().geqrf(y, Nd4j.create(y.dataType(), new long[]{y.columns(), y.columns()}, 'f'));
        return y;
    }

    /**
     * The thin SVD of any m×n matrix (min(m, n) components) from the symmetric eigendecomposition of its Gram
     * matrix: for the taller orientation t, tᵀt = V Σ² Vᵀ (LAPACK syev) and U = t V Σ⁻¹. ND4J 1.0.0-M2's syev is
     * about ten times faster than its gesvd; the squared condition number only affects singular values near
     * √ε·σ₁, far below any rank worth keeping, and t − UΣVᵀ = t(I − VVᵀ) stays at round-off whatever they are.
     */
    public static Factors exact(INDArray a) {
        boolean wide = a.rows() < a.columns();
        INDArray t = wide ? a.transpose().dup('c') : a;
        int n = t.columns();
        INDArray g = t.transpose().mmul(t).dup('f');
        INDArray w = Nd4j.create(DataType.DOUBLE, n);
        int info = Nd4j.getBlasWrapper().lapack().syev('V', 'U', g, w);
        if (info != 0) throw new IllegalStateException("LAPACK syev failed, info = " + info);
        long[] desc = new long[n];
        double[] s = new double[n];
        for (int j = 0; j < n; j++) {
            desc[j] = n - 1 - j;
            s[j] = Math.sqrt(Math.max(w.getDouble(n - 1 - j), 0));
        }
        INDArray v = g.get(NDArrayIndex.all(), NDArrayIndex.indices(desc)).dup('c');
        double[] inv = new double[n];
        for (int j = 0; j < n; j++) inv[j] = s[j] > s[0] * 1e-15 ? 1 / s[j] : 0;
        INDArray u = t.mmul(v).mulRowVector(Nd4j.createFromArray(inv)).dup('c');
        if (!wide) return new Factors(u, s, v.transpose().dup('c'));
        return new Factors(v, s, u.transpose().dup('c')); // a = tᵀ = V Σ Uᵀ
    }

    /** Singular values only (descending). */
    public static double[] singularValues(INDArray a) {
        boolean wide = a.rows() < a.columns();
        INDArray t = wide ? a.transpose().dup('c') : a;
        INDArray g = t.transpose().mmul(t).dup('f');
        int n = t.columns();
        INDArray w = Nd4j.create(DataType.DOUBLE, n);
        int info = Nd4j.getBlasWrapper().lapack().syev('N', 'U', g, w);
        if (info != 0) throw new IllegalStateException("LAPACK syev failed, info = " + info);
        double[] s = new double[n];
        for (int j = 0; j < n; j++) s[j] = Math.sqrt(Math.max(w.getDouble(n - 1 - j), 0));
        return s;
    }

    /** Rank-k randomized SVD with oversampling p and q power iterations, seeded. */
    public static Factors randomized(INDArray a, int k, int p, int q, long seed) {
        int m = a.rows(), n = a.columns();
        int l = Math.min(k + p, Math.min(m, n));
        Random r = new Random(seed);
        double[] g = new double[n * l];
        for (int i = 0; i < g.length; i++) g[i] = r.nextGaussian();
        INDArray omega = Nd4j.create(g, new long[]{n, l}, 'c');
        INDArray qm = orthonormalize(product(a, false, omega, m, l));
        for (int i = 0; i < q; i++) {
            INDArray z = orthonormalize(product(a, true, qm, n, l));
            qm = orthonormalize(product(a, false, z, m, l));
        }
        INDArray b = qm.transpose().mmul(a);          // [l, n]
        Factors fb = exact(b);                         // b = Ub S Vt, l components
        return new Factors(qm.mmul(fb.u()).dup('c'), fb.s(), fb.vt()).truncate(Math.min(k, fb.rank()));
    }

    /** ‖A − U S Vt‖_F. */
    public static double frobeniusError(INDArray a, Factors f) {
        return a.sub(f.reconstruct()).norm2Number().doubleValue();
    }

    /** Eckart–Young: the best rank-k Frobenius error from all singular values. */
    public static double optimalError(double[] s, int k) {
        double e = 0;
        for (int i = k; i < s.length; i++) e += s[i] * s[i];
        return Math.sqrt(e);
    }
}
