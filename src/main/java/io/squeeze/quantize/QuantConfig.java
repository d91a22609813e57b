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
 * @param rounding    how integer weights are rounded: to the nearest level, or by {@link Gptq} against the layer's
 *                    calibration inputs (null in a manifest from before the option: nearest)
 */
public record QuantConfig(Mode mode, Precision precision, Granularity granularity, Scheme scheme, boolean reduceRange,
                          Observer observer, List<LayerOverride> overrides, Rounding rounding) implements Serializable {

    public enum Mode { DYNAMIC, STATIC, QAT }

    /**
     * Integer weights rounded to the nearest level (PyTorch's rule), or by GPTQ (Frantar et al. 2023) with the
     * reference implementation's dampening {@link #GPTQ_DAMP} and inputs in decreasing Hessian diagonal ("act order").
     */
    public enum Rounding {
        NEAREST, GPTQ;

        public static Rounding parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "nearest" -> NEAREST;
                case "gptq" -> GPTQ;
                default -> throw new BadInputException("quantize.rounding must be nearest or gptq, got '" + s.trim() + "'");
            };
        }
    }

    public static final double GPTQ_DAMP = 0.01;

    public QuantConfig(Mode mode, Precision precision, Granularity granularity, Scheme scheme, boolean reduceRange,
                       Observer observer, List<LayerOverride> overrides) {
        this(mode, precision, granularity, scheme, reduceRange, observer, overrides, Rounding.NEAREST);
    }

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
        if (rounding == null) rounding = Rounding.NEAREST;
        if (rounding == Rounding.GPTQ && mode == Mode.QAT)
            throw new BadInputException("quantize.rounding gptq applies to static and dynamic modes (QAT learns its rounding by training), got --mode qat");
        if (rounding == Rounding.GPTQ && !precision.integer() && overrides.stream().noneMatch(o -> o.precision().integer()))
            throw new BadInputException("quantize.rounding gptq needs int8 or int4 weights (it rounds integers), got " + precision.name().toLowerCase(Locale.ROOT) + " in every layer");
        if (mode == Mode.DYNAMIC && !(observer instanceof Observer.MinMax))
            throw new BadInputException("quantize.observer " + observer + " needs calibration; dynamic mode takes each batch's own range");
    }

    /** This configuration with its overrides' layer indices moved ({@link io.squeeze.core.LayerSelector#reindexed}). */
    public QuantConfig reindexed(int[] to) {
        List<LayerOverride> o = new java.util.ArrayList<>();
        for (LayerOverride x : overrides) o.add(new LayerOverride(x.layers().reindexed(to), x.precision()));
        return new QuantConfig(mode, precision, granularity, scheme, reduceRange, observer, o, rounding);
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

    /** Whether the command needs calibration data: for activation ranges, or for GPTQ's layer inputs. */
    public boolean needsCalibrationData() {
        return calibrated() || rounding == Rounding.GPTQ;
    }

    public static Observer observer(String s) {
        return Observer.parse(s);
    }
}
