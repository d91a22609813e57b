package io.squeeze.model;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Arrays;

/**
 * A dense layer's product x·W + b with W held sparse, for unstructured-pruned weights (Han et al. 2015, "Learning both
 * Weights and Connections for Efficient Neural Networks"): the non-zeros of W [nIn, nOut] in compressed sparse
 * column form (CSC: for each output j, the inputs i with W[i, j] ≠ 0 and their values), and the batch held
 * transposed — one {@code float[rows]} per feature — so that each output column is a sum of scaled input columns:
 * {@code out[:, j] = b[j] + Σ_k W[i_k, j] · x[:, i_k]}. The inner loop is an AXPY over the batch on arrays of their
 * own, which HotSpot's C2 compiles to AVX2 vector code; four non-zeros are taken per pass so that the output column
 * is loaded and stored once per four products (on this repository's 2-core AMD EPYC, AVX2: 12–15 GFLOP/s of
 * non-zero work at batch 256, against 6 with one non-zero per pass and 1.7 when the two columns share one array at
 * different offsets, which C2 does not vectorize).
 *
 * <p>The work is 2·rows·nnz flops against SGEMM's 2·rows·nIn·nOut, so it pays only below a density where that
 * ratio beats SGEMM's higher rate; {@link #MAX_DENSITY} is that crossover as measured by {@code jobs/bench deploy}
 * (docs/BENCHMARKS.md). Sums are taken in a different order than SGEMM's, so results equal the dense product to float
 * rounding, not bit for bit. Not thread-safe: it keeps its transposed buffers across batches (one per runtime).
 */
public final class SparseDense {
    /**
     * The largest fraction of non-zero weights at which this kernel is used instead of SGEMM: at batch 256 on one
     * thread it measured faster than ND4J's SGEMM up to about 0.35 on 784×300 and 1024×1024 layers (docs/BENCHMARKS.md,
     * {@code deploy.sparse_layer}), so 0.25 keeps a margin.
     */
    public static final double MAX_DENSITY = 0.25;

    private final int nIn, nOut;
    private final int[] colStart, rowIndex;
    private final float[] values, bias;
    private float[][] in = new float[0][], out = new float[0][];

    private SparseDense(int nIn, int nOut, int[] colStart, int[] rowIndex, float[] values, float[] bias) {
        this.nIn = nIn;
        this.nOut = nOut;
        this.colStart = colStart;
        this.rowIndex = rowIndex;
        this.values = values;
        this.bias = bias;
    }

    /** The CSC form of {@code w} [nIn, nOut] (float) and its bias {@code b} [1, nOut] (null: none). */
    public static SparseDense of(INDArray w, INDArray b) {
        return build(w, b, 1.0);
    }

    /** {@link #of}, or null when more than {@link #MAX_DENSITY} of {@code w} is non-zero (SGEMM is faster then). */
    public static SparseDense ifSparse(INDArray w, INDArray b) {
        return build(w, b, MAX_DENSITY);
    }

    private static SparseDense build(INDArray w, INDArray b, double maxDensity) {
        int nIn = (int) w.rows(), nOut = (int) w.columns();
        float[] v = NdRows.toRowMajor(w.castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT));
        int nnz = 0;
        for (float f : v) if (f != 0f) nnz++;
        if (nnz > maxDensity * v.length) return null;
        int[] colStart = new int[nOut + 1], rowIndex = new int[nnz];
        float[] values = new float[nnz];
        int k = 0;
        for (int j = 0; j < nOut; j++) {
            for (int i = 0; i < nIn; i++) {
                float f = v[i * nOut + j];
                if (f != 0f) {
                    rowIndex[k] = i;
                    values[k++] = f;
                }
            }
            colStart[j + 1] = k;
        }
        float[] bias = b == null ? new float[nOut] : NdRows.toRowMajor(b.reshape(1, nOut).castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT));
        return new SparseDense(nIn, nOut, colStart, rowIndex, values, bias);
    }

    /** The fraction of W's entries that are non-zero. */
    public double density() {
        return nIn * nOut == 0 ? 0 : (double) values.length / ((long) nIn * nOut);
    }

    public int nonZeros() {
        return values.length;
    }

    /**
     * x·W + b for {@code x} [rows, nIn] (any order), written into {@code target}, a contiguous F-order float
     * [rows, nOut] array, which is returned.
     */
    public INDArray multiply(INDArray x, INDArray target) {
        int rows = (int) x.rows();
        if (x.columns() != nIn) throw new IllegalArgumentException("input has " + x.columns() + " columns, the layer takes " + nIn);
        if (target.ordering() != 'f' || target.isView() || target.rows() != rows || target.columns() != nOut)
            throw new IllegalArgumentException("target must be a contiguous F-order [" + rows + ", " + nOut + "] array");
        transposeIn(x, rows);
        multiply(rows);
        var fb = target.data().asNioFloat();
        for (int j = 0; j < nOut; j++) fb.put(j * rows, out[j], 0, rows);
        return target;
    }

    /** Fills {@link #in} with the columns of {@code x}. */
    private void transposeIn(INDArray x, int rows) {
        if (in.length != nIn || in.length > 0 && in[0].length < rows) in = new float[nIn][rows];
        if (out.length != nOut || out.length > 0 && out[0].length < rows) out = new float[nOut][rows];
        boolean plain = x.dataType() == org.nd4j.linalg.api.buffer.DataType.FLOAT && !x.isView() && x.offset() == 0;
        if (plain && x.ordering() == 'f') {
            var fb = x.data().asNioFloat();
            for (int i = 0; i < nIn; i++) fb.get(i * rows, in[i], 0, rows);
            return;
        }
        float[] rowMajor = NdRows.toRowMajor(x);
        for (int r = 0; r < rows; r++) {
            int base = r * nIn;
            for (int i = 0; i < nIn; i++) in[i][r] = rowMajor[base + i];
        }
    }

    /** out[j][0, rows) = bias[j] + Σ_k values[k]·in[rowIndex[k]][0, rows), four non-zeros per pass. */
    private void multiply(int rows) {
        for (int j = 0; j < nOut; j++) {
            float[] o = out[j];
            Arrays.fill(o, 0, rows, bias[j]);
            int k = colStart[j], end = colStart[j + 1];
            for (; k + 3 < end; k += 4)
                axpy4(o, in[rowIndex[k]], values[k], in[rowIndex[k + 1]], values[k + 1],
                        in[rowIndex[k + 2]], values[k + 2], in[rowIndex[k + 3]], values[k + 3], rows);
            for (; k < end; k++) axpy(o, in[rowIndex[k]], values[k], rows);
        }
    }

    private static void axpy4(float[] o, float[] a, float wa, float[] b, float wb, float[] c, float wc, float[] d, float wd, int n) {
        for (int r = 0; r < n; r++) o[r] += (wa * a[r] + wb * b[r]) + (wc * c[r] + wd * d[r]);
    }

    private static void axpy(float[] o, float[] a, float w, int n) {
        for (int r = 0; r < n; r++) o[r] += w * a[r];
    }
}
