package io.squeeze.quantize;

import io.squeeze.model.NetOps;

/**
 * One step of an LSTM layer ({@link NetOps.Rnn}) as the quantized runtime computes it around its GEMM: the GEMM's
 * left operand {@code [x_t, h_{t−1}]} per row, and the cell update from the gate pre-activations
 * {@code z = [x_t, h_{t−1}]·[W; RW] + b} — DL4J's column blocks: cell input {@code a = act(z_0)}, forget
 * {@code f = gate(z_1)}, output {@code o = gate(z_2)}, input {@code i = gate(z_3)};
 * {@code c_t = f ⊙ c_{t−1} + i ⊙ a}, {@code h_t = o ⊙ act(c_t)} (Hochreiter &amp; Schmidhuber 1997, with the forget
 * gate of Gers et al. 2000; no peepholes, as DL4J's {@code LSTM} and PyTorch's {@code nn.LSTM}). The gate
 * non-linearities and the cell state stay in float (PyTorch's dynamically quantized LSTM does the same: only the two
 * matrix products run on int8).
 */
final class LstmCell {
    private LstmCell() {}

    /** Rows of {@code [x_t, h]}: step {@code t} of {@code x} (rows of {@code steps · nIn}) beside {@code h} (rows of {@code hidden}). */
    static float[] operand(float[] x, int rows, int steps, int nIn, int t, float[] h, int hidden) {
        int k = nIn + hidden;
        float[] xh = new float[rows * k];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(x, (r * steps + t) * nIn, xh, r * k, nIn);
            System.arraycopy(h, r * hidden, xh, r * k + nIn, hidden);
        }
        return xh;
    }

    /** Updates {@code c} and {@code h} (rows of {@code hidden}) in place from the pre-activations {@code z} (rows of 4·hidden, bias added). */
    static void update(float[] z, int rows, int hidden, float[] c, float[] h, NetOps.Act act, NetOps.Act gate) {
        int g = 4 * hidden;
        float[] a = new float[hidden], f = new float[hidden], o = new float[hidden], i = new float[hidden], ct = new float[hidden];
        for (int r = 0; r < rows; r++) {
            int zr = r * g, hr = r * hidden;
            System.arraycopy(z, zr, a, 0, hidden);
            System.arraycopy(z, zr + hidden, f, 0, hidden);
            System.arraycopy(z, zr + 2 * hidden, o, 0, hidden);
            System.arraycopy(z, zr + 3 * hidden, i, 0, hidden);
            Kernels.activate(a, hidden, act);
            Kernels.activate(f, hidden, gate);
            Kernels.activate(o, hidden, gate);
            Kernels.activate(i, hidden, gate);
            for (int u = 0; u < hidden; u++) c[hr + u] = f[u] * c[hr + u] + i[u] * a[u];
            System.arraycopy(c, hr, ct, 0, hidden);
            Kernels.activate(ct, hidden, act);
            for (int u = 0; u < hidden; u++) h[hr + u] = o[u] * ct[u];
        }
    }
}
