package io.squeeze.artifact;

import io.squeeze.model.LoadedModel;
import io.squeeze.quantize.QuantizedModel;

/**
 * A model as Squeeze runs it: the network with its metadata and masks, and for a quantized artifact its quantized
 * form (integer weights, activation qparams) — the network then holds the dequantized weights. The quantized form
 * lives here, above the techniques, so that the model layer does not depend on the quantize technique.
 *
 * @param quant null unless the model is quantized
 */
public record Loaded(LoadedModel model, QuantizedModel quant) {
    /** A model without a quantized form (null stays null). */
    public static Loaded plain(LoadedModel m) {
        return m == null ? null : new Loaded(m, null);
    }
}
