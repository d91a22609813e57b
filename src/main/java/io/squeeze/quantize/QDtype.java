package io.squeeze.quantize;

/** Integer types of quantized tensors, as PyTorch's {@code torch.qint8} and {@code torch.quint8}. */
public enum QDtype {
    QINT8(-128, 127), QUINT8(0, 255);

    private final int min, max;

    QDtype(int min, int max) {
        this.min = min;
        this.max = max;
    }

    public int min() {
        return min;
    }

    public int max() {
        return max;
    }

    /** The observer's range: the full type, or one bit less with {@code reduceRange} (PyTorch's reduce_range). */
    public int[] range(boolean reduceRange) {
        if (!reduceRange) return new int[]{min, max};
        return this == QINT8 ? new int[]{-64, 63} : new int[]{0, 127};
    }
}
