package io.squeeze.search;

import io.squeeze.core.BadInputException;

import java.util.List;

/**
 * Per-layer sensitivity curves (stored as {@code sensitivity.json}, {@link #FORMAT} version {@link #VERSION}): for each
 * layer and each level, the metrics on the data with only that layer compressed at that level and nothing
 * fine-tuned, and the storage that saves — the measurement NVIDIA ModelOpt's {@code auto_quantize} and Han et al.
 * 2015's per-layer pruning rates start from. A recipe may point at a saved file instead of measuring again; the
 * model's sha256 says which model the curves belong to.
 *
 * @param baseline the metrics of the model as it is
 */
public record Sensitivity(String format, int version, String technique, String model, String modelSha256, String data,
                          List<Double> levels, Point baseline, List<LayerCurve> layers, Run run) {
    public static final String FORMAT = "squeeze-sensitivity";
    public static final int VERSION = 1;

    public Sensitivity {
        if (!FORMAT.equals(format)) throw new BadInputException("not a sensitivity file (format '" + format + "', expected " + FORMAT + ")");
        if (version < 1 || version > VERSION) throw new BadInputException("sensitivity file version " + version + " is not supported (1.." + VERSION + ")");
        levels = List.copyOf(levels);
        layers = List.copyOf(layers);
    }

    /** Metrics at one level; {@code bitsSaved} against fp32 storage of the tensor. */
    public record Point(double level, double accuracy, double loss, double bitsSaved) {}

    /** One layer's weights and its curve, in level order. */
    public record LayerCurve(int index, String name, String type, long params, List<Point> curve) {
        public LayerCurve {
            curve = List.copyOf(curve);
        }

        /** The point at {@code level}; a level not measured is bad input. */
        public Point at(double level) {
            for (Point p : curve) if (p.level() == level) return p;
            throw new BadInputException("layer " + index + " (" + name + ") has no sensitivity measured at level " + level);
        }
    }

    /** How the curves were measured. */
    public record Run(int trials, long rows, String parallelism, double seconds) {}

    public LayerCurve layer(int index) {
        for (LayerCurve l : layers) if (l.index() == index) return l;
        return null;
    }
}
