package io.squeeze.quantize;

import io.squeeze.core.Bytes;

import java.io.Serializable;
import java.util.Arrays;

/**
 * Running minimum and maximum, per tensor or per channel along one axis — PyTorch's MinMaxObserver and
 * PerChannelMinMaxObserver — as a mergeable value ({@code update / merge / toBytes}): memory is one pair per
 * channel, whatever the number of rows observed; merging is exact and order-free.
 */
public final class MinMaxObserver implements Serializable {
    private static final long serialVersionUID = 1L;
    private final float[] min, max;
    private long count;

    /** {@code channels} = 1 for per-tensor. */
    public MinMaxObserver(int channels) {
        min = new float[channels];
        max = new float[channels];
        Arrays.fill(min, Float.POSITIVE_INFINITY);
        Arrays.fill(max, Float.NEGATIVE_INFINITY);
    }

    public int channels() {
        return min.length;
    }

    public float min(int channel) {
        return count == 0 ? 0f : min[channel];
    }

    public float max(int channel) {
        return count == 0 ? 0f : max[channel];
    }

    public long count() {
        return count;
    }

    /** Observes a tensor in C order of {@code shape}; per-channel along {@code axis} (ignored when per-tensor). */
    public MinMaxObserver update(float[] values, long[] shape, int axis) {
        long stride = 1;
        if (min.length > 1) for (int a = axis + 1; a < shape.length; a++) stride *= shape[a];
        for (int i = 0; i < values.length; i++) {
            int c = min.length == 1 ? 0 : (int) ((i / stride) % min.length);
            float v = values[i];
            if (v < min[c]) min[c] = v;
            if (v > max[c]) max[c] = v;
        }
        count += values.length;
        return this;
    }

    public MinMaxObserver merge(MinMaxObserver o) {
        if (o.min.length != min.length) throw new IllegalArgumentException("cannot merge " + min.length + " and " + o.min.length + " channels");
        for (int c = 0; c < min.length; c++) {
            min[c] = Math.min(min[c], o.min[c]);
            max[c] = Math.max(max[c], o.max[c]);
        }
        count += o.count;
        return this;
    }

    /** The qparams of every channel. */
    public QParams[] qparams(QDtype dtype, boolean symmetric, boolean reduceRange) {
        QParams[] q = new QParams[min.length];
        for (int c = 0; c < q.length; c++) {
            boolean empty = count == 0;
            q[c] = QParams.fromMinMax(empty ? 0f : min[c], empty ? 0f : max[c], dtype, symmetric, reduceRange);
        }
        return q;
    }

    public byte[] toBytes() {
        return Bytes.write(out -> {
            out.writeInt(min.length);
            out.writeLong(count);
            for (int c = 0; c < min.length; c++) {
                out.writeFloat(min[c]);
                out.writeFloat(max[c]);
            }
        });
    }

    public static MinMaxObserver fromBytes(byte[] b) {
        return Bytes.read(b, in -> {
            MinMaxObserver o = new MinMaxObserver(in.readInt());
            o.count = in.readLong();
            for (int c = 0; c < o.min.length; c++) {
                o.min[c] = in.readFloat();
                o.max[c] = in.readFloat();
            }
            return o;
        });
    }
}
