package io.squeeze.model;

import io.squeeze.prune.Mask;
import io.squeeze.prune.Structured;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Structural shrinking after structured pruning: a dense layer's output neurons whose weights are all pruned are
 * removed, with the matching rows of the next dense layer's W. Such a neuron still emits the constant
 * {@code act(b)}, so its contribution {@code act(b) · W_next[row]} is folded into the next layer's bias first:
 * the shrunk network computes exactly what the masked one does, with fewer parameters and FLOPs.
 * Dense → dense (or output) pairs without a preprocessor between them are shrunk; other layers stay masked.
 */
public final class Shrink {
    private Shrink() {}

    /** The shrunk network, its masks re-indexed, and per layer "nOut before → after". */
    public record Result(MultiLayerNetwork net, Map<String, Mask> masks, Map<Integer, String> changes) {}

    public static Result shrink(MultiLayerNetwork net, Map<String, Mask> masks) {
        MultiLayerConfiguration conf = net.getLayerWiseConfigurations().clone();
        int n = conf.getConfs().size();
        List<Map<String, INDArray>> params = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Map<String, INDArray> p = new LinkedHashMap<>();
            net.getLayer(i).paramTable().forEach((k, v) -> p.put(k, v.dup('c')));
            params.add(p);
        }
        Map<String, Mask> newMasks = new TreeMap<>(masks);
        Map<Integer, String> changes = new TreeMap<>();
        for (int i = 0; i + 1 < n; i++) {
            if (!(conf.getConf(i).getLayer() instanceof DenseLayer d) || conf.getInputPreProcess(i + 1) != null) continue;
            if (!(conf.getConf(i + 1).getLayer() instanceof FeedForwardLayer next) || params.get(i + 1).get("W") == null) continue;
            Mask wm = newMasks.get(i + "_W");
            if (wm == null) continue;
            INDArray w = params.get(i).get("W"), b = params.get(i).get("b");
            boolean[] dead = Structured.deadSlices(wm, w.shape(), 1);
            List<Integer> keep = new ArrayList<>();
            for (int j = 0; j < dead.length; j++) if (!dead[j]) keep.add(j);
            if (keep.size() == dead.length || keep.isEmpty()) continue;
            long[] keepIdx = keep.stream().mapToLong(Integer::longValue).toArray();
            INDArray wNext = params.get(i + 1).get("W"), bNext = params.get(i + 1).get("b");
            if (b != null && bNext != null) {
                INDArray constant = d.getActivationFn().getActivation(b.dup().reshape(1, b.length()), false);
                for (int j = 0; j < dead.length; j++) {
                    if (dead[j] && constant.getDouble(0, j) != 0) bNext.addi(wNext.getRow(j).reshape(bNext.shape()).mul(constant.getDouble(0, j)));
                }
            }
            params.get(i).put("W", w.get(NDArrayIndex.all(), NDArrayIndex.indices(keepIdx)).dup('c'));
            if (b != null) params.get(i).put("b", b.reshape(1, b.length()).get(NDArrayIndex.all(), NDArrayIndex.indices(keepIdx)).dup('c'));
            params.get(i + 1).put("W", wNext.get(NDArrayIndex.indices(keepIdx), NDArrayIndex.all()).dup('c'));
            newMasks.put(i + "_W", select(wm, w.shape(), keep, 1));
            if (newMasks.containsKey(i + "_b")) newMasks.put(i + "_b", select(newMasks.get(i + "_b"), new long[]{1, dead.length}, keep, 1));
            if (newMasks.containsKey((i + 1) + "_W")) newMasks.put((i + 1) + "_W", select(newMasks.get((i + 1) + "_W"), wNext.shape(), keep, 0));
            changes.put(i, "nOut " + dead.length + " -> " + keep.size());
            d.setNOut(keep.size());
            next.setNIn(keep.size());
        }
        if (changes.isEmpty()) return new Result(net, masks, changes);
        MultiLayerNetwork out = new MultiLayerNetwork(conf);
        out.init();
        for (int i = 0; i < n; i++) for (var e : params.get(i).entrySet()) out.getLayer(i).setParam(e.getKey(), e.getValue().reshape(out.getLayer(i).getParam(e.getKey()).shape()));
        return new Result(out, newMasks, changes);
    }

    /** The mask restricted to the kept slices along {@code axis} of a 2-d shape. */
    static Mask select(Mask m, long[] shape, List<Integer> keep, int axis) {
        int rows = (int) shape[0], cols = (int) shape[1];
        int newRows = axis == 0 ? keep.size() : rows, newCols = axis == 1 ? keep.size() : cols;
        boolean[] kept = new boolean[newRows * newCols];
        for (int r = 0; r < newRows; r++) {
            for (int c = 0; c < newCols; c++) {
                int or = axis == 0 ? keep.get(r) : r, oc = axis == 1 ? keep.get(c) : c;
                kept[r * newCols + c] = m.kept(or * cols + oc);
            }
        }
        return Mask.of(kept);
    }

}
