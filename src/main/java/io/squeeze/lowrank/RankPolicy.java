package io.squeeze.lowrank;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import io.squeeze.core.BadInputException;

import java.io.Serializable;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * How ranks are chosen: one rank for every layer, an energy fraction per layer, a joint parameter budget, or any of
 * the first two per layer. Each policy owns its choice ({@link #choose}); {@code spark.FactorizeJob} runs any of them.
 * A manifest stores a policy by the name of its CLI option ({@code "name"}) and its components.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "name")
@JsonSubTypes({@JsonSubTypes.Type(value = RankPolicy.Fixed.class, name = "rank"), @JsonSubTypes.Type(value = RankPolicy.Energy.class, name = "energy"),
        @JsonSubTypes.Type(value = RankPolicy.Budget.class, name = "params_budget"), @JsonSubTypes.Type(value = RankPolicy.PerLayer.class, name = "per_layer")})
public sealed interface RankPolicy extends Serializable {

    /** The rank of each layer, in order. */
    int[] choose(List<Ranks.Layer> layers);

    /** Whether {@link #choose} reads singular values (a fixed rank does not, so no spectrum pass runs for it). */
    default boolean needsSpectrum() {
        return true;
    }

    /** Whether the policy applies to layer {@code index} (named {@code name}, or null); every layer unless it names them. */
    default boolean covers(int index, String name) {
        return true;
    }

    /** Refuses a policy naming layers that are not there, given how many factorizable layers it {@link #covers}. */
    default void checkCovered(int found) {}

    /** The same rank k for every chosen layer. */
    record Fixed(int rank) implements RankPolicy {
        public Fixed {
            if (rank <= 0) throw new BadInputException("factorize.rank must be > 0, got " + rank);
        }

        @Override
        public int[] choose(List<Ranks.Layer> layers) {
            int[] k = new int[layers.size()];
            for (int i = 0; i < k.length; i++) {
                Ranks.Layer l = layers.get(i);
                if (rank > l.maxRank())
                    throw new BadInputException("factorize.rank " + rank + " is above min(nIn, nOut) = " + l.maxRank() + " of " + l.name());
                k[i] = rank;
            }
            return k;
        }

        @Override
        public boolean needsSpectrum() {
            return false;
        }
    }

    /** Per layer, the smallest k with Σ_{i≤k} σᵢ² ≥ energy · Σ σᵢ². */
    record Energy(double energy) implements RankPolicy {
        public Energy {
            if (!(energy > 0 && energy <= 1)) throw new BadInputException("factorize.energy must be in (0,1], got " + energy);
        }

        @Override
        public int[] choose(List<Ranks.Layer> layers) {
            return layers.stream().mapToInt(l -> Ranks.energyRank(l.s(), energy)).toArray();
        }
    }

    /** A rank or energy per layer, keyed by layer index or name; only those layers are factorized. */
    record PerLayer(Map<String, RankPolicy> byLayer) implements RankPolicy {
        public PerLayer {
            for (RankPolicy p : byLayer.values())
                if (!(p instanceof Fixed || p instanceof Energy)) throw new IllegalArgumentException("per-layer policies are ranks or energies");
        }

        /** The policy of layer {@code index} / {@code name}, or null. */
        RankPolicy of(int index, String name) {
            RankPolicy own = byLayer.get(Integer.toString(index));
            return own != null || name == null ? own : byLayer.get(name);
        }

        @Override
        public boolean covers(int index, String name) {
            return of(index, name) != null;
        }

        @Override
        public void checkCovered(int found) {
            if (found != byLayer.size())
                throw new BadInputException("per-layer ranks name " + byLayer.keySet() + " but only " + found + " of them are factorizable layers");
        }

        @Override
        public int[] choose(List<Ranks.Layer> layers) {
            int[] k = new int[layers.size()];
            for (int i = 0; i < k.length; i++) {
                Ranks.Layer l = layers.get(i);
                RankPolicy own = of(l.index(), l.layerName());
                if (own == null) throw new IllegalArgumentException(l.name() + " has no per-layer rank");
                k[i] = own.choose(List.of(l))[0];
            }
            return k;
        }

        /** Parses {@code 0:64,dense1:32} (ranks) or {@code 0:0.9,1:0.8} (energies). */
        public static PerLayer parse(String spec, boolean energy, String flag) {
            Map<String, RankPolicy> m = new java.util.LinkedHashMap<>();
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

    /**
     * Ranks of all chosen layers chosen jointly so their factorized weights fit the budget — a fraction of the
     * chosen layers' original weights when {@code fraction} is set, else an absolute count.
     *
     * <p>The budget is filled greedily by energy per weight: every layer starts at rank 1 and the next singular value
     * taken is the one with the largest σᵢ² / (nIn + nOut) among all layers. Because each layer's σᵢ² are
     * non-increasing, this greedy order minimises the total discarded energy Σ σᵢ² over the budget (the
     * fractional-knapsack argument, exact up to the last value that does not fit).
     */
    record Budget(double fraction, long count) implements RankPolicy {
        public Budget {
            if (count < 0 && !(fraction > 0 && fraction <= 1))
                throw new BadInputException("factorize.params-budget must be a fraction in (0,1] or a parameter count, got " + fraction);
        }

        public long of(long originalWeights) {
            return count >= 0 ? count : (long) Math.floor(fraction * originalWeights);
        }

        @Override
        public int[] choose(List<Ranks.Layer> layers) {
            int[] k = new int[layers.size()];
            long total = layers.stream().mapToLong(Ranks.Layer::dense).sum();
            long budget = of(total), used = 0;
            for (int i = 0; i < k.length; i++) {
                k[i] = 1;
                used += layers.get(i).cost(1);
            }
            if (used > budget)
                throw new BadInputException("factorize.params-budget " + budget + " weights cannot be met: rank 1 everywhere needs " + used);
            PriorityQueue<int[]> q = new PriorityQueue<>((x, y) -> Double.compare(Ranks.gain(layers.get(y[0]), y[1]), Ranks.gain(layers.get(x[0]), x[1])));
            for (int i = 0; i < k.length; i++) if (layers.get(i).maxRank() > 1) q.add(new int[]{i, 1});
            while (!q.isEmpty()) {
                int[] top = q.poll();
                Ranks.Layer l = layers.get(top[0]);
                long c = l.rows() + l.cols();
                if (used + c > budget) continue;
                used += c;
                k[top[0]] = top[1] + 1;
                if (top[1] + 1 < l.maxRank()) q.add(new int[]{top[0], top[1] + 1});
            }
            return k;
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
