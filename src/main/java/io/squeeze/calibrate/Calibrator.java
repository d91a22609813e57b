package io.squeeze.calibrate;

import io.squeeze.data.Batches;
import io.squeeze.data.Example;
import io.squeeze.data.Normalizer;
import io.squeeze.quantize.QDtype;
import io.squeeze.quantize.QParams;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.quantize.QuantRunner;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The calibration kernel: streams rows in fixed-size batches through the float network, observing every
 * activation tensor into a {@link Calibration} — the same code in one process and in each Spark partition. Min/max
 * (and percentile sketches) take one pass; histogram and entropy observers a second pass over histograms whose
 * edges come from the first pass's min/max, so that partition histograms merge exactly.
 */
public final class Calibrator {
    public static final int BINS = 2048;

    private Calibrator() {}

    public static Calibration run(Iterator<Example> rows, QuantRunner runner, Normalizer norm, int batchSize, int numFeatures,
                                  Calibration.Pass pass, String where) {
        Calibration c = new Calibration(pass);
        Iterator<Batches.Batch> it = Batches.of(rows, batchSize, numFeatures, where);
        while (it.hasNext()) {
            Batches.Batch b = it.next();
            float[] x = norm.appliedRows(b.features(), b.rows());
            runner.run(x, b.rows(), numFeatures, QuantRunner.Path.FLOAT, c::update);
        }
        return c;
    }

    public static Calibration.Pass firstPass(QuantConfig.Observer o) {
        return Calibration.Pass.minMax(o instanceof QuantConfig.Observer.Percentile);
    }

    /** The histogram pass the observer needs after {@code first}, or null. */
    public static Calibration.Pass secondPass(QuantConfig.Observer o, Calibration first) {
        boolean entropy = o instanceof QuantConfig.Observer.Entropy;
        if (!entropy && !(o instanceof QuantConfig.Observer.Histogram)) return null;
        Map<Integer, float[]> edges = new TreeMap<>();
        first.entries().forEach((k, e) -> edges.put(k, entropy ? new float[]{0f, Math.max(Math.abs(e.min()), Math.abs(e.max()))}
                : new float[]{e.min(), e.max()}));
        return new Calibration.Pass(false, edges, entropy, BINS);
    }

    /** One activation's chosen range and what it was chosen from. */
    public record Range(float observedMin, float observedMax, float lo, float hi, long values, QParams qparams) {}

    /** Ranges and quint8 affine qparams of every observed activation ({@code second} null unless the observer needs it). */
    public static Map<Integer, Range> ranges(QuantConfig.Observer o, Calibration first, Calibration second, boolean reduceRange) {
        Map<Integer, Range> out = new LinkedHashMap<>();
        for (Map.Entry<Integer, Calibration.Entry> x : first.entries().entrySet()) {
            Calibration.Entry e = x.getValue();
            float lo = e.min(), hi = e.max();
            if (o instanceof QuantConfig.Observer.Percentile p) {
                float[] r = RangeChoice.percentile(e.up(), e.down(), p.p() / 100.0);
                lo = Math.max(lo, r[0]);
                hi = Math.min(hi, r[1]);
            } else if (o instanceof QuantConfig.Observer.Histogram) {
                float[] r = RangeChoice.histogramL2(second.entries().get(x.getKey()).histogram(), 256);
                lo = r[0];
                hi = r[1];
            } else if (o instanceof QuantConfig.Observer.Entropy) {
                float t = RangeChoice.entropy(second.entries().get(x.getKey()).histogram(), e.min() >= 0 ? 256 : 128);
                // clip at ±t, but an affine range need not reach past what was observed
                lo = e.min() >= 0 ? 0f : Math.max(e.min(), -t);
                hi = Math.min(e.max(), t);
            }
            out.put(x.getKey(), new Range(e.min(), e.max(), lo, hi, e.count(), QParams.fromMinMax(lo, hi, QDtype.QUINT8, false, reduceRange)));
        }
        return out;
    }

    public static Map<Integer, QParams> qparams(Map<Integer, Range> ranges) {
        Map<Integer, QParams> q = new TreeMap<>();
        ranges.forEach((k, r) -> q.put(k, r.qparams()));
        return q;
    }
}
