package io.squeeze.data;

import java.util.Random;

/**
 * Random translations of images (the jitter Hinton et al. 2015 and Simard et al. 2003 enlarge MNIST with): each
 * copy moves the image by (dy, dx) drawn uniformly from [−s, s], filling uncovered pixels with 0. Copy 0 is the
 * original. Deterministic per (seed, row id, copy).
 */
public final class Shift {
    private Shift() {}

    /** Copy {@code copy} of a row-major image [channels][h][w] flattened. */
    public static float[] copy(float[] x, int h, int w, int maxShift, long seed, long id, int copy) {
        return copy(x, h, w, maxShift, seed, id, copy, false);
    }

    /**
     * As above; with {@code channelsLast} the row is [h][w][channels] (each pixel's channels together, as Keras'
     * {@code channels_last} arrays flatten), and every channel of a pixel moves with it. The same (dy, dx) either way.
     */
    public static float[] copy(float[] x, int h, int w, int maxShift, long seed, long id, int copy, boolean channelsLast) {
        if (copy == 0 || maxShift == 0) return x.clone();
        Random r = new Random(seed * 1_000_003L + id * 31 + copy);
        int dy = r.nextInt(2 * maxShift + 1) - maxShift, dx = r.nextInt(2 * maxShift + 1) - maxShift;
        int planes = x.length / (h * w);
        float[] y = new float[x.length];
        for (int i = 0; i < h; i++) {
            int si = i - dy;
            if (si < 0 || si >= h) continue;
            for (int j = 0; j < w; j++) {
                int sj = j - dx;
                if (sj < 0 || sj >= w) continue;
                if (channelsLast) System.arraycopy(x, (si * w + sj) * planes, y, (i * w + j) * planes, planes);
                else for (int c = 0; c < planes; c++) y[(c * h + i) * w + j] = x[(c * h + si) * w + sj];
            }
        }
        return y;
    }
}
