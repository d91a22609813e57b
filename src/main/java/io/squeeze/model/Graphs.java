package io.squeeze.model;

import io.squeeze.core.BadInputException;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor;
import org.deeplearning4j.nn.graph.ComputationGraph;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Branching DL4J {@link ComputationGraph}s (a ResNet's residual adds, a Keras functional model's merges) as the
 * commands that take them see them: one input of flat rows (a feed-forward input, or images flattened as
 * {@code InputType.convolutionalFlat}) and one output layer whose pre-activation gives the logits ({@link Logits}). The checks,
 * the metadata read off the configuration and {@code inspect}'s listing of the vertices.
 */
public final class Graphs {
    private Graphs() {}

    /** The commands that take a branching graph (every other one refuses it, naming its merges and forks). */
    public static final String COMMANDS = "train --arch resnet:N, lottery --arch resnet:N, inspect, evaluate, predict, soft-targets, prune (weights masked by any method, or --method ln --shrink of channel groups), factorize, lora (dense and convolution vertices; adapters or --merge; QLoRA with --base-quant nf4 or over an NF4 artifact), quantize (static, dynamic, qat, codebook), sensitivity, run (recipes of those), export and weights export take graphs; distill learns from their soft targets (and hints from their vertices) or from them online, and teaches graph students from soft targets (with hints into their vertices) or online";

    /**
     * Whether a graph's {@code out} is a DL4J zip (ends in .zip) rather than an artifact directory; a zip with
     * {@code --with-dl4j-zip} (an artifact's extra file) is refused.
     */
    /**
     * Seeds {@code c} as a whole: its default configuration, from whose seed {@code ComputationGraph.init} draws every
     * layer's initial weights, and each layer vertex's configuration (dropout and the stored form).
     */
    public static void seed(ComputationGraphConfiguration c, long seed) {
        c.getDefaultConfiguration().setSeed(seed);
        for (GraphVertex v : c.getVertices().values())
            if (v instanceof LayerVertex l) l.getLayerConf().setSeed(seed);
    }

    public static boolean zipOutput(String out, boolean dl4jZipOption) {
        boolean zip = out.toLowerCase(java.util.Locale.ROOT).endsWith(".zip");
        if (zip && dl4jZipOption) throw new BadInputException("--with-dl4j-zip adds a model.zip to an artifact directory; --out " + out + " is a zip already");
        return zip;
    }

    /** Refuses a graph Squeeze cannot run on rows: several inputs or outputs, or an output that is not a dense-like layer. */
    public static void checkRunnable(ComputationGraphConfiguration c, String what) {
        if (c.getNetworkInputs().size() != 1 || c.getNetworkOutputs().size() != 1)
            throw new BadInputException(what + " has inputs " + c.getNetworkInputs() + " and outputs " + c.getNetworkOutputs()
                    + "; Squeeze runs graphs of one input and one output");
        String out = c.getNetworkOutputs().get(0);
        GraphVertex v = c.getVertices().get(out);
        if (!(v instanceof LayerVertex l) || !(l.getLayerConf().getLayer() instanceof FeedForwardLayer))
            throw new BadInputException(what + ": output vertex '" + out + "' is a " + (v == null ? "missing vertex" : describe(v))
                    + "; Squeeze needs an output (or dense softmax) layer there");
    }

    /** Refuses a graph that does not take {@code numFeatures} inputs or does not give {@code classes} outputs. */
    public static void checkFits(ComputationGraphConfiguration c, int numFeatures, int classes, String what) {
        ModelMeta m = deriveMeta(c, what);
        if (m.numFeatures() != numFeatures) throw new BadInputException(what + " takes " + m.numFeatures() + " inputs but the data has " + numFeatures + " features");
        if (m.numClasses() != classes) throw new BadInputException(what + " has " + m.numClasses() + " outputs but the data has " + classes + " classes");
    }

    private static FeedForwardLayer outputLayer(ComputationGraphConfiguration c) {
        return (FeedForwardLayer) ((LayerVertex) c.getVertices().get(c.getNetworkOutputs().get(0))).getLayerConf().getLayer();
    }

    /**
     * Input width, image shape and classes read off a graph's configuration, for graphs Squeeze did not write
     * ({@code what} names it in a refusal, e.g. "model M").
     */
    public static ModelMeta deriveMeta(ComputationGraphConfiguration c, String what) {
        checkRunnable(c, what);
        int nf;
        int[] shape = null;
        if (!(firstLayer(c) instanceof LayerVertex l))
            throw new BadInputException(what + ": its input '" + c.getNetworkInputs().get(0)
                    + "' does not feed a layer first; Squeeze feeds graphs flat rows (feed-forward or flattened images)");
        InputPreProcessor pre = l.getPreProcessor();
        if (pre instanceof FeedForwardToCnnPreProcessor f) {
            shape = new int[]{(int) f.getInputHeight(), (int) f.getInputWidth(), (int) f.getNumChannels()};
            nf = shape[0] * shape[1] * shape[2];
        } else if (pre instanceof HwcRows r) {
            shape = new int[]{r.height(), r.width(), r.channels()};
            nf = shape[0] * shape[1] * shape[2];
        } else if (pre == null && l.getLayerConf().getLayer() instanceof FeedForwardLayer ff && ff.getNIn() > 0) {
            nf = (int) ff.getNIn();
        } else {
            throw new BadInputException(what + ": cannot tell its input size (first layer '" + l.getLayerConf().getLayer().getLayerName()
                    + "', " + l.getLayerConf().getLayer().getClass().getSimpleName() + ", without a flat-input preprocessor)");
        }
        return new ModelMeta(nf, (int) outputLayer(c).getNOut(), shape, null, "");
    }

    /** The first vertex fed by the network's input. */
    private static GraphVertex firstLayer(ComputationGraphConfiguration c) {
        String in = c.getNetworkInputs().get(0);
        // by the inputs of each vertex: a configuration not yet built into a graph has no topological order
        return c.getVertexInputs().entrySet().stream().filter(e -> e.getValue().contains(in)).map(e -> c.getVertices().get(e.getKey()))
                .findFirst().orElse(null);
    }

    /**
     * Multiply-adds of one row through the graph's weighted layers: a convolution's output positions × its filter
     * size (output channels × height × width × input channels × kernel), a dense or output layer's nIn × nOut — the
     * FLOP count pruning is measured against (batch normalization, activations, adds and pooling not counted).
     */
    public static long multiplyAdds(ComputationGraph g, int numFeatures) {
        Map<String, org.nd4j.linalg.api.ndarray.INDArray> acts = g.feedForward(org.nd4j.linalg.factory.Nd4j.zeros(
                org.nd4j.linalg.api.buffer.DataType.FLOAT, 1, numFeatures), false);
        long total = 0;
        for (var l : g.getLayers()) {
            var w = l.paramTable().get("W"); // getParam throws on layers without parameters
            if (w == null) continue;
            var conf = l.conf().getLayer();
            if (conf instanceof org.deeplearning4j.nn.conf.layers.ConvolutionLayer) {
                long[] out = acts.get(conf.getLayerName()).shape(); // [1, C, H, W]
                total += out[2] * out[3] * w.length();
            } else {
                total += w.length();
            }
        }
        return total;
    }

    /** One row of {@code inspect} per vertex in topological order: name, type, inputs and parameters. */
    public record Vertex(String name, String type, List<String> inputs, long params) {}

    public static List<Vertex> vertices(ComputationGraph g) {
        ComputationGraphConfiguration c = g.getConfiguration();
        List<Vertex> out = new ArrayList<>();
        for (String name : c.getTopologicalOrderStr()) {
            GraphVertex v = c.getVertices().get(name);
            if (v == null) continue; // the network input
            long params = v instanceof LayerVertex ? g.getLayer(name).numParams() : 0;
            out.add(new Vertex(name, describe(v), c.getVertexInputs().getOrDefault(name, List.of()), params));
        }
        return out;
    }

    /** How {@link #rebuilt} sets one layer's parameters itself; false leaves them to the plain copy. */
    @FunctionalInterface
    interface ParamsOf {
        boolean set(String vertex, org.deeplearning4j.nn.api.Layer from, ComputationGraph out);
    }

    /**
     * A graph of {@code conf} — {@code from}'s configuration with vertices added, removed or rewired — holding
     * {@code from}'s parameters by vertex name: each layer of {@code from} that {@code special} does not set copies
     * its parameters to the layer of the same name. DL4J recomputes the topological order (vertices changed).
     */
    static ComputationGraph rebuilt(ComputationGraph from, ComputationGraphConfiguration conf, ParamsOf special) {
        conf.setTopologicalOrder(null);
        conf.setTopologicalOrderStr(null);
        ComputationGraph out = new ComputationGraph(conf);
        out.init();
        for (var l : from.getLayers()) {
            String n = l.conf().getLayer().getLayerName();
            if (!special.set(n, l, out)) l.paramTable().forEach((k, v) -> out.getLayer(n).setParam(k, v.dup()));
        }
        return out;
    }

    /** A vertex's kind: its layer's type for a layer vertex, the merge operation for an element-wise vertex. */
    static String describe(GraphVertex v) {
        if (v instanceof LayerVertex l) return l.getLayerConf().getLayer().getClass().getSimpleName();
        if (v instanceof org.deeplearning4j.nn.conf.graph.ElementWiseVertex e) return "ElementWiseVertex " + e.getOp();
        return v.getClass().getSimpleName();
    }

    /**
     * {@code g} with every batch normalization that reads dense-layer outputs (through activations, dropout or other
     * normalizations) marked NCHW, as {@code ModelIO.flatBatchNorm} does for a stack: DL4J's Keras importer marks them
     * NHWC, and DL4J's oneDNN helper then fails on every forward pass ("wrong shape of mean array") and falls back.
     */
    static ComputationGraph flatBatchNorm(ComputationGraph g) {
        ComputationGraphConfiguration c = g.getConfiguration().clone();
        boolean changed = false;
        for (var e : c.getVertices().entrySet()) {
            if (!(e.getValue() instanceof LayerVertex lv) || !(lv.getLayerConf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.BatchNormalization bn)
                    || bn.getCnn2DFormat() != org.deeplearning4j.nn.conf.CNN2DFormat.NHWC || lv.getPreProcessor() != null) continue;
            String at = e.getKey();
            while (true) {
                List<String> in = c.getVertexInputs().get(at);
                if (in == null || in.size() != 1 || !(c.getVertices().get(in.get(0)) instanceof LayerVertex prev)) break;
                var l = prev.getLayerConf().getLayer();
                if (l.getClass() == org.deeplearning4j.nn.conf.layers.DenseLayer.class) {
                    bn.setCnn2DFormat(org.deeplearning4j.nn.conf.CNN2DFormat.NCHW);
                    changed = true;
                    break;
                }
                if (!(l instanceof org.deeplearning4j.nn.conf.layers.BatchNormalization || l instanceof org.deeplearning4j.nn.conf.layers.ActivationLayer
                        || l instanceof org.deeplearning4j.nn.conf.layers.DropoutLayer) || prev.getPreProcessor() != null) break;
                at = in.get(0);
            }
        }
        if (!changed) return g;
        ComputationGraph out = new ComputationGraph(c);
        out.init(g.params().dup(), false);
        return out;
    }

    /** {@code g} with its output layer's loss replaced (e.g. the KD loss while a student distills), same parameters. */
    public static ComputationGraph withLoss(ComputationGraph g, org.nd4j.linalg.lossfunctions.ILossFunction loss) {
        ComputationGraphConfiguration c = g.getConfiguration().clone();
        var out = c.getVertices().get(c.getNetworkOutputs().get(0));
        if (!(out instanceof LayerVertex lv) || !(lv.getLayerConf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.BaseOutputLayer o))
            throw new BadInputException("the graph's output vertex must be an output layer, got " + (out == null ? "none" : describe(out)));
        o.setLossFn(loss);
        ComputationGraph r = new ComputationGraph(c);
        r.init(g.params().dup(), false);
        return r;
    }

    /**
     * {@code g} with a dense softmax output vertex (what Keras models imported without their training configuration
     * end in) turned into an output layer with cross-entropy, same parameters and outputs, so the graph can be trained
     * (fine-tuning, LoRA, distillation); {@code g} itself when its output is not such a layer.
     */
    static ComputationGraph softmaxDenseAsOutput(ComputationGraph g) {
        ComputationGraphConfiguration c = g.getConfiguration().clone();
        var out = c.getVertices().get(c.getNetworkOutputs().get(0));
        if (!(out instanceof LayerVertex lv) || !(lv.getLayerConf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.DenseLayer d)
                || !(d.getActivationFn() instanceof org.nd4j.linalg.activations.impl.ActivationSoftmax)) return g;
        lv.getLayerConf().setLayer(outputLayerOf(d));
        ComputationGraph r = new ComputationGraph(c);
        r.init(g.params().dup(), false);
        return r;
    }

    /** A loaded graph after its checks: runnable, every parameter finite. */
    static LoadedModel loaded(ComputationGraph g, ModelMeta meta, String sha, String source, SourceKind kind, long bytes) {
        checkRunnable(g.getConfiguration(), "model " + source);
        LayerSupport.checkFinite(g.getLayers(), source);
        return LoadedModel.ofGraph(g, meta, sha, source, kind, bytes);
    }

    /**
     * A dense softmax layer as an output layer with cross-entropy (same parameters, same outputs). The dense layer's
     * updater, init and regularization carry over: a configuration with a null updater takes DL4J's legacy JSON path
     * and cannot be read back (executors rebuild networks from JSON).
     */
    static org.deeplearning4j.nn.conf.layers.OutputLayer outputLayerOf(org.deeplearning4j.nn.conf.layers.DenseLayer d) {
        var o = new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder(
                org.nd4j.linalg.lossfunctions.LossFunctions.LossFunction.MCXENT).nIn(d.getNIn()).nOut(d.getNOut())
                .activation(d.getActivationFn()).hasBias(d.hasBias()).name(d.getLayerName())
                .updater(d.getIUpdater()).weightInit(d.getWeightInitFn()).build();
        if (d.getBiasUpdater() != null) o.setBiasUpdater(d.getBiasUpdater());
        // the builder leaves these NaN (a layer built outside a NeuralNetConfiguration); a re-initialized network
        // (--arch MODEL) would start from NaN biases
        o.setBiasInit(Double.isNaN(d.getBiasInit()) ? 0 : d.getBiasInit());
        o.setGainInit(Double.isNaN(d.getGainInit()) ? 1 : d.getGainInit());
        o.setGradientNormalization(d.getGradientNormalization() == null ? org.deeplearning4j.nn.conf.GradientNormalization.None : d.getGradientNormalization());
        o.setGradientNormalizationThreshold(Double.isNaN(d.getGradientNormalizationThreshold()) ? 1 : d.getGradientNormalizationThreshold());
        o.setRegularization(d.getRegularization());
        o.setRegularizationBias(d.getRegularizationBias());
        return o;
    }
}
