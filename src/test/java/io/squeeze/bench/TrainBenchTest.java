package io.squeeze.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The train benchmark's rows over its repeats: medians of the figures, the median of the repeats' own ratios. */
class TrainBenchTest {
    private static double[] repeat(double local2, double torchDefaults, double torchOneBlas) {
        double[] f = new double[TrainBench.FIGURES];
        f[TrainBench.LOCAL2] = local2;
        f[TrainBench.TORCH_DEFAULTS] = torchDefaults;
        f[TrainBench.TORCH_ONE_BLAS] = torchOneBlas;
        return f;
    }

    @Test
    void aRowIsTheMedianOfTheRepeatsRatiosNotTheRatioOfMedians() {
        double[][] reps = {repeat(100, 50, 80), repeat(120, 200, 60), repeat(90, 40, 100)};
        var row = TrainBench.result("x", reps, TrainBench.LOCAL2, TrainBench::fasterTorch, "n");
        assertEquals(100, row.value());
        assertEquals(100, row.baseline(), "the faster PyTorch setting of each repeat: 80, 200, 100");
        assertEquals(0.9, row.ratio(), 1e-12, "ratios 1.25, 0.60, 0.90: median 0.90 (the medians' ratio would be 1.00)");
        assertTrue(row.note().endsWith("ratio: median of 3 repeats (1.25x / 0.60x / 0.90x)"), row.note());
    }

    @Test
    void medianAndTheFasterSetting() {
        assertEquals(2.5, TrainBench.median(new double[]{4, 1, 3, 2}));
        assertEquals(3, TrainBench.median(new double[]{5, 3, 1}));
        assertTrue(Double.isNaN(TrainBench.median(new double[]{1, Double.NaN, 3})), "a missing figure is no median");
        assertEquals(70, TrainBench.fasterTorch(repeat(0, Double.NaN, 70)));
        assertEquals(70, TrainBench.fasterTorch(repeat(0, 70, Double.NaN)));
        assertTrue(Double.isNaN(TrainBench.fasterTorch(repeat(0, Double.NaN, Double.NaN))), "no PyTorch");
        var none = TrainBench.result("x", new double[][]{repeat(10, Double.NaN, Double.NaN)}, TrainBench.LOCAL2, TrainBench::fasterTorch, "n");
        assertTrue(Double.isNaN(none.ratio()));
        assertEquals("n", none.note(), "one repeat: nothing to list");
    }
}
