package io.squeeze.prune;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Mask;

/** Every kept entry with |w| below theta (Han et al. 2015's pruning rule with an absolute threshold). */
@com.fasterxml.jackson.annotation.JsonTypeName("threshold")
public record Threshold(double theta) implements PruneMethod.PerTensor {
    public Threshold {
        if (!(theta >= 0) || Double.isInfinite(theta)) throw new BadInputException("prune.threshold must be a finite number >= 0, got " + theta);
    }

    @Override
    public boolean needsAmount() {
        return false;
    }

    @Override
    public Mask computeMask(Target t) {
        boolean[] kept = new boolean[t.size()];
        for (int i = 0; i < kept.length; i++) kept[i] = t.mask().kept(i) && Math.abs(t.values()[i]) >= theta;
        return Mask.of(kept);
    }
}
