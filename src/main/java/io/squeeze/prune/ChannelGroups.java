package io.squeeze.prune;

import io.squeeze.core.BadInputException;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BaseOutputLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor;
import org.deeplearning4j.nn.graph.ComputationGraph;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The channel dependency groups of a {@link ComputationGraph} (Fang et al. 2023, "DepGraph: Towards Any Structural
 * Pruning"; NNI's {@code dependency_group_id}): the output channels of convolutions and dense layers ("producers") that
 * must be removed together for the graph to stay computable. Channels are traced in topological order through the
 * vertices that keep them — batch normalization, activation, dropout, pooling (global pooling too) — an element-wise
 * merge (a residual add) ties the channels of all its inputs into one group (channel i of each input is one channel),
 * a concatenation lays its inputs' channels side by side (each keeps its group, at an offset), and every layer that
 * reads them is a consumer whose input columns go with them (after a flattening preprocessor, channel c is the columns
 * c·H·W … (c+1)·H·W − 1). A group reaching the network's input or output is fixed; a vertex through which channels
 * cannot be traced is refused naming it. In a ResNet the residual stream of a stage (its stem or projection and each
 * block's last convolution) is one group and each block's inner convolution a group of its own.
 */
public final class ChannelGroups {
    /** The network input's pseudo-producer: its channels are never pruned. */
    static final String INPUT = "<input>";

    /** The channel space of a vertex's output: the producers whose channels it holds, side by side. */
    record Space(List<String> producers) {}

    /**
     * One dependency group.
     *
     * @param producers layers whose output channels are the group's channels (conv W dim 0, dense W dim 1, and biases)
     * @param channels  channels each of them has
     * @param fixed     null when prunable, else why not
     */
    public record Group(List<String> producers, int channels, String fixed) {
        public String name() {
            return String.join("+", producers);
        }
    }

    /** A layer reading channels: its input columns, segment by segment, each {@code spatial} columns a channel. */
    record Reader(Space in, int spatial) {}

    private final Map<String, String> parent = new HashMap<>();
    private final Map<String, Integer> size = new LinkedHashMap<>();
    private final Map<String, String> fixedWhy = new HashMap<>();
    final Map<String, Reader> readers = new LinkedHashMap<>(); // consumer layer -> what it reads
    final Map<String, Space> norms = new LinkedHashMap<>();     // batch normalization layer -> its channels
    final List<String> producerOrder = new ArrayList<>();

    private ChannelGroups() {}

    String root(String p) {
        String r = parent.get(p);
        if (r.equals(p)) return p;
        String top = root(r);
        parent.put(p, top);
        return top;
    }

    private void union(String a, String b, String where) {
        String ra = root(a), rb = root(b);
        if (ra.equals(rb)) return;
        if (!size.get(ra).equals(size.get(rb)))
            throw new BadInputException("vertex '" + where + "' joins " + size.get(ra) + " channels of " + a + " with " + size.get(rb) + " of " + b);
        // the group keeps the first producer (in topological order) as its root
        if (producerOrder.indexOf(rb) < producerOrder.indexOf(ra)) { String t = ra; ra = rb; rb = t; }
        parent.put(rb, ra);
        if (fixedWhy.containsKey(rb)) fixedWhy.putIfAbsent(ra, fixedWhy.get(rb));
    }

    private void producer(String name, int channels) {
        parent.put(name, name);
        size.put(name, channels);
        producerOrder.add(name);
    }

    private void fix(Space s, String why) {
        for (String p : s.producers()) fixedWhy.putIfAbsent(root(p), why);
    }

    int channels(Space s) {
        return s.producers().stream().mapToInt(size::get).sum();
    }

    /** The groups of {@code g}, or a refusal naming the first vertex channels cannot be traced through. */
    public static ChannelGroups of(ComputationGraph g, String source) {
        ComputationGraphConfiguration c = g.getConfiguration();
        ChannelGroups d = new ChannelGroups();
        Map<String, Space> space = new HashMap<>();
        String input = c.getNetworkInputs().get(0);
        d.producer(INPUT, -1);
        d.fixedWhy.put(INPUT, "the network's input");
        space.put(input, new Space(List.of(INPUT)));
        for (String name : c.getTopologicalOrderStr()) {
            GraphVertex v = c.getVertices().get(name);
            if (v == null) continue;
            List<Space> ins = c.getVertexInputs().get(name).stream().map(space::get).toList();
            Space in = ins.size() == 1 ? ins.get(0) : new Space(ins.stream().flatMap(s -> s.producers().stream()).toList());
            String refused = "model " + source + ": vertex '" + name + "' (" + v.getClass().getSimpleName();
            if (in.producers().contains(INPUT) && in.producers().size() > 1)
                throw new BadInputException(refused + ") merges the network's input with other channels, which Squeeze cannot prune through");
            if (v instanceof ElementWiseVertex) {
                for (Space s : ins.subList(1, ins.size())) {
                    if (s.producers().size() != ins.get(0).producers().size())
                        throw new BadInputException(refused + ") adds inputs of different channel layouts, which Squeeze cannot prune together");
                    for (int i = 0; i < s.producers().size(); i++) d.union(ins.get(0).producers().get(i), s.producers().get(i), name);
                }
                space.put(name, ins.get(0));
            } else if (v instanceof MergeVertex) {
                space.put(name, in);
            } else if (v instanceof LayerVertex lv) {
                Layer l = lv.getLayerConf().getLayer();
                int spatial = 1;
                if (lv.getPreProcessor() instanceof CnnToFeedForwardPreProcessor f) spatial = (int) (f.getInputHeight() * f.getInputWidth());
                else if (lv.getPreProcessor() != null && !in.producers().equals(List.of(INPUT))) // reshaping the input is free
                    throw new BadInputException(refused + " " + l.getClass().getSimpleName() + ") has a " + lv.getPreProcessor().getClass().getSimpleName()
                            + ", through which Squeeze cannot trace channels");
                boolean producer = l.getClass() == ConvolutionLayer.class || l.getClass() == DenseLayer.class;
                if (producer || l instanceof BaseOutputLayer) {
                    d.readers.put(name, new Reader(in, spatial));
                    int out = (int) ((FeedForwardLayer) l).getNOut();
                    d.producer(name, out);
                    space.put(name, new Space(List.of(name)));
                    if (l instanceof BaseOutputLayer) d.fixedWhy.put(name, "the network's output");
                } else if (spatial != 1) {
                    throw new BadInputException(refused + " " + l.getClass().getSimpleName() + ") reads flattened channels, which Squeeze cannot prune through");
                } else if (l instanceof BatchNormalization) {
                    d.norms.put(name, in);
                    space.put(name, in);
                } else if (l instanceof ActivationLayer || l instanceof DropoutLayer || l instanceof SubsamplingLayer || l instanceof GlobalPoolingLayer) {
                    space.put(name, in);
                } else {
                    throw new BadInputException(refused + " " + l.getClass().getSimpleName() + "), through which Squeeze cannot trace channels");
                }
            } else {
                throw new BadInputException(refused + "), through which Squeeze cannot trace channels");
            }
        }
        for (String out : c.getNetworkOutputs()) d.fix(space.get(out), "the network's output");
        return d;
    }

    /** The groups, each named by its producers in topological order. */
    public List<Group> groups() {
        Map<String, List<String>> byRoot = new TreeMap<>((a, b) -> Integer.compare(producerOrder.indexOf(a), producerOrder.indexOf(b)));
        for (String p : producerOrder) if (!p.equals(INPUT)) byRoot.computeIfAbsent(root(p), k -> new ArrayList<>()).add(p);
        List<Group> out = new ArrayList<>();
        byRoot.forEach((r, ps) -> {
            if (r.equals(root(INPUT))) return;
            out.add(new Group(List.copyOf(ps), size.get(r), fixedWhy.get(r)));
        });
        return out;
    }

    /** The group of producer {@code p}. */
    public String groupOf(String p) {
        return root(p);
    }

    int sizeOf(String producer) {
        return size.get(producer);
    }
}
