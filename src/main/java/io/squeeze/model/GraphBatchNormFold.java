package io.squeeze.model;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@link BatchNormFold} on a DL4J graph, in DL4J form: every batch normalization vertex that reads a plain NCHW
 * convolution or a dense vertex with the identity activation and as many outputs, which nothing else reads (and which
 * is not the network's output), is removed and folded into that vertex — weights {@code W' = a·W} per output channel,
 * bias {@code b' = a·b + c} with {@code a = γ / √(σ² + ε)}, {@code c = β − a·μ} from the running statistics (the host
 * gains a bias when it had none); every vertex that read the normalization reads the host. The folded graph computes
 * what the source computes at inference, to float rounding (Ioffe &amp; Szegedy 2015; Jacob et al. 2018, §3.2, with the
 * running statistics, as PyTorch's {@code fuse_conv_bn_eval}). A batch normalization anywhere else stays.
 */
public final class GraphBatchNormFold {
    private GraphBatchNormFold() {}

    /**
     * The folded graph and what went where.
     *
     * @param graph  the graph without the folded batch normalizations (the source itself when none folds)
     * @param folded each folded batch normalization vertex → the vertex it was folded into, in topological order
     */
    public record Folded(ComputationGraph graph, Map<String, String> folded) {}

    /** {@code g} with every foldable batch normalization folded into the vertex it reads. */
    public static Folded fold(ComputationGraph g) {
        ComputationGraphConfiguration src = g.getConfiguration();
        Map<String, Integer> readers = new HashMap<>();
        src.getVertexInputs().forEach((v, ins) -> ins.forEach(i -> readers.merge(i, 1, Integer::sum)));
        src.getNetworkOutputs().forEach(o -> readers.merge(o, 1, Integer::sum));
        Map<String, String> folded = new LinkedHashMap<>();
        for (String v : src.getTopologicalOrderStr()) {
            String host = host(src, v);
            if (host != null && readers.getOrDefault(host, 0) == 1 && !src.getNetworkOutputs().contains(v)) folded.put(v, host);
        }
        if (folded.isEmpty()) return new Folded(g, Map.of());
        ComputationGraphConfiguration conf = src.clone();
        for (var e : folded.entrySet()) {
            Layer h = ((LayerVertex) conf.getVertices().get(e.getValue())).getLayerConf().getLayer();
            if (h instanceof ConvolutionLayer c) c.setHasBias(true);
            if (h instanceof DenseLayer d) d.setHasBias(true);
            conf.getVertices().remove(e.getKey());
            conf.getVertexInputs().remove(e.getKey());
        }
        for (List<String> ins : conf.getVertexInputs().values()) ins.replaceAll(i -> folded.getOrDefault(i, i));
        Map<String, String> hostOf = new HashMap<>();
        folded.forEach((bn, h) -> hostOf.put(h, bn));
        ComputationGraph out = Graphs.rebuilt(g, conf, (n, l, into) -> {
            if (folded.containsKey(n)) return true; // gone
            String bn = hostOf.get(n);
            if (bn == null) return false;
            var target = into.getLayer(n);
            var norm = g.getLayer(bn);
            BatchNormFold.Affine a = BatchNormFold.affine((BatchNormalization) norm.conf().getLayer(), norm.paramTable());
            INDArray b = l.paramTable().get("b");
            float[][] wb = BatchNormFold.fold(Surgery.floats(l.getParam("W")), b == null ? null : Surgery.floats(b), !(l.conf().getLayer() instanceof ConvolutionLayer), a);
            target.setParam("W", Nd4j.create(wb[0], target.getParam("W").shape(), 'c').castTo(target.getParam("W").dataType()));
            target.setParam("b", Nd4j.create(wb[1], target.getParam("b").shape(), 'c').castTo(target.getParam("b").dataType()));
            return true;
        });
        return new Folded(out, folded);
    }

    /** The vertex {@code v} folds into, if {@code v} is a batch normalization that can fold (its readers aside), else null. */
    private static String host(ComputationGraphConfiguration c, String v) {
        if (!(c.getVertices().get(v) instanceof LayerVertex lv) || !(lv.getLayerConf().getLayer() instanceof BatchNormalization bn)
                || lv.getPreProcessor() != null) return null;
        List<String> ins = c.getVertexInputs().get(v);
        if (ins == null || ins.size() != 1) return null;
        GraphVertex hv = c.getVertices().get(ins.get(0));
        return hv instanceof LayerVertex h && BatchNormFold.foldsInto(h.getLayerConf().getLayer(), bn) ? ins.get(0) : null;
    }


    /** The vertices of {@code g}'s configuration, for messages: each folded one listed with its host. */
    public static List<String> describe(Folded f) {
        List<String> out = new ArrayList<>();
        f.folded().forEach((bn, h) -> out.add(bn + " into " + h));
        return out;
    }
}
