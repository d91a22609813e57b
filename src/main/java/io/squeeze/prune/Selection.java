package io.squeeze.prune;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BiFunction;

/**
 * Exact k-smallest selection over chunks by two-level radix histograms (the counting selection of radix select,
 * as in Alabi et al., "Fast k-selection algorithms for graphics processing units", 2012): a histogram of the
 * high 16 bits of every score finds the bin of the k-th smallest, a histogram of the low 16 bits within that bin
 * finds the value {@code t}; scores below {@code t} are pruned, and entries equal to {@code t} are pruned in
 * (tensor, chunk, position) order until exactly k are. Four passes, each O(n), each a merge of mergeable values —
 * never a sort of the weights and never all weights in one place. The {@link Runner} runs the passes, in this
 * process or on Spark executors; both give identical masks.
 */
public final class Selection {
    private Selection() {}

    /** Where the four chunk passes run. */
    public interface Runner {
        /** High-bit histograms merged per group. */
        Map<Integer, RadixHistogram> high();

        /** Low-bit histograms within each group's high bin, merged per group. */
        Map<Integer, RadixHistogram> low(Map<Integer, Integer> highBin);

        /** Entries equal to the group's threshold, per chunk id. */
        Map<Long, Long> equal(Map<Integer, Float> threshold);

        /** Pruned entries per chunk id (bit i set = entry i pruned), given thresholds and tie quotas. */
        Map<Long, java.util.BitSet> prune(Map<Integer, Float> threshold, Map<Long, Long> quota);
    }

    /** The cut for one group: prune scores below {@code threshold} and {@code ties} entries equal to it. */
    public record Cut(float threshold, long ties, long candidates, long pruned) {}

    /**
     * Runs the selection. {@code toPrune} gives, per group and its candidate count, how many to prune (it may
     * throw bad input). Returns pruned flags per chunk id and the cut per group.
     */
    public static Result run(Runner r, BiFunction<Integer, Long, Long> toPrune) {
        Map<Integer, RadixHistogram> high = r.high();
        Map<Integer, Long> k = new TreeMap<>();
        Map<Integer, Long> candidates = new HashMap<>();
        Map<Integer, Integer> bin = new TreeMap<>();
        Map<Integer, Long> below = new HashMap<>();
        for (Map.Entry<Integer, RadixHistogram> e : high.entrySet()) {
            long n = e.getValue().total();
            long kk = toPrune.apply(e.getKey(), n);
            candidates.put(e.getKey(), n);
            k.put(e.getKey(), kk);
            if (kk > 0) {
                long[] loc = e.getValue().locate(kk);
                bin.put(e.getKey(), (int) loc[0]);
                below.put(e.getKey(), loc[1]);
            }
        }
        Map<Integer, Float> threshold = new TreeMap<>();
        Map<Integer, Long> ties = new HashMap<>();
        if (!bin.isEmpty()) {
            for (Map.Entry<Integer, RadixHistogram> e : r.low(bin).entrySet()) {
                int g = e.getKey();
                long need = k.get(g) - below.get(g);
                long[] loc = e.getValue().locate(need);
                threshold.put(g, Float.intBitsToFloat((bin.get(g) << 16) | (int) loc[0]));
                ties.put(g, need - loc[1]);
            }
        }
        Map<Long, Long> quota = new HashMap<>();
        if (!threshold.isEmpty()) {
            Map<Integer, Long> left = new HashMap<>(ties);
            TreeMap<Long, Long> eq = new TreeMap<>(r.equal(threshold)); // chunk id order = (tensor, index)
            for (Long id : eq.keySet()) {
                long[] gAndCount = decode(eq.get(id));
                int g = (int) gAndCount[0];
                long q = Math.min(gAndCount[1], left.get(g));
                left.put(g, left.get(g) - q);
                quota.put(id, q);
            }
        }
        Map<Long, java.util.BitSet> pruned = threshold.isEmpty() ? Map.of() : r.prune(threshold, quota);
        Map<Integer, Cut> cuts = new TreeMap<>();
        for (Integer g : k.keySet())
            cuts.put(g, new Cut(threshold.getOrDefault(g, Float.NEGATIVE_INFINITY), ties.getOrDefault(g, 0L), candidates.get(g), k.get(g)));
        return new Result(pruned, cuts);
    }

    /** Pruned flags per chunk id, and the cut per group. */
    public record Result(Map<Long, java.util.BitSet> pruned, Map<Integer, Cut> cuts) {}

    /** {@link Runner#equal} values carry the chunk's group in the high 16 bits and the count in the low 48. */
    public static long encode(int group, long count) {
        return ((long) group << 48) | count;
    }

    static long[] decode(long v) {
        return new long[]{v >>> 48, v & ((1L << 48) - 1)};
    }

    /** Runs the passes in this process. */
    public static Runner local(List<Chunk> chunks) {
        return new Runner() {
            @Override
            public Map<Integer, RadixHistogram> high() {
                Map<Integer, RadixHistogram> m = new TreeMap<>();
                for (Chunk c : chunks) m.merge(c.group(), c.high(), RadixHistogram::merge);
                return m;
            }

            @Override
            public Map<Integer, RadixHistogram> low(Map<Integer, Integer> highBin) {
                Map<Integer, RadixHistogram> m = new TreeMap<>();
                for (Chunk c : chunks) if (highBin.containsKey(c.group())) m.merge(c.group(), c.low(highBin.get(c.group())), RadixHistogram::merge);
                return m;
            }

            @Override
            public Map<Long, Long> equal(Map<Integer, Float> threshold) {
                Map<Long, Long> m = new HashMap<>();
                for (Chunk c : chunks) if (threshold.containsKey(c.group())) m.put(c.id(), encode(c.group(), c.equalTo(threshold.get(c.group()))));
                return m;
            }

            @Override
            public Map<Long, java.util.BitSet> prune(Map<Integer, Float> threshold, Map<Long, Long> quota) {
                Map<Long, java.util.BitSet> m = new HashMap<>();
                for (Chunk c : chunks) if (threshold.containsKey(c.group())) m.put(c.id(), c.pruned(threshold.get(c.group()), quota.getOrDefault(c.id(), 0L)));
                return m;
            }
        };
    }
}
