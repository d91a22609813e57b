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

    @Test
    void distributedCalibrationEqualsSingleProcessForEveryObserverAndPartitioning() {
        MultiLayerNetwork net = new MultiLayerNetwork(Architectures.build(new Arch.LeNet5(), 256, 10, new int[]{16, 16, 1},
                new Architectures.Hyper(5, 1e-3, 0), null));
        net.init();
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
}
