package io.squeeze.prune;

import io.squeeze.core.BadInputException;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Structured pruning of a graph's {@link ChannelGroups}: each prunable group loses the {@code amount} of its channels
 * with the least importance, scored as Torch-Pruning's {@code GroupMagnitudeImportance} (Fang et al. 2023): for every
 * member — each producer's output filters, each batch normalization's scale, each consumer's input columns — the
 * channel's Lp norm, divided by that member's mean, averaged over the members. {@link #zero} makes the masked twin (the
 * channels' filters, biases and batch-normalization scale and shift set to 0, so each removed channel carries exactly 0
 * through ReLU/identity activations and adds); {@link #shrink} removes the channels from every member, which computes
 * what the twin computes.
 */
public final class GroupPruning {
    private GroupPruning() {}

    /** The channels removed from each group (by its root producer), ascending. */
    public record Plan(Map<String, int[]> pruned) {
        public int removed(String group) {
            int[] p = pruned.get(group);
            return p == null ? 0 : p.length;
        }
    }

    /** Chooses {@code amount} of each prunable group's channels (at least one channel is kept). */
    public static Plan choose(ComputationGraph g, ChannelGroups d, Amount amount, PruneMethod.Norm norm) {
        Map<String, int[]> out = new LinkedHashMap<>();
        for (ChannelGroups.Group grp : d.groups()) {
            if (grp.fixed() != null) continue;
            String root = d.groupOf(grp.producers().get(0));
            int n = grp.channels();
            long k = amount.of(n, "group " + grp.name());
            if (k >= n) throw new BadInputException("prune.amount " + amount + " would remove all " + n + " channels of group " + grp.name());
            if (k == 0) continue;
            double[] score = importance(g, d, root, n, norm);
            Integer[] order = new Integer[n];
            for (int i = 0; i < n; i++) order[i] = i;
            Arrays.sort(order, (a, b) -> score[a] != score[b] ? Double.compare(score[a], score[b]) : Integer.compare(a, b));
            int[] p = new int[(int) k];
            for (int i = 0; i < k; i++) p[i] = order[i];
            Arrays.sort(p);
            out.put(root, p);
        }
        return new Plan(out);
    }

    /** Group {@code root}'s channel importance: each member's per-channel norms over their mean, averaged. */
    static double[] importance(ComputationGraph g, ChannelGroups d, String root, int n, PruneMethod.Norm norm) {
        List<double[]> members = new ArrayList<>();
        for (String p : d.producerOrder) {
            if (p.equals(ChannelGroups.INPUT) || !d.groupOf(p).equals(root)) continue;
            INDArray w = g.getLayer(p).getParam("W");
            members.add(norms(w, outDim(g, p), 0, n, 1, norm));
        }
        d.norms.forEach((bn, s) -> each(d, s, root, (offset) -> {
            INDArray gamma = g.getLayer(bn).getParam("gamma");
            if (gamma != null) members.add(norms(gamma, 1, offset, n, 1, norm));
        }));
        d.readers.forEach((r, reader) -> each(d, reader.in(), root, (offset) ->
                members.add(norms(g.getLayer(r).getParam("W"), inDim(g, r), offset * reader.spatial(), n, reader.spatial(), norm))));
        double[] score = new double[n];
        for (double[] m : members) {
            double mean = Arrays.stream(m).average().orElse(0);
            for (int i = 0; i < n; i++) score[i] += (mean > 0 ? m[i] / mean : m[i]) / members.size();
        }
        return score;
    }

    /** Calls {@code at} with the channel offset of each segment of {@code s} that belongs to group {@code root}. */
    private static void each(ChannelGroups d, ChannelGroups.Space s, String root, java.util.function.IntConsumer at) {
        int offset = 0;
        for (String p : s.producers()) {
            if (!p.equals(ChannelGroups.INPUT) && d.groupOf(p).equals(root)) at.accept(offset);
            offset += d.sizeOf(p);
        }
    }

    /** Per-channel Lp norms of {@code w} along {@code dim}: channel c is indices from + c·spatial … + spatial − 1. */
    static double[] norms(INDArray w, int dim, int from, int n, int spatial, PruneMethod.Norm norm) {
        long[] shape = w.shape();
        float[] v = w.dup('c').castTo(DataType.FLOAT).data().asFloat();
        long inner = 1;
        for (int i = dim + 1; i < shape.length; i++) inner *= shape[i];
        long along = shape[dim];
        double[] out = new double[n];
        for (int i = 0; i < v.length; i++) {
            long idx = (i / inner) % along - from;
            if (idx < 0 || idx >= (long) n * spatial) continue;
            int c = (int) (idx / spatial);
            double a = Math.abs(v[i]);
            out[c] = switch (norm) {
                case L1 -> out[c] + a;
                case L2 -> out[c] + a * a;
                case LINF -> Math.max(out[c], a);
            };
        }
        if (norm == PruneMethod.Norm.L2) for (int c = 0; c < n; c++) out[c] = Math.sqrt(out[c]);
        return out;
    }

    /** The dimension of a layer's W holding its outputs (conv [out, in, kh, kw]: 0; dense [in, out]: 1) ... */
    private static int outDim(ComputationGraph g, String layer) {
        return conv(g, layer) ? 0 : 1;
    }

    /** ... and its inputs. */
    private static int inDim(ComputationGraph g, String layer) {
        return conv(g, layer) ? 1 : 0;
    }

    private static boolean conv(ComputationGraph g, String layer) {
        return g.getLayer(layer).conf().getLayer() instanceof ConvolutionLayer;
    }

    /** Sets the pruned channels' filters, biases and batch-normalization scale and shift to 0, in place. */
    public static void zero(ComputationGraph g, ChannelGroups d, Plan plan) {
        plan.pruned().forEach((root, channels) -> {
            for (String p : d.producerOrder) {
                if (p.equals(ChannelGroups.INPUT) || !d.groupOf(p).equals(root)) continue;
                Layer l = g.getLayer(p);
                for (int c : channels) {
                    zeroAlong(l.getParam("W"), outDim(g, p), c);
                    if (l.getParam("b") != null) zeroAlong(l.getParam("b"), 1, c);
                }
            }
            d.norms.forEach((bn, s) -> each(d, s, root, offset -> {
                for (String key : new String[]{"gamma", "beta"}) {
                    INDArray a = g.getLayer(bn).getParam(key);
                    if (a != null) for (int c : channels) zeroAlong(a, 1, offset + c);
                }
            }));
        });
    }

    private static void zeroAlong(INDArray a, int dim, int index) {
        org.nd4j.linalg.indexing.INDArrayIndex[] at = new org.nd4j.linalg.indexing.INDArrayIndex[a.rank()];
        for (int i = 0; i < at.length; i++) at[i] = i == dim ? org.nd4j.linalg.indexing.NDArrayIndex.point(index) : org.nd4j.linalg.indexing.NDArrayIndex.all();
        a.get(at).assign(0);
    }

    /**
     * {@code g} without the planned channels: each producer loses its output filters and biases, each batch
     * normalization its per-channel values, each consumer the input columns (its preprocessor's channel count
     * updated after a flattening). A new graph; {@code g} is unchanged.
     */
    public static ComputationGraph shrink(ComputationGraph g, ChannelGroups d, Plan plan) {
        ComputationGraphConfiguration conf = g.getConfiguration().clone();
        Map<String, int[]> keepOut = new LinkedHashMap<>(), keepIn = new LinkedHashMap<>(), keepNorm = new LinkedHashMap<>();
        for (String p : d.producerOrder) {
            if (p.equals(ChannelGroups.INPUT)) continue;
            keepOut.put(p, kept(d.sizeOf(p), plan.pruned().get(d.groupOf(p)), 0, 1));
        }
        d.readers.forEach((r, reader) -> {
            if (!reader.in().producers().contains(ChannelGroups.INPUT)) keepIn.put(r, keptColumns(d, reader.in(), plan, reader.spatial()));
        });
        d.norms.forEach((bn, s) -> {
            if (!s.producers().contains(ChannelGroups.INPUT)) keepNorm.put(bn, keptColumns(d, s, plan, 1));
        });
        for (var e : conf.getVertices().entrySet()) {
            if (!(e.getValue() instanceof LayerVertex lv) || !(lv.getLayerConf().getLayer() instanceof FeedForwardLayer f)) continue;
            String name = e.getKey();
            if (keepNorm.containsKey(name)) {
                f.setNIn(keepNorm.get(name).length);
                f.setNOut(keepNorm.get(name).length);
                continue;
            }
            if (keepIn.containsKey(name)) {
                int[] in = keepIn.get(name);
                f.setNIn(in.length);
                if (lv.getPreProcessor() instanceof CnnToFeedForwardPreProcessor pre)
                    pre.setNumChannels(in.length / (pre.getInputHeight() * pre.getInputWidth()));
            }
            if (keepOut.containsKey(name)) f.setNOut(keepOut.get(name).length);
        }
        ComputationGraph out = new ComputationGraph(conf);
        out.init();
        for (Layer l : out.getLayers()) {
            String name = l.conf().getLayer().getLayerName();
            Layer src = g.getLayer(name);
            for (String key : src.paramTable().keySet()) {
                INDArray v = src.getParam(key);
                if (keepNorm.containsKey(name)) v = select(v, 1, keepNorm.get(name));
                else if (key.equals("W")) {
                    if (keepIn.containsKey(name)) v = select(v, inDim(g, name), keepIn.get(name));
                    if (keepOut.containsKey(name)) v = select(v, outDim(g, name), keepOut.get(name));
                } else if (key.equals("b") && keepOut.containsKey(name)) {
                    v = select(v, 1, keepOut.get(name));
                } else if (keepOut.containsKey(name) || keepIn.containsKey(name)) {
                    throw new BadInputException("layer '" + name + "' has a parameter '" + key + "' Squeeze cannot shrink");
                }
                l.getParam(key).assign(v);
            }
        }
        return out;
    }

    /** The indices 0..n−1 without {@code pruned}, each expanded to {@code spatial} columns from {@code offset}. */
    private static int[] kept(int n, int[] pruned, int offset, int spatial) {
        boolean[] gone = new boolean[n];
        if (pruned != null) for (int c : pruned) gone[c] = true;
        int[] out = new int[(n - (pruned == null ? 0 : pruned.length)) * spatial];
        int k = 0;
        for (int c = 0; c < n; c++) if (!gone[c]) for (int s = 0; s < spatial; s++) out[k++] = (offset + c) * spatial + s;
        return out;
    }

    private static int[] keptColumns(ChannelGroups d, ChannelGroups.Space s, GroupPruning.Plan plan, int spatial) {
        List<Integer> cols = new ArrayList<>();
        int offset = 0;
        for (String p : s.producers()) {
            int n = d.sizeOf(p);
            int[] pruned = plan.pruned().get(d.groupOf(p));
            for (int c : kept(n, pruned, offset, spatial)) cols.add(c);
            offset += n;
        }
        return cols.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The entries of {@code a} whose index along {@code dim} is in {@code keep}, in that order (a new c-order array). */
    static INDArray select(INDArray a, int dim, int[] keep) {
        long[] shape = a.shape();
        float[] v = a.dup('c').castTo(DataType.FLOAT).data().asFloat();
        long inner = 1, outer = 1;
        for (int i = dim + 1; i < shape.length; i++) inner *= shape[i];
        for (int i = 0; i < dim; i++) outer *= shape[i];
        long along = shape[dim];
        float[] r = new float[(int) (outer * keep.length * inner)];
        int k = 0;
        for (long o = 0; o < outer; o++)
            for (int j : keep)
                for (long i = 0; i < inner; i++) r[k++] = v[(int) ((o * along + j) * inner + i)];
        long[] ns = shape.clone();
        ns[dim] = keep.length;
        return Nd4j.create(r, ns, 'c').castTo(a.dataType());
    }
}
