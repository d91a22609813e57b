package io.squeeze.prune;

import io.squeeze.core.Mask;

import java.util.Locale;

/**
 * Whole output (or input) neurons/channels with the smallest Ln norm: PyTorch's {@code ln_structured} (Li et al.,
 * "Pruning Filters for Efficient ConvNets", ICLR 2017). The kernel is {@link Structured#ln}.
 */
@com.fasterxml.jackson.annotation.JsonTypeName("ln")
public record LnStructured(PruneMethod.Norm norm, PruneMethod.Dim dim) implements PruneMethod.PerTensor {
    @Override
    public String label() {
        return "ln(" + norm.name().toLowerCase(Locale.ROOT) + "," + dim.name().toLowerCase(Locale.ROOT) + ")";
    }

    @Override
    public void check(Target t) {
        Structured.check(t, this, what(t));
    }

    @Override
    public Mask computeMask(Target t) {
        return Structured.ln(t, this, what(t));
    }

    private static String what(Target t) {
        return "layer " + t.layer() + " " + t.param();
    }
}
