package io.squeeze.quantize;

import io.squeeze.core.BadInputException;
import io.squeeze.core.LayerSelector;

import java.io.Serializable;
import java.util.List;
import java.util.Locale;

/**
 * What {@code squeeze quantize --mode codebook} does (weight sharing, {@link WeightSharing}), validated on
 * construction.
 *
 * @param bits      every layer's weights share at most 2^bits values, bits in [1, 8]
 * @param overrides per-layer bits, first match wins; 0 keeps a layer's weights as they are (fp32)
 */
public record CodebookConfig(int bits, List<LayerBits> overrides) implements Serializable {

    /** Layers matched by {@code layers} share 2^bits values (0: left in float32). */
    public record LayerBits(LayerSelector layers, int bits) implements Serializable {
        public LayerBits {
            if (layers == null) throw new BadInputException("quantize.layer-precision needs layers");
            if (bits != 0) checkBits(bits, "quantize.layer-precision " + layers);
        }

        /** {@code SELECTOR=B} with B in [1, 8] or {@code fp32}, e.g. {@code 0-1=6}, {@code 2=4}, {@code out*=fp32}. */
        public static LayerBits parse(String s) {
            int eq = s.lastIndexOf('=');
            if (eq <= 0 || eq == s.length() - 1)
                throw new BadInputException("quantize.layer-precision must look like LAYERS=B (B in 1..8 or fp32, e.g. 0=6) with --mode codebook, got '" + s + "'");
            String v = s.substring(eq + 1).trim().toLowerCase(Locale.ROOT);
            int b;
            if (v.equals("fp32")) b = 0;
            else {
                try {
                    b = Integer.parseInt(v);
                } catch (NumberFormatException e) {
                    throw new BadInputException("quantize.layer-precision '" + s + "': codebook bits must be 1..8 or fp32, got '" + v + "'");
                }
                checkBits(b, "quantize.layer-precision '" + s + "'");
            }
            return new LayerBits(LayerSelector.parse(s.substring(0, eq)), b);
        }
    }

    public CodebookConfig {
        checkBits(bits, "quantize.bits");
        overrides = overrides == null ? List.of() : List.copyOf(overrides);
    }

    static void checkBits(int b, String field) {
        if (b < 1 || b > 8) throw new BadInputException(field + " must be in [1, 8] for --mode codebook (2 to 256 shared values), got " + b);
    }

    /** Bits of layer {@code index} (named {@code name}); 0 for a layer left in float32. */
    public int bitsOf(int index, String name) {
        for (LayerBits o : overrides) if (o.layers().matches(index, name)) return o.bits();
        return bits;
    }
}
