package io.squeeze.data;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** {@link Shift}: an image's translation in either row layout, every channel moving with its pixel. */
class ShiftTest {
    @Test
    void aChannelsLastRowShiftsAsTheSameImageChannelByChannel() {
        int h = 5, w = 4, c = 3;
        float[] chw = new float[h * w * c], hwc = new float[h * w * c];
        Random r = new Random(2);
        for (int k = 0; k < c; k++)
            for (int p = 0; p < h * w; p++) hwc[p * c + k] = chw[k * h * w + p] = r.nextFloat() + 1; // no zeros: a moved pixel shows
        for (int copy = 0; copy < 6; copy++) {
            float[] a = Shift.copy(chw, h, w, 2, 9, 17, copy), b = Shift.copy(hwc, h, w, 2, 9, 17, copy, true);
            for (int k = 0; k < c; k++)
                for (int p = 0; p < h * w; p++) assertEquals(a[k * h * w + p], b[p * c + k], 0f, "copy " + copy + " channel " + k + " pixel " + p);
            if (copy == 0) assertArrayEquals(hwc, b, 0f);
        }
        // a one-pixel move to the right: pixel (0, 1) of the shifted image is pixel (0, 0) of the source, all channels
        float[] moved = null;
        for (int copy = 1; moved == null; copy++) {
            Random d = new Random(9 * 1_000_003L + 17 * 31 + copy);
            int dy = d.nextInt(5) - 2, dx = d.nextInt(5) - 2;
            if (dy == 0 && dx == 1) moved = Shift.copy(hwc, h, w, 2, 9, 17, copy, true);
        }
        for (int k = 0; k < c; k++) {
            assertEquals(hwc[k], moved[c + k], 0f);
            assertEquals(0f, moved[k], 0f, "uncovered");
        }
    }
}
