package io.squeeze.lowrank;

import io.squeeze.core.BadInputException;

import java.io.Serializable;

/** Exact (LAPACK) or randomized (Halko et al.) truncated SVD. */
public sealed interface SvdMethod extends Serializable {
    record Exact() implements SvdMethod {}

    /** Oversampling p, power iterations q, seed: {@code torch.svd_lowrank(A, q = k + p, niter = q)}. */
    record Randomized(int oversample, int powerIters, long seed) implements SvdMethod {
        public Randomized {
            if (oversample < 0) throw new BadInputException("factorize.oversample must be >= 0, got " + oversample);
            if (powerIters < 0) throw new BadInputException("factorize.power-iters must be >= 0, got " + powerIters);
        }
    }
}
