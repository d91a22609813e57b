package io.squeeze.quantize;

import io.squeeze.data.Batches;
import io.squeeze.data.Example;
import io.squeeze.data.Normalizer;

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
            runner.run(x, b.rows(), numFeatures, QuantRunner.Path.FLOAT, c::update, pass.grams().isEmpty() ? null : c::updateInput);
        }
        return c;
    }

    /** One activation's chosen range and what it was chosen from. */
    public record Range(float observedMin, float observedMax, float lo, float hi, long values, QParams qparams) {}

    /** Ranges and quint8 affine qparams of every observed activation ({@code second} null unless the observer needs it). */
    public static Map<Integer, Range> ranges(Observer o, Calibration first, Calibration second, boolean reduceRange) {
        Map<Integer, Range> out = new LinkedHashMap<>();
        for (Map.Entry<Integer, Calibration.Entry> x : first.entries().entrySet()) {
            Calibration.Entry e = x.getValue();
            float[] r = o.range(e, second == null ? null : second.entries().get(x.getKey()));
            out.put(x.getKey(), new Range(e.min(), e.max(), r[0], r[1], e.count(), QParams.fromMinMax(r[0], r[1], QDtype.QUINT8, false, reduceRange)));
        }
        return out;
    }

    public static Map<Integer, QParams> qparams(Map<Integer, Range> ranges) {
        Map<Integer, QParams> q = new TreeMap<>();
        ranges.forEach((k, r) -> q.put(k, r.qparams()));
        return q;
    }
}
