package io.squeeze.lowrank;

import io.squeeze.core.BadInputException;

import java.io.Serializable;

/** How ranks are chosen: one rank for every layer, an energy fraction per layer, or a joint parameter budget. */
public sealed interface RankPolicy extends Serializable {
    /** The same rank k for every chosen layer. */
    record Fixed(int rank) implements RankPolicy {
        public Fixed {
            if (rank <= 0) throw new BadInputException("factorize.rank must be > 0, got " + rank);
        }
    }

    /** A rank or energy per layer, keyed by layer index or name; only those layers are factorized. */
    record PerLayer(java.util.Map<String, RankPolicy> byLayer) implements RankPolicy {
        public PerLayer {
            for (RankPolicy p : byLayer.values())
                if (!(p instanceof Fixed || p instanceof Energy)) throw new IllegalArgumentException("per-layer policies are ranks or energies");
        }

        /** Parses {@code 0:64,dense1:32} (ranks) or {@code 0:0.9,1:0.8} (energies). */
        public static PerLayer parse(String spec, boolean energy, String flag) {
            java.util.Map<String, RankPolicy> m = new java.util.LinkedHashMap<>();
            for (String part : spec.split(",")) {
                int c = part.lastIndexOf(':');
                if (c <= 0) throw new BadInputException(flag + " per-layer entries are LAYER:VALUE, got '" + part + "'");
                String v = part.substring(c + 1).trim();
                try {
                    m.put(part.substring(0, c).trim(), energy ? new Energy(Double.parseDouble(v)) : new Fixed(Integer.parseInt(v)));
                } catch (NumberFormatException e) {
                    throw new BadInputException(flag + " value '" + v + "' for layer " + part.substring(0, c).trim() + " is not a number");
                }
            }
            return new PerLayer(m);
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
