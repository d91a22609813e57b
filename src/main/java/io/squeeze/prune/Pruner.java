package io.squeeze.prune;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Mask;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Computes the new masks of a set of tensors for one method in this process: a {@link PruneMethod.PerTensor}
 * method tensor by tensor, a {@link PruneMethod.Selecting} method through {@link Selection} over chunks of its
 * scores. {@code spark.SparkPruner} runs the same kernels on executors and returns the same masks.
 */
public final class Pruner {
    private Pruner() {}

    /** The selection group of a tensor: one per tensor, or one for all with a global method. */
    public static int group(PruneMethod.Selecting m, Target t) {
        return m.global() ? 0 : t.id();
    }

    /** How many entries group {@code g} prunes out of its {@code candidates}. */
    public static long toPrune(PruneMethod.Selecting m, List<Target> targets, Amount global, int g, long candidates) {
        if (m.global()) return global.of(candidates, "the chosen layers together");
        Target t = targets.stream().filter(x -> x.id() == g).findFirst().orElseThrow();
        return t.amount().of(candidates, "layer " + t.layer() + " " + t.param());
    }

    /** Chunks of at most {@code size} scores of {@code t} for {@code m}. */
    public static List<Chunk> chunks(Target t, PruneMethod.Selecting m, int size) {
        List<Chunk> out = new ArrayList<>();
        for (int from = 0, index = 0; from < t.size(); from += size, index++) {
            int to = Math.min(t.size(), from + size);
            out.add(new Chunk(group(m, t), t.id(), index, from, m.scores(t, from, to)));
        }
        return out;
    }

    /** Combines a selection's pruned flags per chunk into each tensor's new mask. */
    public static Map<Integer, Mask> combine(List<Target> targets, Map<Long, java.util.BitSet> pruned, int chunkSize) {
        Map<Integer, Mask> out = new TreeMap<>();
        for (Target t : targets) {
            boolean[] kept = new boolean[t.size()];
            for (int i = 0; i < kept.length; i++) kept[i] = t.mask().kept(i);
            for (int from = 0, index = 0; from < t.size(); from += chunkSize, index++) {
                java.util.BitSet p = pruned.get(((long) t.id() << 32) | index);
                if (p == null) continue;
                for (int i = p.nextSetBit(0); i >= 0; i = p.nextSetBit(i + 1)) kept[from + i] = false;
            }
            out.put(t.id(), Mask.of(kept));
        }
        return out;
    }

    /** New masks by tensor id. */
    public static Map<Integer, Mask> masks(List<Target> targets, PruneMethod m, Amount global, int chunkSize) {
        if (targets.isEmpty()) throw new BadInputException("nothing to prune: no tensor chosen");
        for (Target t : targets) m.check(t);
        Map<Integer, Mask> out = new TreeMap<>();
        if (m instanceof PruneMethod.PerTensor p) {
            for (Target t : targets) out.put(t.id(), p.computeMask(t));
        } else {
            PruneMethod.Selecting s = (PruneMethod.Selecting) m;
            List<Chunk> chunks = new ArrayList<>();
            for (Target t : targets) chunks.addAll(chunks(t, s, chunkSize));
            Selection.Result r = Selection.run(Selection.local(chunks), (g, n) -> toPrune(s, targets, global, g, n));
            out.putAll(combine(targets, r.pruned(), chunkSize));
        }
        return out;
    }
}
