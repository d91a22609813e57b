package io.squeeze.eval;

import io.squeeze.core.BadInputException;

import io.squeeze.core.Bytes;

import java.io.Serializable;

/**
 * Classification metrics as a mergeable value ({@code update / merge / toBytes}): confusion matrix, summed
 * cross-entropy, top-5 hits, and against an optional baseline model its hits and the rows where both predict the
 * same class. Memory is O(classes²), independent of rows. Counts merge exactly; the loss sum in double precision.
 */
public final class EvalStats implements Serializable {
    private static final long serialVersionUID = 1L;
    /** Probabilities are clipped here before the log, as DL4J's MCXENT does. */
    public static final double EPS = 1e-10;

    private final int k;
    private final long[] confusion; // actual * k + predicted
    private double lossSum;
    private long top5, rows, batches, inferNanos;
    private final boolean hasBaseline;
    private long agree, baselineCorrect, baselineNanos;

    public EvalStats(int numClasses, boolean hasBaseline) {
        if (numClasses <= 0) throw new IllegalArgumentException("numClasses must be > 0, got " + numClasses);
        this.k = numClasses;
        this.confusion = new long[numClasses * numClasses];
        this.hasBaseline = hasBaseline;
    }

    /**
     * Adds one batch.
     *
     * @param labels   true class per row
     * @param probs    model probabilities, rows × k row-major
     * @param baseline baseline probabilities or null
     */
    public EvalStats update(int[] labels, long[] ids, float[] probs, float[] baseline, long nanos, long baselineNanos, String where) {
        int n = labels.length;
        for (int r = 0; r < n; r++) {
            int y = labels[r];
            if (y < 0 || y >= k)
                throw new BadInputException(where + " row " + ids[r] + ": label " + y + " is out of range for a model with " + k + " classes");
            int pred = argmax(probs, r);
            confusion[y * k + pred]++;
            double py = probs[r * k + y];
            lossSum += -Math.log(Math.max(py, EPS));
            if (k > 5) {
                int above = 0;
                for (int c = 0; c < k; c++) if (probs[r * k + c] > py) above++;
                if (above < 5) top5++;
            }
            if (baseline != null) {
                int b = argmax(baseline, r);
                if (b == pred) agree++;
                if (b == y) baselineCorrect++;
            }
        }
        rows += n;
        batches++;
        inferNanos += nanos;
        this.baselineNanos += baselineNanos;
        return this;
    }

    private int argmax(float[] p, int r) {
        int best = 0;
        for (int c = 1; c < k; c++) if (p[r * k + c] > p[r * k + best]) best = c;
        return best;
    }

    public EvalStats merge(EvalStats o) {
        if (o.k != k || o.hasBaseline != hasBaseline)
            throw new IllegalArgumentException("cannot merge stats of " + k + " and " + o.k + " classes");
        for (int i = 0; i < confusion.length; i++) confusion[i] += o.confusion[i];
        lossSum += o.lossSum;
        top5 += o.top5;
        rows += o.rows;
        batches += o.batches;
        inferNanos += o.inferNanos;
        agree += o.agree;
        baselineCorrect += o.baselineCorrect;
        baselineNanos += o.baselineNanos;
        return this;
    }

    public int numClasses() {
        return k;
    }

    public long rows() {
        return rows;
    }

    public long batches() {
        return batches;
    }

    public boolean hasBaseline() {
        return hasBaseline;
    }

    public long confusion(int actual, int predicted) {
        return confusion[actual * k + predicted];
    }

    public long correct() {
        long c = 0;
        for (int i = 0; i < k; i++) c += confusion[i * k + i];
        return c;
    }

    public double accuracy() {
        return rows == 0 ? 0 : (double) correct() / rows;
    }

    /** Top-5 accuracy, or NaN where there are 5 classes or fewer. */
    public double top5() {
        return k > 5 && rows > 0 ? (double) top5 / rows : Double.NaN;
    }

    /** Mean cross-entropy. */
    public double loss() {
        return rows == 0 ? 0 : lossSum / rows;
    }

    /** Recall per class (NaN for a class with no rows). */
    public double[] perClassAccuracy() {
        double[] a = new double[k];
        for (int i = 0; i < k; i++) {
            long n = 0;
            for (int j = 0; j < k; j++) n += confusion[i * k + j];
            a[i] = n == 0 ? Double.NaN : (double) confusion[i * k + i] / n;
        }
        return a;
    }

    public double agreement() {
        return rows == 0 ? 0 : (double) agree / rows;
    }

    public double baselineAccuracy() {
        return rows == 0 ? 0 : (double) baselineCorrect / rows;
    }

    /** Mean milliseconds of one batch's forward pass (model only). */
    public double msPerBatch() {
        return batches == 0 ? 0 : inferNanos / 1e6 / batches;
    }

    public double baselineMsPerBatch() {
        return batches == 0 ? 0 : baselineNanos / 1e6 / batches;
    }

    public byte[] toBytes() {
        return Bytes.write(out -> {
            out.writeInt(k);
            out.writeBoolean(hasBaseline);
            for (long c : confusion) out.writeLong(c);
            out.writeDouble(lossSum);
            for (long v : new long[]{top5, rows, batches, inferNanos, agree, baselineCorrect, baselineNanos}) out.writeLong(v);
        });
    }

    public static EvalStats fromBytes(byte[] b) {
        return Bytes.read(b, in -> {
            EvalStats s = new EvalStats(in.readInt(), in.readBoolean());
            for (int i = 0; i < s.confusion.length; i++) s.confusion[i] = in.readLong();
            s.lossSum = in.readDouble();
            s.top5 = in.readLong();
            s.rows = in.readLong();
            s.batches = in.readLong();
            s.inferNanos = in.readLong();
            s.agree = in.readLong();
            s.baselineCorrect = in.readLong();
            s.baselineNanos = in.readLong();
            return s;
        });
    }
}
