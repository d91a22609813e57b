package io.squeeze.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.HashMap;
import java.util.Map;

/**
 * Row-major float batches into and out of ND4J by bulk copies. ND4J 1.0.0-M2's {@code Nd4j.create(float[], shape)}
 * and {@code data().asFloat()} copy element by element: for 1024 rows of 1024 floats they take 2.9 ms and 1.1 ms
 * on one core, where a bulk copy through the buffer's NIO view takes 0.07 ms into a warm buffer (0.23 ms out).
 */
public final class NdRows {
    private NdRows() {}

    /** A new C-order float [rows, cols] array holding {@code x}'s first rows·cols values. */
    public static INDArray of(float[] x, int rows, int cols) {
        return fill(Nd4j.createUninitialized(DataType.FLOAT, new long[]{rows, cols}, 'c'), x);
    }

    /** Copies {@code x} into {@code target}, a {@link #flat} float array of at most {@code x.length} values. */
    public static INDArray fill(INDArray target, float[] x) {
        int n = (int) target.length();
        if (x.length < n) throw new IllegalArgumentException(x.length + " values for an array of " + n);
        if (!flat(target)) throw new IllegalArgumentException("not a contiguous row-major float array: " + target.shapeInfoToString());
        target.data().asNioFloat().put(x, 0, n);
        return target;
    }

    /** Whether {@code y}'s buffer holds exactly its float values, in some order, from its start. */
    private static boolean whole(INDArray y) {
        return y.dataType() == DataType.FLOAT && !y.isView() && y.offset() == 0 && y.data().length() == y.length();
    }

    /** Whether {@code y}'s buffer holds exactly its float values in row-major order (nothing to reorder or skip). */
    static boolean flat(INDArray y) {
        return whole(y) && (y.ordering() == 'c' || y.rank() <= 1 || y.rank() == 2 && (y.rows() == 1 || y.columns() == 1));
    }

    /** Puts {@code y}'s values, row-major, into {@code dst} at its position; one bulk copy when {@code y} is {@link #flat}. */
    public static void copyRowMajor(INDArray y, java.nio.FloatBuffer dst) {
        if (flat(y)) dst.put(y.data().asNioFloat().limit((int) y.length()));
        else dst.put(toRowMajor(y));
    }

    /** {@code y}'s values, row-major, as a view of its buffer when they are one run of it ({@link #flat}); null otherwise. */
    public static java.nio.FloatBuffer rowMajorView(INDArray y) {
        return y.dataType() == DataType.FLOAT && flat(y) ? y.data().asNioFloat() : null;
    }

    /** Copies the first {@code n} values of {@code x}, row-major, into {@code target} of {@code n} values. */
    public static void copyInto(float[] x, int n, INDArray target) {
        if (target.length() != n) throw new IllegalArgumentException(n + " values for an array of " + target.length());
        if (flat(target)) target.data().asNioFloat().put(x, 0, n);
        else target.assign(of(java.util.Arrays.copyOf(x, n), 1, n).reshape('c', target.shape()));
    }

    /** The values of an array, row-major: one bulk copy when {@link #flat}, transposed here for a whole f-order matrix. */
    public static float[] toRowMajor(INDArray y) {
        boolean flat = flat(y);
        if (!whole(y) || !flat && y.rank() != 2) return y.castTo(DataType.FLOAT).dup('c').data().asFloat();
        float[] v = new float[Math.toIntExact(y.length())];
        y.data().asNioFloat().get(v);
        if (flat) return v;
        int rows = (int) y.rows(), cols = (int) y.columns();
        float[] out = new float[v.length];
        for (int c = 0; c < cols; c++)
            for (int r = 0; r < rows; r++) out[r * cols + c] = v[c * rows + r];
        return out;
    }

    /**
     * Native arrays kept across batches by one thread, one per named slot, re-made only when the slot's shape, type
     * or order changes: fresh native pages cost more than the copies into them (a 256×784 · 784×300 layer on one
     * core: 1.8 ms with fresh arrays, 1.1 ms with kept ones; the GEMM alone 1.0 ms).
     */
    public static final class Buffers {
        private final Map<String, INDArray> arrays = new HashMap<>();

        public INDArray get(String slot, DataType type, long rows, long cols, char order) {
            return get(slot, type, new long[]{rows, cols}, order);
        }

        /** The slot's array of any shape, made outside DL4J's workspaces. */
        public INDArray get(String slot, DataType type, long[] shape, char order) {
            INDArray a = arrays.get(slot);
            if (a == null || !java.util.Arrays.equals(a.shape(), shape) || a.dataType() != type || a.ordering() != order) {
                try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                    a = Nd4j.createUninitialized(type, shape, order);
                }
                arrays.put(slot, a);
            }
            return a;
        }
    }
}
