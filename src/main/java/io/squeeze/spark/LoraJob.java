package io.squeeze.spark;

import io.squeeze.artifact.AdapterArtifact;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.Manifest;
import io.squeeze.artifact.Models;
import io.squeeze.core.BadInputException;
import io.squeeze.core.LayerSelector;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.Lora;
import io.squeeze.model.SourceKind;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.quantize.QuantizedTensor;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.learning.config.Adam;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * {@code squeeze lora} as a job (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"): the base is
 * frozen and a rank-r update ΔW = (α/r)·A·B per chosen dense or convolution layer trains on Spark (A Gaussian, B zero, so the
 * adapted model starts exactly at the base). The result is either the merged network or an adapter artifact that
 * holds only A and B and references the base by path and sha256.
 */
public final class LoraJob {
    private LoraJob() {}

    /**
     * {@code squeeze lora} as a record: everything the command runs, stored as the artifact's {@code config}
     * ({@code rank} and {@code alpha} are also what loading an adapter artifact reads).
     *
     * @param model    the base model (qualified URI)
     * @param layers   which layers get adapters (default: every hidden dense layer)
     * @param data     the training data
     * @param training epochs and minibatch
     * @param merge    write the merged network instead of the adapters
     * @param evalData data to evaluate the adapted model against the base on, or null
     * @param baseQuant null, or {@code NF4}: QLoRA — the base's weights quantized to 4-bit NormalFloat (frozen) under
     *                  the adapters (with {@code merge})
     */
    public record Config(String model, int rank, double alpha, LayerSelector layers, DataSpec data, SparkTrainer.Config training, double lr,
                         long seed, boolean merge, String evalData, QuantConfig.Precision baseQuant) implements JobConfig.OfModel {
        public Config(String model, int rank, double alpha, LayerSelector layers, DataSpec data, SparkTrainer.Config training, double lr,
                      long seed, boolean merge, String evalData) {
            this(model, rank, alpha, layers, data, training, lr, seed, merge, evalData, null);
        }

        public Config {
            if (baseQuant != null && baseQuant != QuantConfig.Precision.NF4)
                throw new BadInputException("lora.base-quant must be nf4, got " + baseQuant.name().toLowerCase(Locale.ROOT));
            if (baseQuant != null && !merge)
                throw new BadInputException("lora --base-quant nf4 writes the merged model: add --merge, or quantize the base first "
                        + "(squeeze quantize --model M --dtype nf4 --out B) and adapt B, whose adapters then reference the NF4 base by sha256");
            if (model == null || model.isBlank()) throw new BadInputException("--model must be given");
            if (rank <= 0) throw new BadInputException("lora.rank must be > 0, got " + rank);
            if (!(alpha > 0) || Double.isInfinite(alpha)) throw new BadInputException("lora.alpha must be a finite number > 0, got " + alpha);
            if (!(lr > 0)) throw new BadInputException("--lr must be > 0, got " + lr);
            if (data == null) throw new BadInputException("--data must be given");
            if (training == null) throw new BadInputException("--epochs must be given");
            layers = layers == null ? LayerSelector.ALL : layers;
        }

        @Override
        public ArtifactWriter.Content run(SparkSession spark, String out, List<String> argv, PrintWriter progress) {
            return LoraJob.run(spark, this, out, argv, progress);
        }

        /** The merged network as an artifact, or the adapters alone ({@link AdapterArtifact}). */
        @Override
        public Manifest publish(Storage st, String out, boolean overwrite, ArtifactWriter.Content c, boolean dl4jZip) {
            return merge ? ArtifactWriter.write(st, out, overwrite, c, dl4jZip) : AdapterArtifact.write(st, out, overwrite, c.net(), c.provenance(), c.metrics());
        }
    }

    /**
     * Runs {@code c}; the content's network is the merged one with {@code merge}, else the adapted network (base plus
     * LoRA layers) that {@link Config#publish} stores as adapters. Metrics are the merged network's against the base,
     * with the number of trainable parameters.
     */
    public static ArtifactWriter.Content run(SparkSession spark, Config c, String out, List<String> argv, PrintWriter err) {
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        Loaded baseRun = Models.loadRunnable(st, c.model());
        Map<String, Object> baseBytes = new LinkedHashMap<>();
        LoadedModel base = base(c, baseRun, true, baseBytes);
        MultiLayerNetwork net = base.net();
        reportNf4(baseBytes, err);
        List<org.deeplearning4j.nn.conf.layers.Layer> confs = new java.util.ArrayList<>();
        for (int i = 0; i < net.getnLayers(); i++) confs.add(net.getLayer(i).conf().getLayer());
        List<String> names = new java.util.ArrayList<>();
        confs.forEach(l -> names.add(l.getLayerName()));
        TreeSet<Integer> chosen = choose(c.layers(), confs, names, i -> i == confs.size() - 1);
        if (c.layers().equals(LayerSelector.ALL) && chosen.isEmpty())
            throw new BadInputException("lora adapters go on dense and convolution layers; " + c.model() + " has no hidden dense or convolution layer");
        c.layers().requireMatch(!chosen.isEmpty(), "--layers");
        MultiLayerNetwork adapted = Lora.attach(net, chosen, c.rank(), c.alpha(), c.seed(), new Adam(c.lr()));
        long trainable = adapted.numParams() - net.numParams();
        err.printf(Locale.ROOT, "lora: rank %d on layers %s: %d trainable parameters (%.2f%% of the model's %d)%n", c.rank(), chosen,
                trainable, 100.0 * trainable / net.numParams(), net.numParams());
        var meta = base.meta();
        var rows = TrainJob.normalized(TrainJob.trainingData(spark, c.data(), meta, base.source()).rdd(), meta.normalizer());
        MultiLayerNetwork trained = SparkTrainer.train(SparkSessions.jsc(spark), rows, adapted, meta.numFeatures(), meta.numClasses(),
                c.training(), c.data().toString(), err, Validation.after(spark, c.evalData(), meta, err, Lora::merge));
        MultiLayerNetwork merged = Lora.merge(trained);
        Map<String, Object> metrics = new LinkedHashMap<>(EvaluateJob.againstSource(spark, c.evalData(), null,
                Loaded.plain(new LoadedModel(merged, meta, "", out, SourceKind.ARTIFACT, 0)), baseRun));
        metrics.putAll(baseBytes);
        metrics.put("adapted_layers", chosen.toString());
        metrics.put("trainable_params", trainable);
        return new ArtifactWriter.Content(c.merge() ? merged : trained, meta,
                new ArtifactWriter.Provenance(base.source(), base.sha256(), argv, Jobs.toMap(c)), Map.of(), metrics, Map.of());
    }

    /** The NF4 base's size against fp32, when the base was NF4-quantized. */
    public static void reportNf4(Map<String, Object> baseBytes, PrintWriter err) {
        if (baseBytes.containsKey("base_weights_nf4_bytes"))
            err.printf(Locale.ROOT, "lora: base weights in NF4 (blocks of 64, double-quantized maxima): %d bytes against %d in fp32%n",
                    (Long) baseBytes.get("base_weights_nf4_bytes"), (Long) baseBytes.get("base_weights_fp32_bytes"));
    }

    /** A graph's merged network, the trained graph with its adapters, its metadata, metrics against the base, and the adapters' trainable parameters. */
    public record GraphResult(org.deeplearning4j.nn.graph.ComputationGraph merged, org.deeplearning4j.nn.graph.ComputationGraph adapted,
                              io.squeeze.model.ModelMeta meta, Map<String, Object> metrics, long trainable) {}

    /** The dense vertices a graph LoRA adapts and the graph with their adapters attached (the rest frozen). */
    public record Adapted(java.util.Set<String> vertices, org.deeplearning4j.nn.graph.ComputationGraph graph) {}

    /**
     * Graph {@code g} with adapters on the dense vertices {@code c} chooses (every hidden dense vertex by default; by
     * name glob or place in the graph's layer order); refusals name the vertex. Built in the driver before any Spark work.
     */
    public static Adapted adaptGraph(Config c, org.deeplearning4j.nn.graph.ComputationGraph g) {
        var names = io.squeeze.model.GraphMasks.names(g);
        List<org.deeplearning4j.nn.conf.layers.Layer> confs = java.util.Arrays.stream(g.getLayers()).map(l -> l.conf().getLayer()).toList();
        java.util.Set<String> chosen = new java.util.TreeSet<>();
        var outputs = g.getConfiguration().getNetworkOutputs();
        for (int i : choose(c.layers(), confs, names, i -> outputs.contains(names.get(i)))) chosen.add(names.get(i));
        if (c.layers().equals(LayerSelector.ALL) && chosen.isEmpty())
            throw new BadInputException("lora adapters go on dense and convolution layers; graph " + c.model() + " has no hidden dense or convolution vertex");
        c.layers().requireMatch(!chosen.isEmpty(), "--layers");
        return new Adapted(chosen, Lora.attach(g, chosen, c.rank(), c.alpha(), c.seed(), new Adam(c.lr())));
    }

    /**
     * {@code c} on a graph: its adapters ({@link #adaptGraph} of {@code base}, the model as {@link #base} made it)
     * trained on Spark (validated merged after each epoch), then merged; evaluated against {@code source}, the model given.
     */
    public static GraphResult runGraph(SparkSession spark, Config c, LoadedModel base, Loaded source, Map<String, Object> baseBytes, Adapted a, PrintWriter err) {
        var g = base.graph();
        java.util.Set<String> chosen = a.vertices();
        var adapted = a.graph();
        long trainable = adapted.numParams() - g.numParams();
        err.printf(Locale.ROOT, "lora: rank %d on vertices %s: %d trainable parameters (%.2f%% of the model's %d)%n", c.rank(), chosen,
                trainable, 100.0 * trainable / g.numParams(), g.numParams());
        var meta = base.meta();
        var rows = TrainJob.normalized(TrainJob.trainingData(spark, c.data(), meta, base.source()).rdd(), meta.normalizer());
        var validate = Validation.afterGraph(spark, c.evalData(), meta, err);
        var trained = SparkTrainer.trainGraph(SparkSessions.jsc(spark), rows, adapted, meta.numFeatures(), meta.numClasses(), c.training(),
                c.data().toString(), err, EpochWatcher.through(validate, Lora::merge));
        var merged = Lora.merge(trained);
        Map<String, Object> metrics = new LinkedHashMap<>(EvaluateJob.againstSource(spark, c.evalData(), null,
                Loaded.plain(LoadedModel.ofGraph(merged, meta, "", "merged", SourceKind.DL4J_ZIP, 0)), source));
        metrics.putAll(baseBytes);
        metrics.put("adapted_layers", chosen.toString());
        metrics.put("trainable_params", trainable);
        return new GraphResult(merged, trained, meta, metrics, trainable);
    }

    /**
     * The layers (by place in {@code confs}, named {@code names}) that {@code sel} chooses: those it names or numbers or,
     * by default, every hidden dense layer (not an {@code output}) — or, in a network without one (a CNN, a ResNet),
     * every 2-D convolution. What a selector names and no adapter fits is refused when the adapters are attached.
     */
    static TreeSet<Integer> choose(LayerSelector sel, List<org.deeplearning4j.nn.conf.layers.Layer> confs, List<String> names, java.util.function.IntPredicate output) {
        TreeSet<Integer> chosen = new TreeSet<>();
        if (!sel.equals(LayerSelector.ALL)) {
            for (int i = 0; i < confs.size(); i++) if (sel.matches(i, names.get(i))) chosen.add(i);
            return chosen;
        }
        for (int i = 0; i < confs.size(); i++) if (confs.get(i) instanceof DenseLayer && !output.test(i)) chosen.add(i);
        if (chosen.isEmpty())
            for (int i = 0; i < confs.size(); i++) if (confs.get(i).getClass() == org.deeplearning4j.nn.conf.layers.ConvolutionLayer.class) chosen.add(i);
        return chosen;
    }

    /** The network with every layer's weights {@code W} replaced by their NF4 dequantization (biases stay float32). */
    static MultiLayerNetwork nf4Base(MultiLayerNetwork net, Map<String, Object> bytes) {
        MultiLayerNetwork out = net.clone();
        nf4(out.getLayers(), bytes);
        return out;
    }

    /**
     * QLoRA's base for a graph: a copy of {@code g} with every weighted vertex's {@code W} (convolutions' and dense
     * layers') replaced by its NF4 dequantization, as {@link #nf4Base} does for a stack; the sizes go in {@code bytes}.
     */
    public static org.deeplearning4j.nn.graph.ComputationGraph nf4Base(org.deeplearning4j.nn.graph.ComputationGraph g, Map<String, Object> bytes) {
        var out = g.clone();
        nf4(out.getLayers(), bytes);
        return out;
    }

    /** Every layer's W in place: quantized to NF4 (blocks of 64, double-quantized maxima) and dequantized. */
    private static void nf4(org.deeplearning4j.nn.api.Layer[] layers, Map<String, Object> bytes) {
        long nf4 = 0, fp32 = 0;
        for (var l : layers) {
            var w = l.paramTable().get("W"); // an activation layer's getParam throws
            if (w == null) continue;
            float[] v = w.dup('c').data().asFloat();
            QuantizedTensor q = QuantizedTensor.quantize(v, w.shape(), QuantizedTensor.Format.NF4, false, -1);
            w.assign(org.nd4j.linalg.factory.Nd4j.create(q.dequantize(), w.shape(), 'c'));
            nf4 += q.toBytes().length;
            fp32 += 4L * v.length;
        }
        bytes.put("base_weights_nf4_bytes", nf4);
        bytes.put("base_weights_fp32_bytes", fp32);
    }

    /**
     * The base {@code c} adapts, refusing what cannot be: merging over a quantized base (merging writes floats),
     * NF4-quantizing an already quantized one, a quantized graph's DL4J zip (it holds the float graph beside its
     * quantized form; its artifact directory holds the dequantized weights the adapters train over). With
     * {@code --base-quant nf4} the base's weights are NF4 (QLoRA, Dettmers et al. 2023), their sizes in {@code bytes}.
     */
    public static LoadedModel base(Config c, Loaded run, boolean directory, Map<String, Object> bytes) {
        String mode = run.quant() == null ? null : run.quant().plan().mode().name().toLowerCase(Locale.ROOT);
        if (mode != null && c.baseQuant() != null)
            throw new BadInputException("lora --base-quant nf4: " + c.model() + " is already quantized (" + mode + "); adapt it without --base-quant");
        if (mode != null && c.merge())
            throw new BadInputException("lora --merge: " + c.model() + " is quantized (" + mode
                    + "); merging writes floats (the dequantized base plus the adapters): drop --merge to keep the adapters over the quantized base, or merge into the float model and quantize");
        LoadedModel m = run.model();
        if (mode != null && m.isGraph() && !directory)
            throw new BadInputException("lora: " + c.model() + " is a quantized graph's DL4J zip, which holds the float graph beside its quantized form; "
                    + "adapt the quantized graph's artifact directory (quantize --out DIR)");
        if (c.baseQuant() == null) return m;
        return m.isGraph() ? LoadedModel.ofGraph(nf4Base(m.graph(), bytes), m.meta(), m.sha256(), m.source(), m.kind(), m.storedBytes())
                : new LoadedModel(nf4Base(m.net(), bytes), m.meta(), m.sha256(), m.source(), m.kind(), m.storedBytes());
    }
}
