package io.squeeze.prune;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Mask;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import com.fasterxml.jackson.annotation.JsonTypeName;

import java.io.Serializable;
import java.util.Locale;

/**
 * A pruning method, with the semantics of PyTorch's {@code torch.nn.utils.prune}: every method prunes among the
 * entries (or channels) not pruned yet, and the new mask is combined with the old one. As in {@code prune.py}, each
 * method is one class that owns its kernel; it is one of two kinds, and {@link Pruner} (in process) and
 * {@code spark.SparkPruner} (on executors) run either kind without knowing the method:
 * <ul>
 *   <li>{@link PerTensor}: the mask of a tensor follows from that tensor alone ({@code compute_mask});</li>
 *   <li>{@link Selecting}: the method scores entries, and the lowest-scored k of a selection group (one tensor, or
 *       every chosen tensor together) are pruned by an exact distributed k-selection ({@link Selection}).</li>
 * </ul>
 * Adding a method is one new class implementing one of the two, plus its name in the CLI ({@code docs/ARCHITECTURE.md}).
 * In a manifest a method is stored as an object whose {@code "name"} is its {@link JsonTypeName} (the CLI's name for
 * it) and whose other fields are its record components.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "name")
public sealed interface PruneMethod extends Serializable permits PruneMethod.PerTensor, PruneMethod.Selecting {

    /** A short name for progress lines and per-layer notes: the method's {@link JsonTypeName}, unless it says more. */
    default String label() {
        JsonTypeName name = getClass().getAnnotation(JsonTypeName.class);
        if (name == null) throw new IllegalStateException(getClass().getName() + " needs @JsonTypeName (its name in manifests and the CLI)");
        return name.value();
    }

    /** Refuses a tensor the method cannot prune ({@link BadInputException} naming it), before any work starts. */
    default void check(Target t) {}

    /** Whether the method needs an amount (how much to prune); a threshold carries its own criterion. */
    default boolean needsAmount() {
        return true;
    }

    /** A method whose new mask of a tensor depends on that tensor only. */
    non-sealed interface PerTensor extends PruneMethod {
        /** The tensor's new mask (entries already pruned stay pruned). */
        Mask computeMask(Target t);
    }

    /** A method that prunes the lowest-scored entries of each selection group. */
    non-sealed interface Selecting extends PruneMethod {
        /**
         * Scores of the entries {@code [from, to)} of {@code t}: non-negative for candidates, NaN for entries already
         * pruned. A score must depend only on the tensor and the position, never on how the tensor is chunked.
         */
        float[] scores(Target t, int from, int to);

        /** Whether all chosen tensors form one selection group (one threshold) instead of one group per tensor. */
        default boolean global() {
            return false;
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
}
