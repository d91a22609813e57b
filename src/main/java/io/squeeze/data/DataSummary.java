package io.squeeze.data;

import io.squeeze.core.Bytes;

import java.io.Serializable;
import java.util.Arrays;

/**
 * What one pass over a dataset learns: rows, rows per label, unlabelled rows and {@link FeatureStats}.
 * A mergeable value ({@code update / merge / toBytes}); memory is O(features + classes).
 */
public final class DataSummary implements Serializable {
    private static final long serialVersionUID = 1L;

    private long rows;
    private long unlabelled;
    private long[] labelCounts = new long[0];
    private final FeatureStats features;

    private DataSummary(FeatureStats features) {
        this.features = features;
    }

    public static DataSummary empty() {
        return new DataSummary(FeatureStats.empty());
    }

    public DataSummary update(Example e) {
        rows++;
        if (e.label() < 0) {
            unlabelled++;
        } else {
            if (e.label() >= labelCounts.length) labelCounts = Arrays.copyOf(labelCounts, e.label() + 1);
            labelCounts[e.label()]++;
        }
        features.update(e.features());
        return this;
    }

    public DataSummary merge(DataSummary o) {
        rows += o.rows;
        unlabelled += o.unlabelled;
        if (o.labelCounts.length > labelCounts.length) labelCounts = Arrays.copyOf(labelCounts, o.labelCounts.length);
        for (int k = 0; k < o.labelCounts.length; k++) labelCounts[k] += o.labelCounts[k];
        features.merge(o.features);
        return this;
    }

    public long rows() {
        return rows;
    }

    public long unlabelled() {
        return unlabelled;
    }

    /** Classes seen: 1 + the largest label. */
    public int numClasses() {
        return labelCounts.length;
    }

    /** How many distinct labels occur. */
    public int distinctLabels() {
        int n = 0;
        for (long c : labelCounts) if (c > 0) n++;
        return n;
    }

    public long labelCount(int k) {
        return k < labelCounts.length ? labelCounts[k] : 0;
    }

    public FeatureStats features() {
        return features;
    }

    public byte[] toBytes() {
        return Bytes.write(out -> {
            out.writeLong(rows);
            out.writeLong(unlabelled);
            out.writeInt(labelCounts.length);
            for (long c : labelCounts) out.writeLong(c);
            byte[] f = features.toBytes();
            out.writeInt(f.length);
            out.write(f);
        });
    }

    public static DataSummary fromBytes(byte[] bytes) {
        return Bytes.read(bytes, in -> {
            long rows = in.readLong(), unl = in.readLong();
            long[] counts = new long[in.readInt()];
            for (int k = 0; k < counts.length; k++) counts[k] = in.readLong();
            byte[] f = new byte[in.readInt()];
            in.readFully(f);
            DataSummary s = new DataSummary(FeatureStats.fromBytes(f));
            s.rows = rows;
            s.unlabelled = unl;
            s.labelCounts = counts;
            return s;
        });
    }
}
