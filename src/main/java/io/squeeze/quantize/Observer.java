package io.squeeze.quantize;

import io.squeeze.core.BadInputException;

import java.io.Serializable;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * How an activation's quantization range is chosen from calibration statistics. Each observer owns its kernel: the
 * passes it needs over the calibration data ({@link #firstPass}, {@link #secondPass}) and the range it takes from
 * what they collected ({@link #range}); {@link Calibrator} and {@code spark.QuantizeJob} run any of them.
 */
public sealed interface Observer extends Serializable {

    /** The first pass: min/max of every activation (with quantile sketches when the observer reads percentiles). */
    default Calibration.Pass firstPass() {
        return Calibration.Pass.minMax(false);
    }

    /** The histogram pass the observer needs after {@code first}, or null for none. */
    default Calibration.Pass secondPass(Calibration first) {
        return null;
    }

    /** The name a manifest stores, which {@link #parse} reads back. */
    @com.fasterxml.jackson.annotation.JsonValue
    String toString();

    /** The chosen {lo, hi} of one activation from its first-pass entry and its second-pass entry (null without one). */
    float[] range(Calibration.Entry first, Calibration.Entry second);

    /** Running min and max (PyTorch's MinMaxObserver). */
    record MinMax() implements Observer {
        @Override
        public float[] range(Calibration.Entry first, Calibration.Entry second) {
            return new float[]{first.min(), first.max()};
        }

        @Override
        public String toString() {
            return "minmax";
        }
    }

    /** The range minimising the L2 quantization error over a histogram (PyTorch's HistogramObserver search). */
    record Histogram() implements Observer {
        @Override
        public Calibration.Pass secondPass(Calibration first) {
            Map<Integer, float[]> edges = new TreeMap<>();
            first.entries().forEach((k, e) -> edges.put(k, new float[]{e.min(), e.max()}));
            return new Calibration.Pass(false, edges, false, Calibrator.BINS);
        }

        @Override
        public float[] range(Calibration.Entry first, Calibration.Entry second) {
            return RangeChoice.histogramL2(second.histogram(), 256);
        }

        @Override
        public String toString() {
            return "histogram";
        }
    }

    /** [P-th percentile from below, P-th from above], from a relative-error quantile sketch. */
    record Percentile(double p) implements Observer {
        public Percentile {
            if (!(p > 0 && p <= 100)) throw new BadInputException("quantize.observer percentile must be in (0,100], got " + p);
        }

        @Override
        public Calibration.Pass firstPass() {
            return Calibration.Pass.minMax(true);
        }

        @Override
        public float[] range(Calibration.Entry first, Calibration.Entry second) {
            float[] r = RangeChoice.percentile(first.up(), first.down(), p / 100.0);
            return new float[]{Math.max(first.min(), r[0]), Math.min(first.max(), r[1])};
        }

        @Override
        public String toString() {
            return "percentile:" + p;
        }
    }

    /** The clipping threshold minimising KL(P‖Q) over a histogram of |x| (TensorRT's entropy calibration). */
    record Entropy() implements Observer {
        @Override
        public Calibration.Pass secondPass(Calibration first) {
            Map<Integer, float[]> edges = new TreeMap<>();
            first.entries().forEach((k, e) -> edges.put(k, new float[]{0f, Math.max(Math.abs(e.min()), Math.abs(e.max()))}));
            return new Calibration.Pass(false, edges, true, Calibrator.BINS);
        }

        @Override
        public float[] range(Calibration.Entry first, Calibration.Entry second) {
            float t = RangeChoice.entropy(second.histogram(), first.min() >= 0 ? 256 : 128);
            // clip at ±t, but an affine range need not reach past what was observed
            return new float[]{first.min() >= 0 ? 0f : Math.max(first.min(), -t), Math.min(first.max(), t)};
        }

        @Override
        public String toString() {
            return "entropy";
        }
    }

    /** Parses {@code minmax | histogram | percentile:P | entropy}, the form {@link #toString} writes (and manifests store). */
    @com.fasterxml.jackson.annotation.JsonCreator
    static Observer parse(String s) {
        String t = s == null ? "minmax" : s.trim().toLowerCase(Locale.ROOT);
        if (t.equals("minmax")) return new MinMax();
        if (t.equals("histogram")) return new Histogram();
        if (t.equals("entropy")) return new Entropy();
        if (t.startsWith("percentile:")) {
            try {
                return new Percentile(Double.parseDouble(t.substring(11)));
            } catch (NumberFormatException e) {
                throw new BadInputException("quantize.observer percentile must be a number, got '" + t.substring(11) + "'");
            }
        }
        throw new BadInputException("quantize.observer must be minmax, histogram, percentile:P or entropy, got '" + s + "'");
    }
}
