package io.squeeze.prune;

import io.squeeze.BadInputException;

import java.io.Serializable;
import java.util.Locale;

/**
 * The pruning methods, with the semantics of PyTorch's {@code torch.nn.utils.prune}: every method prunes among
 * the entries (or channels) not pruned yet, and the new mask is combined with the old one.
 */
public sealed interface PruneMethod extends Serializable {
    /** Unstructured, entries chosen uniformly at random (seeded): {@code random_unstructured}. */
    record RandomUnstructured(long seed) implements PruneMethod {}

    /** Unstructured, smallest |w| per tensor: {@code l1_unstructured}. */
    record L1Unstructured() implements PruneMethod {}

    /** Unstructured, smallest |w| across all chosen tensors with one threshold: {@code global_unstructured}. */
    record GlobalUnstructured() implements PruneMethod {}

    /** Whole output (or input) neurons/channels with the smallest Ln norm: {@code ln_structured}. */
    record LnStructured(Norm norm, Dim dim) implements PruneMethod {}

    /** Every entry with |w| below theta. */
    record Threshold(double theta) implements PruneMethod {
        public Threshold {
            if (!(theta >= 0) || Double.isInfinite(theta)) throw new BadInputException("prune.threshold must be a finite number >= 0, got " + theta);
        }
    }

    /** The norm ranking channels for {@link LnStructured}. */
    enum Norm {
        L1, L2, LINF;

        public static Norm parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "1" -> L1;
                case "2" -> L2;
                case "inf" -> LINF;
                default -> throw new BadInputException("prune.norm must be 1, 2 or inf, got '" + s + "'");
            };
        }
    }

    /** Which slices {@link LnStructured} removes: output neurons/channels or inputs. */
    enum Dim { OUT, IN }

    /** A short name for manifests. */
    default String label() {
        if (this instanceof RandomUnstructured) return "random";
        if (this instanceof L1Unstructured) return "l1";
        if (this instanceof GlobalUnstructured) return "global";
        if (this instanceof LnStructured ln) return "ln(" + ln.norm().name().toLowerCase(Locale.ROOT) + "," + ln.dim().name().toLowerCase(Locale.ROOT) + ")";
        return "threshold";
    }
}
