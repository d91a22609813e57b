package io.squeeze.data;

import io.squeeze.core.BadInputException;

/**
 * Parsing kernels for text rows: CSV (features, then the label) and LIBSVM ({@code label i:v ...}, 1-based).
 * Every failure names the data, the row and the offending value.
 */
public final class TextRecords {
    private TextRecords() {}

    /** A LIBSVM row before densifying: ascending 0-based indices and their values. */
    public record SparseRow(long id, int label, int[] indices, float[] values) implements java.io.Serializable {
        public int maxIndex() {
            return indices.length == 0 ? -1 : indices[indices.length - 1];
        }

        public Example toDense(int numFeatures, String where) {
            float[] x = new float[numFeatures];
            for (int i = 0; i < indices.length; i++) {
                if (indices[i] >= numFeatures)
                    throw new BadInputException(where + " row " + id + ": feature index " + (indices[i] + 1)
                            + " is beyond the " + numFeatures + " features expected");
                x[indices[i]] = values[i];
            }
            return new Example(id, x, label);
        }
    }

    /** Parses a CSV row of string cells: features then the label last. */
    public static Example csv(String[] cells, long id, String where) {
        if (cells.length < 2)
            throw new BadInputException(where + " row " + id + ": needs at least one feature and a label, got " + cells.length + " column(s)");
        float[] x = new float[cells.length - 1];
        for (int j = 0; j < x.length; j++) x[j] = feature(cells[j], id, j, where);
        return new Example(id, x, label(cells[cells.length - 1], id, where));
    }

    /** Parses one LIBSVM line. */
    public static SparseRow libsvm(String line, long id, String where) {
        String[] tok = line.trim().split("\\s+");
        int label = label(tok[0], id, where);
        int[] idx = new int[tok.length - 1];
        float[] val = new float[tok.length - 1];
        int prev = -1;
        for (int t = 1; t < tok.length; t++) {
            int c = tok[t].indexOf(':');
            if (c <= 0) throw new BadInputException(where + " row " + id + ": '" + tok[t] + "' is not index:value");
            int i;
            try {
                i = Integer.parseInt(tok[t].substring(0, c)) - 1;
            } catch (NumberFormatException e) {
                throw new BadInputException(where + " row " + id + ": feature index '" + tok[t].substring(0, c) + "' is not an integer");
            }
            if (i < 0) throw new BadInputException(where + " row " + id + ": feature indices are 1-based, got " + (i + 1));
            if (i <= prev) throw new BadInputException(where + " row " + id + ": feature indices must ascend, got " + (i + 1) + " after " + (prev + 1));
            idx[t - 1] = i;
            val[t - 1] = feature(tok[t].substring(c + 1), id, i, where);
            prev = i;
        }
        return new SparseRow(id, label, idx, val);
    }

    static float feature(String s, long id, int j, String where) {
        float v;
        try {
            v = Float.parseFloat(s.trim());
        } catch (NumberFormatException e) {
            throw new BadInputException(where + " row " + id + " feature " + j + ": '" + s + "' is not a number");
        }
        return finite(v, id, j, where);
    }

    /** Rejects NaN and infinities. */
    public static float finite(float v, long id, int j, String where) {
        if (Float.isNaN(v) || Float.isInfinite(v))
            throw new BadInputException(where + " row " + id + " feature " + j + " is " + v + " (features must be finite)");
        return v;
    }

    /** Parses a class label: a non-negative integer ("3" or "3.0"). */
    public static int label(String s, long id, String where) {
        double d;
        try {
            d = Double.parseDouble(s.trim());
        } catch (NumberFormatException e) {
            throw new BadInputException(where + " row " + id + ": label '" + s + "' is not a number");
        }
        return label(d, s.trim(), id, where);
    }

    /** A numeric class label, {@code shown} as the data has it: a non-negative integer value. */
    public static int label(double d, String shown, long id, String where) {
        if (d != Math.rint(d) || d < 0 || d > Integer.MAX_VALUE)
            throw new BadInputException(where + " row " + id + ": label " + shown + " is not a class index (a non-negative integer)");
        return (int) d;
    }
}
