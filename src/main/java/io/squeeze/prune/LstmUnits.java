package io.squeeze.prune;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Mask;
import io.squeeze.core.TensorKey;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Structured pruning of an LSTM's hidden units ({@code ln} along the output dimension): unit {@code u} owns column
 * {@code g·H + u} of the input weights W [nIn, 4H], of the recurrent weights RW [H, 4H] and of the bias b [4H] for
 * each of the four gates {@code g} — one dependency group, as a unit cannot be removed gate by gate (Torch-Pruning's
 * and NNI's LSTM handling). A group is scored by the Ln norm of its W and RW columns; the k groups with the smallest
 * norm among those still alive are pruned (k = round-half-to-even(amount × alive units)), with their bias entries:
 * then every gate pre-activation of the unit is 0, so {@code c_t = ½·c_{t−1} = 0} and {@code h_t = ½·tanh(0) = 0}
 * exactly — the unit's row of RW and of the next layer's weights multiply zeros, and {@link #shrink} removes the unit
 * without changing any output (Li et al. 2017 for the norm ranking; Wen et al. 2018, "Learning Intrinsic Sparse
 * Structures within Long Short-Term Memory", for removing whole LSTM units).
 */
public final class LstmUnits {
    private LstmUnits() {}

    /**
     * New masks of W, RW and b of an LSTM of {@code hidden} units on {@code nIn} inputs, from their values (C order)
     * and previous masks (each may be all-kept).
     */
    public static Map<String, Mask> prune(float[] w, float[] rw, Mask wm, Mask rwm, Mask bm, int nIn, int hidden, Amount amount,
                                          PruneMethod.Norm norm, String what) {
        if (hidden <= 1) throw new BadInputException("ln pruning needs more than one unit; " + what + " has " + hidden);
        int g4 = 4 * hidden;
        double[] score = new double[hidden];
        boolean[] alive = new boolean[hidden];
        for (int pass = 0; pass < 2; pass++) {
            float[] v = pass == 0 ? w : rw;
            Mask m = pass == 0 ? wm : rwm;
            for (int i = 0; i < v.length; i++) {
                int u = (i % g4) % hidden;
                if (m.kept(i)) alive[u] = true;
                double a = Math.abs((double) v[i]);
                switch (norm) {
                    case L1 -> score[u] += a;
                    case L2 -> score[u] += a * a;
                    case LINF -> score[u] = Math.max(score[u], a);
                }
            }
        }
        List<Integer> candidates = new ArrayList<>();
        for (int u = 0; u < hidden; u++) if (alive[u]) candidates.add(u);
        long k = amount.of(candidates.size(), what + " units");
        candidates.sort(Comparator.comparingDouble((Integer u) -> score[u]).thenComparingInt(u -> u));
        boolean[] dead = new boolean[hidden];
        for (int u = 0; u < hidden; u++) dead[u] = !alive[u];
        for (int i = 0; i < k; i++) dead[candidates.get(i)] = true;
        return Map.of("W", columns(wm, nIn, hidden, dead), "RW", columns(rwm, hidden, hidden, dead), "b", columns(bm, 1, hidden, dead));
    }

    /** {@code m} over [rows, 4·hidden] with every gate column of the dead units pruned as well. */
    private static Mask columns(Mask m, int rows, int hidden, boolean[] dead) {
        boolean[] kept = new boolean[rows * 4 * hidden];
        for (int i = 0; i < kept.length; i++) kept[i] = m.kept(i) && !dead[(i % (4 * hidden)) % hidden];
        return Mask.of(kept);
    }

    /** The units whose W and RW gate columns and bias entries are all pruned (null when some tensor has no mask). */
    public static boolean[] deadUnits(Map<TensorKey, Mask> masks, int layer, int nIn, int hidden) {
        Mask w = masks.get(new TensorKey(layer, "W")), rw = masks.get(new TensorKey(layer, "RW")), b = masks.get(new TensorKey(layer, "b"));
        if (w == null || rw == null || b == null) return null;
        boolean[] dead = new boolean[hidden];
        java.util.Arrays.fill(dead, true);
        int g4 = 4 * hidden;
        for (int i = 0; i < w.size(); i++) if (w.kept(i)) dead[(i % g4) % hidden] = false;
        for (int i = 0; i < rw.size(); i++) if (rw.kept(i)) dead[(i % g4) % hidden] = false;
        for (int i = 0; i < b.size(); i++) if (b.kept(i)) dead[(i % g4) % hidden] = false;
        return dead;
    }

    /** The gate columns of the units in {@code keep}, in order: index {@code g·|keep| + j} is column {@code g·hidden + keep[j]}. */
    public static long[] gateColumns(List<Integer> keep, int hidden) {
        long[] cols = new long[4 * keep.size()];
        for (int g = 0; g < 4; g++) for (int j = 0; j < keep.size(); j++) cols[g * keep.size() + j] = (long) g * hidden + keep.get(j);
        return cols;
    }

    /**
     * Removes layer {@code i}'s dead units (all of their gate columns and bias entries pruned) from the LSTM and the
     * weights of the next layer — an LSTM on its sequence, or the layer reading the last step: a dead unit's hidden
     * state is exactly 0 (see the class comment), so nothing is folded anywhere. {@code params} and {@code masks} are
     * updated in place; {@code changes} and {@code skipped} say what happened.
     */
    static void shrink(org.deeplearning4j.nn.conf.MultiLayerConfiguration conf, List<Map<String, org.nd4j.linalg.api.ndarray.INDArray>> params,
                       Map<TensorKey, Mask> masks, int i, Map<Integer, String> changes, Map<Integer, String> skipped) {
        var l = (org.deeplearning4j.nn.conf.layers.LSTM) conf.getConf(i).getLayer();
        int nIn = (int) l.getNIn(), hidden = (int) l.getNOut(), j = i + 1;
        boolean[] dead = deadUnits(masks, i, nIn, hidden);
        if (dead == null || j >= conf.getConfs().size()) return;
        List<Integer> keep = new ArrayList<>();
        for (int u = 0; u < hidden; u++) if (!dead[u]) keep.add(u);
        if (keep.size() == hidden) return;
        if (keep.isEmpty()) {
            skipped.put(i, "every unit is pruned");
            return;
        }
        var next = conf.getConf(j).getLayer();
        boolean fits = next instanceof org.deeplearning4j.nn.conf.layers.LSTM ? conf.getInputPreProcess(j) == null
                : conf.getInputPreProcess(j) instanceof io.squeeze.model.LastStep && next instanceof org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
        var wNext = params.get(j).get("W");
        if (!fits || wNext == null) {
            skipped.put(i, "the next layer neither is an LSTM nor reads the last step with weights");
            return;
        }
        long[] units = keep.stream().mapToLong(Integer::longValue).toArray(), cols = gateColumns(keep, hidden);
        var all = org.nd4j.linalg.indexing.NDArrayIndex.all();
        var p = params.get(i);
        p.put("W", p.get("W").get(all, org.nd4j.linalg.indexing.NDArrayIndex.indices(cols)).dup('c'));
        p.put("RW", p.get("RW").get(org.nd4j.linalg.indexing.NDArrayIndex.indices(units), org.nd4j.linalg.indexing.NDArrayIndex.indices(cols)).dup('c'));
        p.put("b", p.get("b").reshape(1, 4L * hidden).get(all, org.nd4j.linalg.indexing.NDArrayIndex.indices(cols)).dup('c'));
        params.get(j).put("W", wNext.get(org.nd4j.linalg.indexing.NDArrayIndex.indices(units), all).dup('c'));
        List<Integer> colList = java.util.Arrays.stream(cols).mapToObj(x -> (int) x).toList();
        long g4 = 4L * hidden;
        masks.put(new TensorKey(i, "W"), Shrink.selectAxis(masks.get(new TensorKey(i, "W")), new long[]{nIn, g4}, colList, 1));
        Mask rwCols = Shrink.selectAxis(masks.get(new TensorKey(i, "RW")), new long[]{hidden, g4}, colList, 1);
        masks.put(new TensorKey(i, "RW"), Shrink.selectAxis(rwCols, new long[]{hidden, cols.length}, keep, 0));
        masks.put(new TensorKey(i, "b"), Shrink.selectAxis(masks.get(new TensorKey(i, "b")), new long[]{1, g4}, colList, 1));
        Mask nm = masks.get(new TensorKey(j, "W"));
        if (nm != null) masks.put(new TensorKey(j, "W"), Shrink.selectAxis(nm, wNext.shape(), keep, 0));
        l.setNOut(keep.size());
        ((org.deeplearning4j.nn.conf.layers.FeedForwardLayer) next).setNIn(keep.size());
        changes.put(i, "units " + hidden + " -> " + keep.size());
    }
}
