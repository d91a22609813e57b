package io.squeeze.quantize;

import io.squeeze.model.NdRows;
import io.squeeze.model.NetOps;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The arithmetic of the quantized runtime on plain arrays: float GEMM (through ND4J), an integer GEMM with int32
 * accumulation, im2col for convolutions (float and integer), max pooling and activations. Tensors are batches of
 * rows in C order; images are [rows, c, h, w].
 */
public final class Kernels {
    private Kernels() {}

    /**
     * x [m, k] · w (an ND4J [k, n] matrix, reused across batches), into a C-order result; the operand and result
     * arrays are {@code buffers}' slots for {@code layer}.
     */
    public static float[] gemm(float[] x, int m, int k, INDArray w, NdRows.Buffers buffers, int layer) {
        INDArray a = NdRows.fill(buffers.get("x" + layer, DataType.FLOAT, m, k, 'c'), x);
        // a column-major result: ND4J computes a row-major one column-major and copies it across
        INDArray c = buffers.get("y" + layer, DataType.FLOAT, m, w.size(1), 'f');
        Nd4j.gemm(a, w, c, false, false, 1.0, 0.0);
        return NdRows.toRowMajor(c);
    }

    /**
     * x [m, k] · w [k, n] with int32 accumulation, as an int8 runtime computes it ({@code x} and {@code w} already
     * have their zero points subtracted). Rows of zeros in {@code x} (common after ReLU) are skipped.
     */
    public static int[] gemm(int[] x, int m, int k, int[] w, int n) {
        int[] c = new int[m * n];
        for (int i = 0; i < m; i++) {
            int ci = i * n, xi = i * k;
            for (int p = 0; p < k; p++) {
                int a = x[xi + p];
                if (a == 0) continue;
                int wp = p * n;
                for (int j = 0; j < n; j++) c[ci + j] += a * w[wp + j];
            }
        }
        return c;
    }

    /** W [out, in·kh·kw] as [in·kh·kw, out] (the GEMM's right operand). */
    public static float[] transpose(float[] w, int rows, int cols) {
        float[] t = new float[w.length];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
        return t;
    }

    public static int[] transpose(int[] w, int rows, int cols) {
        int[] t = new int[w.length];
        for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
        return t;
    }

    /** Output geometry of a convolution or pooling window over an h×w input: {oh, ow, padTop, padLeft}. */
    public static int[] geometry(int h, int w, int kh, int kw, int sh, int sw, int ph, int pw, boolean same) {
        int[] y = NetOps.window(h, kh, sh, ph, same), x = NetOps.window(w, kw, sw, pw, same);
        return new int[]{y[0], x[0], y[1], x[1]};
    }

    /**
     * The source index of every im2col entry — patches [rows·oh·ow, c·kh·kw] of images [rows, c, h, w] — or -1 where
     * the window lies outside the image (padding). Float and integer paths gather with the same map.
     */
    static int[] im2colIndex(int rows, int c, int h, int w, NetOps.Conv op, int[] g) {
        int oh = g[0], ow = g[1], k = c * op.kh() * op.kw();
        int[] idx = new int[rows * oh * ow * k];
        int q = 0;
        for (int r = 0; r < rows; r++)
            for (int y = 0; y < oh; y++)
                for (int z = 0; z < ow; z++)
                    for (int ch = 0; ch < c; ch++)
                        for (int i = 0; i < op.kh(); i++) {
                            int yy = y * op.sh() - g[2] + i;
                            for (int j = 0; j < op.kw(); j++) {
                                int xx = z * op.sw() - g[3] + j;
                                idx[q++] = yy < 0 || yy >= h || xx < 0 || xx >= w ? -1 : ((r * c + ch) * h + yy) * w + xx;
                            }
                        }
        return idx;
    }

    public static float[] im2col(float[] x, int rows, int c, int h, int w, NetOps.Conv op, int[] g, float pad) {
        int[] idx = im2colIndex(rows, c, h, w, op, g);
        float[] out = new float[idx.length];
        for (int i = 0; i < idx.length; i++) out[i] = idx[i] < 0 ? pad : x[idx[i]];
        return out;
    }

    public static int[] im2col(int[] x, int rows, int c, int h, int w, NetOps.Conv op, int[] g, int pad) {
        int[] idx = im2colIndex(rows, c, h, w, op, g);
        int[] out = new int[idx.length];
        for (int i = 0; i < idx.length; i++) out[i] = idx[i] < 0 ? pad : x[idx[i]];
        return out;
    }

    /** For each entry of images [rows, out, oh·ow], its index in the GEMM output [rows·oh·ow, out]. */
    static int[] toImagesIndex(int rows, int positions, int out) {
        int[] idx = new int[rows * positions * out];
        for (int r = 0; r < rows; r++)
            for (int p = 0; p < positions; p++)
                for (int c = 0; c < out; c++) idx[(r * out + c) * positions + p] = (r * positions + p) * out + c;
        return idx;
    }

    /** [rows·oh·ow, out] (GEMM output) to images [rows, out, oh, ow]. */
    public static float[] toImages(float[] y, int rows, int positions, int out) {
        int[] idx = toImagesIndex(rows, positions, out);
        float[] o = new float[y.length];
        for (int i = 0; i < o.length; i++) o[i] = y[idx[i]];
        return o;
    }

    public static int[] toImages(int[] y, int rows, int positions, int out) {
        int[] idx = toImagesIndex(rows, positions, out);
        int[] o = new int[y.length];
        for (int i = 0; i < o.length; i++) o[i] = y[idx[i]];
        return o;
    }

    /** Whether entry a of an array is larger than entry b (primitive, no boxing in the pooling loop). */
    @FunctionalInterface
    interface Larger {
        boolean test(int a, int b);
    }

    /**
     * For each max-pooling output of images [rows, c, h, w], the index of its window's largest input (by
     * {@code larger(a, b)}: is entry a larger than entry b); windows ignore positions outside the image.
     */
    static int[] argMaxPool(int rows, int c, int h, int w, NetOps.MaxPool op, int[] g, Larger larger) {
        int oh = g[0], ow = g[1];
        int[] o = new int[rows * c * oh * ow];
        for (int rc = 0; rc < rows * c; rc++)
            for (int y = 0; y < oh; y++)
                for (int z = 0; z < ow; z++) {
                    int best = -1;
                    for (int i = 0; i < op.kh(); i++) {
                        int yy = y * op.sh() - g[2] + i;
                        if (yy < 0 || yy >= h) continue;
                        for (int j = 0; j < op.kw(); j++) {
                            int xx = z * op.sw() - g[3] + j, at = (rc * h + yy) * w + xx;
                            if (xx >= 0 && xx < w && (best < 0 || larger.test(at, best))) best = at;
                        }
                    }
                    o[(rc * oh + y) * ow + z] = best;
                }
        return o;
    }

    /** Max pooling of images [rows, c, h, w]. */
    public static float[] maxPool(float[] x, int rows, int c, int h, int w, NetOps.MaxPool op, int[] g) {
        int[] idx = argMaxPool(rows, c, h, w, op, g, (a, b) -> x[a] > x[b]);
        float[] o = new float[idx.length];
        for (int i = 0; i < o.length; i++) o[i] = x[idx[i]];
        return o;
    }

    /** Max pooling on integers (quantization is monotone, so it commutes with max; the qparams carry through). */
    public static int[] maxPool(int[] x, int rows, int c, int h, int w, NetOps.MaxPool op, int[] g) {
        int[] idx = argMaxPool(rows, c, h, w, op, g, (a, b) -> x[a] > x[b]);
        int[] o = new int[idx.length];
        for (int i = 0; i < o.length; i++) o[i] = x[idx[i]];
        return o;
    }

    /** Applies {@code act} in place; softmax is per row of {@code width}. */
    public static void activate(float[] y, int width, NetOps.Act act) {
        switch (act) {
            case IDENTITY -> { }
            case RELU -> {
                for (int i = 0; i < y.length; i++) y[i] = Math.max(y[i], 0f); // branch-free: the JIT vectorizes it
            }
            case TANH -> {
                for (int i = 0; i < y.length; i++) y[i] = (float) Math.tanh(y[i]);
            }
            case SIGMOID -> {
                for (int i = 0; i < y.length; i++) y[i] = (float) (1.0 / (1.0 + Math.exp(-y[i])));
            }
            case SOFTMAX -> {
                for (int r = 0; r < y.length / width; r++) {
                    int o = r * width;
                    float m = Float.NEGATIVE_INFINITY;
                    for (int j = 0; j < width; j++) m = Math.max(m, y[o + j]);
                    double s = 0;
                    for (int j = 0; j < width; j++) s += y[o + j] = (float) Math.exp(y[o + j] - m);
                    for (int j = 0; j < width; j++) y[o + j] = (float) (y[o + j] / s);
                }
            }
        }
    }
}
