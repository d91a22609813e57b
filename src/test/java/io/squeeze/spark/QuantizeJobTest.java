package io.squeeze.spark;

import io.squeeze.quantize.Observer;
import io.squeeze.TestSpark;
import io.squeeze.quantize.Calibration;
import io.squeeze.quantize.Calibrator;
import io.squeeze.data.Example;
import io.squeeze.data.Normalizer;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.NetOps;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.quantize.QuantRunner;
import io.squeeze.quantize.QuantizedModel;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Distributed calibration equals the single-process kernel, however the data is partitioned. */
class QuantizeJobTest {
    static List<Example> rows(int n) {
        Random r = new Random(9);
        List<Example> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            float[] f = new float[256];
            for (int j = 0; j < f.length; j++) f[j] = r.nextFloat() < 0.4f ? 0f : r.nextFloat();
            out.add(new Example(i, f, i % 10));
        }
        return out;
    }

    /** LeNet-5 on 16×16 single-channel rows (256 features), initialized with seed 5. */
    static MultiLayerNetwork lenet5() {
        MultiLayerNetwork net = new MultiLayerNetwork(Architectures.build(new Arch.LeNet5(), 256, 10, new int[]{16, 16, 1},
                new Architectures.Hyper(5, 1e-3, 0), null));
        net.init();
        return net;
    }

    @Test
    void distributedCalibrationEqualsSingleProcessForEveryObserverAndPartitioning() {
        MultiLayerNetwork net = lenet5();
        List<Example> data = rows(600);
        for (Observer o : List.of(new Observer.MinMax(), new Observer.Histogram(),
                new Observer.Entropy(), new Observer.Percentile(99.9))) {
            QuantConfig cfg = new QuantConfig(QuantConfig.Mode.STATIC, QuantConfig.Precision.INT8, null, null, false, o, List.of());
            QuantizedModel qm = QuantizedModel.quantizeWeights(NetOps.of(net), cfg, Map.of());
            // single process, one pass (and the histogram pass) over all rows in one batch stream
            Calibration first = Calibrator.run(data.iterator(), new QuantRunner(qm), Normalizer.NONE, 32, 256, o.firstPass(), "t");
            Calibration.Pass p2 = o.secondPass(first);
            Calibration second = p2 == null ? null : Calibrator.run(data.iterator(), new QuantRunner(qm), Normalizer.NONE, 32, 256, p2, "t");
            var single = Calibrator.ranges(o, first, second, false);
            for (int partitions : new int[]{1, 3, 8}) {
                var c = QuantizeJob.calibrate(new Execution.OnSpark(TestSpark.jsc()), TestSpark.jsc().parallelize(data, partitions), qm, Normalizer.NONE, 256, 32,
                        cfg, "t", new PrintWriter(new StringWriter()));
                assertEquals(600, c.rows());
                // statistics merge exactly (CalibrationTest); the activations themselves can differ in the last bit with the
                // batch shape a partition produces (float32 GEMM blocking), so ranges agree to float rounding — within a
                // histogram bin for the histogram searches, and within the sketch's rank bound (a few steps) for percentiles
                single.forEach((k, r) -> {
                    var d = c.ranges().get(k);
                    float span = r.observedMax() - r.observedMin();
                    float tol = o instanceof Observer.Percentile ? 3 * r.qparams().scale()
                            : o instanceof Observer.MinMax ? 1e-5f * span : 2 * span / Calibrator.BINS;
                    String what = o + " key " + k + " partitions " + partitions;
                    assertEquals(r.lo(), d.lo(), tol + 1e-7f, what);
                    assertEquals(r.hi(), d.hi(), tol + 1e-7f, what);
                    assertEquals(r.values(), d.values(), what);
                    if (o instanceof Observer.MinMax) {
                        assertEquals(r.qparams().scale(), d.qparams().scale(), 1e-5f * r.qparams().scale(), what);
                        assertEquals(r.qparams().zeroPoint(), d.qparams().zeroPoint(), 1, what);
                    }
                });
            }
        }
    }

    /** trace((W − W̃)ᵀ G (W − W̃)) = ‖X(W − W̃)‖²: the layer's output error on the calibration rows. */
    static double outputError(io.squeeze.quantize.Gram g, float[] w, float[] deq, int k, int c) {
        double e = 0;
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < k; i++) {
                double di = w[i * c + ch] - deq[i * c + ch];
                if (di == 0) continue;
                for (int j = 0; j < k; j++) e += di * g.get(i, j) * (w[j * c + ch] - deq[j * c + ch]);
            }
        return e;
    }

    @Test
    void gptqOnAGraphLowersEveryConvolutionsOutputErrorFromGramsGatheredOnExecutors() {
        var g = io.squeeze.model.ResNetGraphTest.randomized(io.squeeze.model.ResNetGraphTest.mnist(1, 13), 14);
        float[] x = io.squeeze.model.ResNetGraphTest.images(96, 15).data().asFloat();
        List<Example> data = new ArrayList<>();
        for (int i = 0; i < 96; i++) data.add(new Example(i, java.util.Arrays.copyOfRange(x, i * 784, (i + 1) * 784), i % 10));
        QuantConfig cfg = new QuantConfig(QuantConfig.Mode.STATIC, QuantConfig.Precision.INT4, null, null, false, new Observer.MinMax(), List.of(),
                QuantConfig.Rounding.GPTQ);
        QuantizedModel qm = QuantizedModel.quantizeWeights(io.squeeze.model.GraphOps.of(g, "test"), cfg);
        var c = QuantizeJob.calibrate(new Execution.OnSpark(TestSpark.jsc()), TestSpark.jsc().parallelize(data, 2), qm, Normalizer.NONE, 784, 32,
                cfg, "t", new PrintWriter(new StringWriter()));
        assertEquals(QuantizeJob.gptqLayers(qm), c.grams().keySet(), "every weighted node of the graph");
        QuantizedModel rounded = qm.withGptq(c.grams(), QuantConfig.GPTQ_DAMP, true, Map.of());
        int checked = 0;
        for (NetOps.Op op : qm.ops()) {
            if (!(op instanceof NetOps.Conv)) continue;
            long[] shape = QuantizedModel.shape(op);
            int rows = (int) shape[0], cols = QuantizedModel.weightsOf(op).length / rows;
            java.util.function.Function<float[], float[]> layout = a -> io.squeeze.quantize.Kernels.transpose(a, rows, cols);
            float[] w = layout.apply(QuantizedModel.weightsOf(op));
            double nearest = outputError(c.grams().get(op.layer()), w, layout.apply(qm.effectiveWeights(op)), cols, rows);
            double gptq = outputError(c.grams().get(op.layer()), w, layout.apply(rounded.effectiveWeights(op)), cols, rows);
            assertTrue(gptq < 0.8 * nearest, "node " + op.layer() + ": GPTQ output error " + gptq + " vs nearest " + nearest);
            checked++;
        }
        assertEquals(9, checked, "the stem, six block convolutions, two projections");
    }

    @Test
    void gptqGramMatricesFromExecutorsEqualTheSingleProcessOnesAndGptqLowersEveryLayersOutputError() {
        MultiLayerNetwork net = lenet5();
        List<Example> data = rows(300);
        QuantConfig cfg = new QuantConfig(QuantConfig.Mode.STATIC, QuantConfig.Precision.INT4, null, null, false, new Observer.MinMax(), List.of(),
                QuantConfig.Rounding.GPTQ);
        QuantizedModel qm = QuantizedModel.quantizeWeights(NetOps.of(net), cfg, Map.of());
        Calibration single = Calibrator.run(data.iterator(), new QuantRunner(qm), Normalizer.NONE, 32, 256,
                cfg.observer().firstPass().withGrams(QuantizeJob.gptqLayers(qm)), "t");
        assertEquals(QuantizeJob.gptqLayers(qm), single.grams().keySet(), "every integer layer, convolutions included");
        for (int partitions : new int[]{1, 3}) {
            var c = QuantizeJob.calibrate(new Execution.OnSpark(TestSpark.jsc()), TestSpark.jsc().parallelize(data, partitions), qm, Normalizer.NONE, 256, 32,
                    cfg, "t", new PrintWriter(new StringWriter()));
            single.grams().forEach((l, g) -> {
                var d = c.grams().get(l);
                assertEquals(g.rows(), d.rows());
                double maxDiag = 0;
                for (int i = 0; i < g.columns(); i++) maxDiag = Math.max(maxDiag, g.get(i, i));
                // the activations can differ in float32's last bit with a partition's batch shapes (above), so entries agree to that
                for (int i = 0; i < g.columns(); i++)
                    for (int j = 0; j < g.columns(); j++)
                        assertEquals(g.get(i, j), d.get(i, j), 1e-5 * Math.sqrt(g.get(i, i) * g.get(j, j)) + 1e-6 * maxDiag, "layer " + l + " partitions " + partitions);
            });
        }
        QuantizedModel rounded = qm.withGptq(single.grams(), QuantConfig.GPTQ_DAMP, true, Map.of());
        for (NetOps.Op op : qm.ops()) {
            var g = single.grams().get(op.layer());
            if (g == null || QuantizedModel.shape(op) == null) continue;
            boolean conv = op instanceof NetOps.Conv;
            long[] shape = QuantizedModel.shape(op);
            int rows = (int) shape[0], cols = QuantizedModel.weightsOf(op).length / rows, k = conv ? cols : rows, c = conv ? rows : cols;
            java.util.function.Function<float[], float[]> layout = a -> conv ? io.squeeze.quantize.Kernels.transpose(a, rows, cols) : a;
            float[] w = layout.apply(QuantizedModel.weightsOf(op));
            double nearest = outputError(g, w, layout.apply(qm.effectiveWeights(op)), k, c);
            double gptq = outputError(g, w, layout.apply(rounded.effectiveWeights(op)), k, c);
            assertTrue(gptq < 0.8 * nearest, "layer " + op.layer() + ": GPTQ output error " + gptq + " vs nearest " + nearest);
        }
    }
}
