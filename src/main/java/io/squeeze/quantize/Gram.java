package io.squeeze.quantize;

import io.squeeze.core.Bytes;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The Gram matrix {@code XᵀX} of one layer's inputs over the calibration rows (X: one row per example for a dense
 * layer, one im2col patch row per output position for a convolution), with the number of rows — the layer-wise
 * Hessian {@code 2XᵀX} of the squared output error that {@link Gptq} rounds against, as a mergeable value
 * ({@code update / merge / toBytes}). Each batch is multiplied in double precision (ND4J's dgemm) and added in
 * double, so partitions merge to the single-process sum up to the order of double additions (≈1e-16 relative).
 * Memory: k² doubles (4.9 MB for a 784-input layer), independent of the number of rows.
 */
public final class Gram {
    private static final int VERSION = 1;
    private final int k;
    private final double[] g;
    private long rows;

    public Gram(int k) {
        if (k <= 0) throw new IllegalArgumentException("a Gram matrix needs at least one column, got " + k);
        this.k = k;
        this.g = new double[k * k];
    }

    public int columns() {
        return k;
    }

    public long rows() {
        return rows;
    }

    /** Entry (i, j) of the accumulated XᵀX. */
    public double get(int i, int j) {
        return g[i * k + j];
    }

    /** Adds {@code n} rows of {@code k} values (C order). */
    public Gram update(float[] x, int n) {
        if ((long) n * k != x.length) throw new IllegalArgumentException("expected " + n + "×" + k + " values, got " + x.length);
        if (n == 0) return this;
        double[] d = new double[x.length];
        for (int i = 0; i < d.length; i++) d[i] = x[i];
        INDArray m = Nd4j.create(d, new long[]{n, k}, 'c');
        double[] p = m.transpose().mmul(m).dup('c').data().asDouble();
        for (int i = 0; i < g.length; i++) g[i] += p[i];
        rows += n;
        return this;
    }

    public Gram merge(Gram o) {
        if (o.k != k) throw new IllegalArgumentException("cannot merge Gram matrices of " + k + " and " + o.k + " columns");
        for (int i = 0; i < g.length; i++) g[i] += o.g[i];
        rows += o.rows;
        return this;
    }

    public byte[] toBytes() {
        return Bytes.write(out -> {
            out.writeByte(VERSION);
            out.writeInt(k);
            out.writeLong(rows);
            for (double v : g) out.writeDouble(v);
        });
    }

    public static Gram fromBytes(byte[] b) {
        return Bytes.read(b, in -> {
            int v = in.readByte();
            if (v != VERSION) throw new IllegalStateException("Gram bytes of version " + v + ", this Squeeze reads " + VERSION);
            Gram r = new Gram(in.readInt());
            r.rows = in.readLong();
            for (int i = 0; i < r.g.length; i++) r.g[i] = in.readDouble();
            return r;
        });
    }
}
