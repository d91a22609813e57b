package io.squeeze.lowrank;

import io.squeeze.BadInputException;

import java.io.Serializable;

/** How ranks are chosen: one rank for every layer, an energy fraction per layer, or a joint parameter budget. */
public sealed interface RankPolicy extends Serializable {
    /** The same rank k for every chosen layer. */
    record Fixed(int rank) implements RankPolicy {
        public Fixed {
            if (rank <= 0) throw new BadInputException("factorize.rank must be > 0, got " + rank);
        }
    }

    /** Per layer, the smallest k with Σ_{i≤k} σᵢ² ≥ energy · Σ σᵢ². */
    record Energy(double energy) implements RankPolicy {
        public Energy {
            if (!(energy > 0 && energy <= 1)) throw new BadInputException("factorize.energy must be in (0,1], got " + energy);
        }
    }

    /**
     * Ranks of all chosen layers chosen jointly so their factorized weights fit the budget — a fraction of the
     * chosen layers' original weights when {@code fraction} is set, else an absolute count.
     */
    record Budget(double fraction, long count) implements RankPolicy {
        public Budget {
            if (count < 0 && !(fraction > 0 && fraction <= 1))
                throw new BadInputException("factorize.params-budget must be a fraction in (0,1] or a parameter count, got " + fraction);
        }

        public long of(long originalWeights) {
            return count >= 0 ? count : (long) Math.floor(fraction * originalWeights);
        }

        public static Budget parse(String s) {
            try {
                if (s.trim().matches("[0-9]+")) return new Budget(Double.NaN, Long.parseLong(s.trim()));
                return new Budget(Double.parseDouble(s.trim()), -1);
            } catch (NumberFormatException e) {
                throw new BadInputException("factorize.params-budget must be a fraction in (0,1] or a parameter count, got '" + s + "'");
            }
        }
    }
}
