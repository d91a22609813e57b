package io.squeeze.prune;

import io.squeeze.BadInputException;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Computes the new masks of a set of tensors for one method in this process: structured and threshold methods
 * tensor by tensor, selection methods through {@link Selection} over chunks. {@code spark.SparkPruner} runs the
 * same kernels on executors and returns the same masks.
 */
public final class Pruner {
    private Pruner() {}

    /** Threshold pruning of one tensor: kept entries with |w| below theta are pruned. */
    public static Mask threshold(Target t, double theta) {
        boolean[] kept = new boolean[t.size()];
        for (int i = 0; i < kept.length; i++) kept[i] = t.mask().kept(i) && Math.abs(t.values()[i]) >= theta;
        return Mask.of(kept);
    }

    /** Whether the method prunes through k-selection over chunks. */
    public static boolean selects(PruneMethod m) {
        return m instanceof PruneMethod.L1Unstructured || m instanceof PruneMethod.RandomUnstructured || m instanceof PruneMethod.GlobalUnstructured;
    }

    /** The selection group of a tensor: one per tensor, or one for all with the global method. */
    public static int group(PruneMethod m, Target t) {
        return m instanceof PruneMethod.GlobalUnstructured ? 0 : t.id();
    }

    /** How many entries group {@code g} prunes out of its {@code candidates}. */
    public static long toPrune(PruneMethod m, List<Target> targets, Amount global, int g, long candidates) {
        if (m instanceof PruneMethod.GlobalUnstructured) return global.of(candidates, "the chosen layers together");
        Target t = targets.stream().filter(x -> x.id() == g).findFirst().orElseThrow();
        return t.amount().of(candidates, "layer " + t.layer() + " " + t.param());
    }

    public static List<Chunk> chunks(List<Target> targets, PruneMethod m, int chunkSize) {
        List<Chunk> all = new ArrayList<>();
        for (Target t : targets) all.addAll(Scores.chunks(t, m, group(m, t), chunkSize));
        return all;
    }

    /** Combines a selection's pruned flags per chunk into each tensor's new mask. */
    public static Map<Integer, Mask> combine(List<Target> targets, Map<Long, boolean[]> pruned, int chunkSize) {
        Map<Integer, Mask> out = new TreeMap<>();
        for (Target t : targets) {
            boolean[] kept = new boolean[t.size()];
            for (int i = 0; i < kept.length; i++) kept[i] = t.mask().kept(i);
            for (int from = 0, index = 0; from < t.size(); from += chunkSize, index++) {
                boolean[] p = pruned.get(((long) t.id() << 32) | index);
                if (p == null) continue;
                for (int i = 0; i < p.length; i++) if (p[i]) kept[from + i] = false;
            }
            out.put(t.id(), Mask.of(kept));
        }
        return out;
    }

    /** New masks by tensor id. */
    public static Map<Integer, Mask> masks(List<Target> targets, PruneMethod m, Amount global, int chunkSize) {
        if (targets.isEmpty()) throw new BadInputException("nothing to prune: no tensor chosen");
        Map<Integer, Mask> out = new TreeMap<>();
        if (m instanceof PruneMethod.LnStructured ln) {
            for (Target t : targets) out.put(t.id(), Structured.ln(t, ln, "layer " + t.layer() + " " + t.param()));
        } else if (m instanceof PruneMethod.Threshold th) {
            for (Target t : targets) out.put(t.id(), threshold(t, th.theta()));
        } else {
            Selection.Result r = Selection.run(Selection.local(chunks(targets, m, chunkSize)),
                    (g, n) -> toPrune(m, targets, global, g, n));
            out.putAll(combine(targets, r.pruned(), chunkSize));
        }
        return out;
    }
}
