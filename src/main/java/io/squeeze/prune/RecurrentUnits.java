package io.squeeze.prune;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Mask;
import io.squeeze.core.TensorKey;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Structured pruning of a recurrent layer's hidden units ({@code ln} along the output dimension;
 * {@link io.squeeze.model.Recurrent}): unit {@code u} owns column {@code k·H + u} of the input weights W [nIn, g·H],
 * of the recurrent weights RW [H, g·H] and of the bias b [g·H] for each of the g column blocks (an LSTM's four gates,
 * a SimpleRnn's one) — one dependency group, as a unit cannot be removed gate by gate (Torch-Pruning's and NNI's LSTM
 * handling). A group is scored by the Ln norm of its W and RW columns; the k groups with the smallest norm among those
 * still alive are pruned (k = round-half-to-even(amount × alive units)), with their bias entries: then every
 * pre-activation of the unit is 0 — for an LSTM {@code c_t = ½·c_{t−1} = 0} and {@code h_t = ½·tanh(0) = 0}, for a
 * SimpleRnn {@code h_t = act(0)}, 0 for tanh and ReLU — so the unit's row of RW and of the next layer's weights
 * multiply zeros, and {@link #shrink} removes the unit without changing any output (Li et al. 2017 for the norm
 * ranking; Wen et al. 2018, "Learning Intrinsic Sparse Structures within Long Short-Term Memory", for removing whole
 * LSTM units). A SimpleRnn whose activation is not 0 at 0 (sigmoid) is not shrunk.
 */
public final class RecurrentUnits {
    private RecurrentUnits() {}

    /**
     * New masks of W, RW and b of a recurrent layer of {@code hidden} units in {@code gates} blocks on {@code nIn}
     * inputs, from their values (C order) and previous masks (each may be all-kept).
     */
    public static Map<String, Mask> prune(float[] w, float[] rw, Mask wm, Mask rwm, Mask bm, int nIn, int hidden, int gates, Amount amount,
                                          PruneMethod.Norm norm, String what) {
        if (hidden <= 1) throw new BadInputException("ln pruning needs more than one unit; " + what + " has " + hidden);
        int g4 = gates * hidden;
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
        return Map.of("W", columns(wm, nIn, hidden, gates, dead), "RW", columns(rwm, hidden, hidden, gates, dead), "b", columns(bm, 1, hidden, gates, dead));
    }

    /** {@code m} over [rows, gates·hidden] with every gate column of the dead units pruned as well. */
    private static Mask columns(Mask m, int rows, int hidden, int gates, boolean[] dead) {
        boolean[] kept = new boolean[rows * gates * hidden];
        for (int i = 0; i < kept.length; i++) kept[i] = m.kept(i) && !dead[(i % (gates * hidden)) % hidden];
        return Mask.of(kept);
    }

    /** The units whose W and RW gate columns and bias entries are all pruned (null when some tensor has no mask). */
    public static boolean[] deadUnits(Map<TensorKey, Mask> masks, int layer, int nIn, int hidden, int gates) {
        Mask w = masks.get(new TensorKey(layer, "W")), rw = masks.get(new TensorKey(layer, "RW")), b = masks.get(new TensorKey(layer, "b"));
        if (w == null || rw == null || b == null) return null;
        boolean[] dead = new boolean[hidden];
        java.util.Arrays.fill(dead, true);
        int g4 = gates * hidden;
        for (int i = 0; i < w.size(); i++) if (w.kept(i)) dead[(i % g4) % hidden] = false;
        for (int i = 0; i < rw.size(); i++) if (rw.kept(i)) dead[(i % g4) % hidden] = false;
        for (int i = 0; i < b.size(); i++) if (b.kept(i)) dead[(i % g4) % hidden] = false;
        return dead;
    }

    /** The gate columns of the units in {@code keep}, in order: index {@code g·|keep| + j} is column {@code g·hidden + keep[j]}. */
    public static long[] gateColumns(List<Integer> keep, int hidden, int gates) {
        long[] cols = new long[gates * keep.size()];
        for (int g = 0; g < gates; g++) for (int j = 0; j < keep.size(); j++) cols[g * keep.size() + j] = (long) g * hidden + keep.get(j);
        return cols;
    }

    /**
     * Removes layer {@code i}'s dead units (all of their gate columns and bias entries pruned) from the recurrent layer
     * and the weights of the next layer — a recurrent layer on its sequence, or the layer reading the last step: a dead unit's hidden
     * state is exactly 0 (see the class comment), so nothing is folded anywhere. {@code params} and {@code masks} are
     * updated in place; {@code changes} and {@code skipped} say what happened.
     */
    static void shrink(org.deeplearning4j.nn.conf.MultiLayerConfiguration conf, List<Map<String, org.nd4j.linalg.api.ndarray.INDArray>> params,
                       Map<TensorKey, Mask> masks, int i, Map<Integer, String> changes, Map<Integer, String> skipped) {
        var l = (org.deeplearning4j.nn.conf.layers.FeedForwardLayer) conf.getConf(i).getLayer();
        int nIn = (int) l.getNIn(), hidden = (int) l.getNOut(), j = i + 1, gates = io.squeeze.model.Recurrent.gates(l);
        boolean[] dead = deadUnits(masks, i, nIn, hidden, gates);
        if (dead == null || j >= conf.getConfs().size()) return;
        List<Integer> keep = new ArrayList<>();
        for (int u = 0; u < hidden; u++) if (!dead[u]) keep.add(u);
        if (keep.size() == hidden) return;
        if (keep.isEmpty()) {
            skipped.put(i, "every unit is pruned");
            return;
        }
        if (gates == 1 && ((org.deeplearning4j.nn.conf.layers.BaseLayer) l).getActivationFn().getActivation(org.nd4j.linalg.factory.Nd4j.zeros(1, 1), false).getDouble(0) != 0) {
            skipped.put(i, "its activation is not 0 at 0, so a pruned unit's state is not 0");
            return;
        }
        var next = conf.getConf(j).getLayer();
        boolean fits = io.squeeze.model.Recurrent.is(next) ? conf.getInputPreProcess(j) == null
                : conf.getInputPreProcess(j) instanceof io.squeeze.model.LastStep && next instanceof org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
        var wNext = params.get(j).get("W");
        if (!fits || wNext == null) {
            skipped.put(i, "the next layer neither is recurrent nor reads the last step with weights");
            return;
        }
        long[] units = keep.stream().mapToLong(Integer::longValue).toArray(), cols = gateColumns(keep, hidden, gates);
        var all = org.nd4j.linalg.indexing.NDArrayIndex.all();
        var p = params.get(i);
        p.put("W", p.get("W").get(all, org.nd4j.linalg.indexing.NDArrayIndex.indices(cols)).dup('c'));
        p.put("RW", p.get("RW").get(org.nd4j.linalg.indexing.NDArrayIndex.indices(units), org.nd4j.linalg.indexing.NDArrayIndex.indices(cols)).dup('c'));
        p.put("b", p.get("b").reshape(1, (long) gates * hidden).get(all, org.nd4j.linalg.indexing.NDArrayIndex.indices(cols)).dup('c'));
        params.get(j).put("W", wNext.get(org.nd4j.linalg.indexing.NDArrayIndex.indices(units), all).dup('c'));
        List<Integer> colList = java.util.Arrays.stream(cols).mapToObj(x -> (int) x).toList();
        long g4 = (long) gates * hidden;
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
