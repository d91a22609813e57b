package io.squeeze.lowrank;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import io.squeeze.core.BadInputException;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.Serializable;

/** How a layer's truncated SVD is computed; each method owns its kernel ({@link #truncated}). */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "name")
@JsonSubTypes({@JsonSubTypes.Type(value = SvdMethod.Exact.class, name = "exact"), @JsonSubTypes.Type(value = SvdMethod.Randomized.class, name = "randomized")})
public sealed interface SvdMethod extends Serializable {

    /** The rank-{@code k} truncated SVD of {@code a} (at most min(rows, cols) values). */
    Svd.Factors truncated(INDArray a, int k);

    /** A short name for per-layer notes. */
    String label();

    /** Exact: the full SVD from the Gram matrix's eigendecomposition (LAPACK {@code syev}), then truncated. */
    record Exact() implements SvdMethod {
        @Override
        public Svd.Factors truncated(INDArray a, int k) {
            return Svd.exact(a).truncate(k);
        }

        @Override
        public String label() {
            return "exact";
        }
    }

    /**
     * Randomized (Halko, Martinsson and Tropp 2011) with oversampling p, power iterations q and a seed:
     * {@code torch.svd_lowrank(A, q = k + p, niter = q)}.
     */
    record Randomized(int oversample, int powerIters, long seed) implements SvdMethod {
        public Randomized {
            if (oversample < 0) throw new BadInputException("factorize.oversample must be >= 0, got " + oversample);
            if (powerIters < 0) throw new BadInputException("factorize.power-iters must be >= 0, got " + powerIters);
        }

        @Override
        public Svd.Factors truncated(INDArray a, int k) {
            return Svd.randomized(a, k, oversample, powerIters, seed);
        }

        @Override
        public String label() {
            return "randomized";
        }
    }
}
