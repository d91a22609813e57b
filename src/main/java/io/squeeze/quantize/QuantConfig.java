package io.squeeze.quantize;

import io.squeeze.core.BadInputException;
import io.squeeze.core.LayerSelector;

import java.io.Serializable;
import java.util.List;
import java.util.Locale;

/**
 * What {@code squeeze quantize} does, validated on construction.
 *
 * @param mode        dynamic (activations quantized per batch from their own range), static (from calibration) or
 *                    QAT (fake-quantized fine-tuning, then as static)
 * @param precision   weights' default precision
 * @param granularity weight qparams per tensor or per output channel
 * @param scheme      weights symmetric (signed, zero point 0) or affine (unsigned); activations are always quint8
 *                    affine, as PyTorch's defaults; null for fp16 (no scheme applies)
 * @param reduceRange activations use 7 bits (PyTorch's reduce_range)
 * @param observer    how activation ranges are chosen from calibration data
 * @param overrides   per-layer precisions, first match wins (mixed precision)
 */
public record QuantConfig(Mode mode, Precision precision, Granularity granularity, Scheme scheme, boolean reduceRange,
                          Observer observer, List<LayerOverride> overrides) implements Serializable {

    public enum Mode { DYNAMIC, STATIC, QAT }

    /** Per-layer storage and arithmetic of weights. */
    public enum Precision {
        INT8, INT4, FP16, NF4, FP32;

        public boolean integer() {
            return this == INT8 || this == INT4;
        }

        public QuantizedTensor.Format format() {
            return switch (this) {
                case INT8 -> QuantizedTensor.Format.INT8;
                case INT4 -> QuantizedTensor.Format.INT4;
                case FP16 -> QuantizedTensor.Format.FP16;
                case NF4 -> QuantizedTensor.Format.NF4;
                case FP32 -> null;
            };
        }

        /** {@code 8}, {@code 4}, {@code fp16} or {@code fp32}. */
        public static Precision parse(String s, String field) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "8", "int8" -> INT8;
                case "4", "int4" -> INT4;
                case "fp16" -> FP16;
                case "nf4" -> NF4;
                case "fp32" -> FP32;
                default -> throw new BadInputException(field + " must be 8, 4, fp16, nf4 or fp32, got '" + s.trim() + "'");
            };
        }
    }

    public enum Granularity { TENSOR, CHANNEL }

    public enum Scheme { SYMMETRIC, AFFINE }

    /** Layers matched by {@code layers} take {@code precision}. */
    public record LayerOverride(LayerSelector layers, Precision precision) implements Serializable {
        /** {@code SELECTOR=PRECISION}, e.g. {@code 0=8}, {@code dense*=4}, {@code 6=fp32}. */
        public static LayerOverride parse(String s) {
            int eq = s.lastIndexOf('=');
            if (eq <= 0 || eq == s.length() - 1)
                throw new BadInputException("quantize.layer-precision must look like LAYERS=8|4|fp16|nf4|fp32 (e.g. 0=8), got '" + s + "'");
            return new LayerOverride(LayerSelector.parse(s.substring(0, eq)), Precision.parse(s.substring(eq + 1), "quantize.layer-precision '" + s + "'"));
        }
    }

    public QuantConfig {
        if (mode == null) throw new BadInputException("quantize.mode must be dynamic, static or qat");
        if (precision == null || precision == Precision.FP32)
            throw new BadInputException("quantize.bits must be 8 or 4 (or --dtype fp16), got " + precision);
        if ((precision == Precision.FP16 || precision == Precision.NF4) && scheme != null)
            throw new BadInputException("quantize.scheme does not apply to --dtype " + precision.name().toLowerCase(Locale.ROOT)
                    + " (" + (precision == Precision.FP16 ? "half precision has no scale or zero point" : "nf4 scales each block of 64 by its maximum") + "), got " + scheme);
        if (precision.integer() && scheme == null) scheme = Scheme.SYMMETRIC;
        if (granularity == null) granularity = Granularity.CHANNEL;
        if (observer == null) observer = new Observer.MinMax();
        overrides = overrides == null ? List.of() : List.copyOf(overrides);
        if (mode == Mode.DYNAMIC && !(observer instanceof Observer.MinMax))
            throw new BadInputException("quantize.observer " + observer + " needs calibration; dynamic mode takes each batch's own range");
    }

    /** The precision of layer {@code index} (named {@code name}). */
    public Precision precisionOf(int index, String name) {
        for (LayerOverride o : overrides) if (o.layers().matches(index, name)) return o.precision();
        return precision;
    }

    /**
     * Whether activation qparams come from calibration data: static and QAT, when some layer has integer weights
     * (fp16 and fp32 layers keep float activations, so an all-fp16 model needs no calibration).
     */
    public boolean calibrated() {
        return mode != Mode.DYNAMIC && (precision.integer() || overrides.stream().anyMatch(o -> o.precision().integer()));
    }

    public static Observer observer(String s) {
        return Observer.parse(s);
    }
}
