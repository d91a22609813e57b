package io.squeeze.model;

import io.squeeze.core.BadInputException;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.graph.PreprocessorVertex;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A DL4J {@link ComputationGraph} whose vertices form a chain — one input, one output, every vertex fed by the one
 * before it and feeding only the one after it, as a Keras functional model without branches is imported — as the
 * {@link MultiLayerNetwork} that computes the same: the layer vertices in chain order with their configurations and
 * parameters, each preprocessor (a vertex's own or a {@link PreprocessorVertex} before it) on the layer it feeds.
 * A graph that branches (a residual add, a concatenation, a vertex feeding several others) is refused in one line
 * naming every vertex that merges or forks, with its type: Squeeze computes on layer stacks.
 */
public final class GraphChain {
    private GraphChain() {}

    /** The layer stack {@code g} is, or a refusal naming what makes it a graph ({@code source} names the model). */
    public static MultiLayerNetwork toMultiLayer(ComputationGraph g, String source) {
        ComputationGraphConfiguration conf = g.getConfiguration();
        List<String> chain = chain(conf, source);
        List<NeuralNetConfiguration> confs = new ArrayList<>();
        Map<Integer, InputPreProcessor> pre = new HashMap<>();
        List<String> layerNames = new ArrayList<>();
        InputPreProcessor pending = null;
        for (String name : chain) {
            GraphVertex v = conf.getVertices().get(name);
            if (v instanceof PreprocessorVertex p) {
                if (pending != null) throw new BadInputException("model " + source + ": vertex '" + name + "' is a second preprocessor in a row, which Squeeze cannot map onto one layer");
                pending = p.getPreProcessor();
            } else if (v instanceof LayerVertex l) {
                InputPreProcessor own = l.getPreProcessor();
                if (own != null && pending != null)
                    throw new BadInputException("model " + source + ": layer vertex '" + name + "' has its own preprocessor after a preprocessor vertex, which Squeeze cannot map onto one layer");
                InputPreProcessor p = own != null ? own : pending;
                if (p != null) pre.put(confs.size(), p.clone());
                NeuralNetConfiguration c = l.getLayerConf().clone();
                if (c.getLayer().getLayerName() == null) c.getLayer().setLayerName(name);
                confs.add(c);
                layerNames.add(name);
                pending = null;
            } else {
                throw new BadInputException("model " + source + ": vertex '" + name + "' is a " + v.getClass().getSimpleName()
                        + ", which Squeeze does not support in a chain of layers");
            }
        }
        if (pending != null) throw new BadInputException("model " + source + ": the graph ends in a preprocessor, not a layer");
        if (confs.isEmpty()) throw new BadInputException("model " + source + ": the graph has no layers");
        MultiLayerConfiguration mlc = new MultiLayerConfiguration.Builder().confs(confs).inputPreProcessors(pre)
                .dataType(conf.getDataType()).backpropType(conf.getBackpropType()).build();
        MultiLayerNetwork net = new MultiLayerNetwork(mlc);
        net.init();
        for (int i = 0; i < layerNames.size(); i++) Surgery.copyParams(g.getLayer(layerNames.get(i)), net.getLayer(i));
        return net;
    }

    /** The vertex names from the input to the output, or a refusal listing every merge and fork. */
    static List<String> chain(ComputationGraphConfiguration conf, String source) {
        List<String> problems = branches(conf);
        if (!problems.isEmpty())
            throw new BadInputException("model " + source + " is a graph, not a chain of layers, which Squeeze does not compress yet: "
                    + String.join("; ", problems) + " (" + Graphs.COMMANDS + ")");
        Map<String, List<String>> consumers = consumers(conf);
        List<String> chain = new ArrayList<>();
        String at = conf.getNetworkInputs().get(0);
        while (consumers.containsKey(at)) {
            at = consumers.get(at).get(0);
            chain.add(at);
        }
        return chain;
    }

    /** Whether {@code conf} is a chain (read as a layer stack) rather than a branching graph. */
    static boolean isChain(ComputationGraphConfiguration conf) {
        return branches(conf).isEmpty();
    }

    /** What makes {@code conf} a graph rather than a chain: several inputs or outputs, each merge and fork. */
    private static List<String> branches(ComputationGraphConfiguration conf) {
        Map<String, List<String>> inputs = conf.getVertexInputs();
        Map<String, List<String>> consumers = consumers(conf);
        List<String> problems = new ArrayList<>();
        if (conf.getNetworkInputs().size() != 1) problems.add(conf.getNetworkInputs().size() + " inputs " + conf.getNetworkInputs());
        if (conf.getNetworkOutputs().size() != 1) problems.add(conf.getNetworkOutputs().size() + " outputs " + conf.getNetworkOutputs());
        for (String v : conf.getTopologicalOrderStr()) {
            List<String> in = inputs.getOrDefault(v, List.of());
            if (in.size() > 1) problems.add("'" + v + "' (" + describe(conf.getVertices().get(v)) + ") joins " + String.join(", ", in));
            List<String> out = consumers.getOrDefault(v, List.of());
            if (out.size() > 1) problems.add("'" + v + "' feeds " + out.size() + " vertices (" + String.join(", ", out) + ")");
        }
        return problems;
    }

    /** Each vertex's consumers, in topological order. */
    private static Map<String, List<String>> consumers(ComputationGraphConfiguration conf) {
        Map<String, List<String>> inputs = conf.getVertexInputs();
        Map<String, List<String>> consumers = new TreeMap<>();
        for (String v : conf.getTopologicalOrderStr())
            for (String i : inputs.getOrDefault(v, List.of())) consumers.computeIfAbsent(i, k -> new ArrayList<>()).add(v);
        return consumers;
    }

    private static String describe(GraphVertex v) {
        return v == null ? "input" : Graphs.describe(v);
    }
}
