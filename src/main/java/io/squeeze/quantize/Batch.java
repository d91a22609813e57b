package io.squeeze.quantize;

/** The quantized runtime's batch in flight ({@link QuantRunner}): float values, or integers with their qparams; flat rows of {@code n} or images ({@code h > 0}). */
final class Batch {
    float[] f;
    int[] q;
    QParams qp;
    int n, c, h, w;

    float[] floats() {
        return f != null ? f : QuantRunner.dequantize(q, qp);
    }

    void set(float[] v) {
        f = v;
        q = null;
        qp = null;
    }

    void set(int[] v, QParams p) {
        q = v;
        qp = p;
        f = null;
    }

    /** The same values and shape (arrays shared: ops replace them, never write into them). */
    Batch copy() {
        Batch t = new Batch();
        t.f = f;
        t.q = q;
        t.qp = qp;
        t.n = n;
        t.c = c;
        t.h = h;
        t.w = w;
        return t;
    }
}
