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
 * frozen and a rank-r update ΔW = (α/r)·A·B per chosen dense layer trains on Spark (A Gaussian, B zero, so the
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
        LoadedModel base = baseRun.model();
        if (baseRun.quant() != null && c.baseQuant() == null && c.merge())
            throw new BadInputException("lora --merge: " + c.model() + " is quantized (" + baseRun.quant().plan().mode().name().toLowerCase(Locale.ROOT)
                    + "); merging writes floats (the dequantized base plus the adapters): drop --merge to keep the adapters over the quantized base, or merge into the float model and quantize");
        MultiLayerNetwork net = base.net();
        Map<String, Object> baseBytes = new LinkedHashMap<>();
        if (c.baseQuant() != null) {
            if (baseRun.quant() != null)
                throw new BadInputException("lora --base-quant nf4: " + c.model() + " is already quantized (" + baseRun.quant().plan().mode() + "); adapt it without --base-quant");
            net = nf4Base(net, baseBytes);
            err.printf(Locale.ROOT, "lora: base weights in NF4 (blocks of 64, double-quantized maxima): %d bytes against %d in fp32%n",
                    (Long) baseBytes.get("base_weights_nf4_bytes"), (Long) baseBytes.get("base_weights_fp32_bytes"));
        }
        TreeSet<Integer> chosen = new TreeSet<>();
        for (int i = 0; i < net.getnLayers(); i++) {
            var l = net.getLayer(i).conf().getLayer();
            if (c.layers().matches(i, l.getLayerName()) && (l instanceof DenseLayer || !c.layers().equals(LayerSelector.ALL))) chosen.add(i);
        }
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
        if (c.baseQuant() != null) throw new BadInputException("lora --base-quant applies to layer stacks; " + c.model() + " is a graph");
        java.util.Set<String> chosen = new java.util.TreeSet<>();
        var names = io.squeeze.model.GraphMasks.names(g);
        for (int i = 0; i < names.size(); i++) {
            var l = g.getLayers()[i].conf().getLayer();
            boolean hidden = l instanceof DenseLayer && !g.getConfiguration().getNetworkOutputs().contains(names.get(i));
            if (c.layers().matches(i, names.get(i)) && (hidden || !c.layers().equals(LayerSelector.ALL))) chosen.add(names.get(i));
        }
        if (c.layers().equals(LayerSelector.ALL) && chosen.isEmpty())
            throw new BadInputException("lora adapters go on dense layers; graph " + c.model() + " has no hidden dense vertex");
        c.layers().requireMatch(!chosen.isEmpty(), "--layers");
        return new Adapted(chosen, Lora.attach(g, chosen, c.rank(), c.alpha(), c.seed(), new Adam(c.lr())));
    }

    /**
     * {@code c} on a graph: its adapters ({@link #adaptGraph} of the base) trained on Spark (validated merged after
     * each epoch), then merged.
     */
    public static GraphResult runGraph(SparkSession spark, Config c, LoadedModel base, Adapted a, PrintWriter err) {
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
                c.data().toString(), err, (e, n) -> validate.accept(e, Lora.merge(n)));
        var merged = Lora.merge(trained);
        Map<String, Object> metrics = new LinkedHashMap<>(EvaluateJob.againstSource(spark, c.evalData(), null,
                Loaded.plain(LoadedModel.ofGraph(merged, meta, "", "merged", SourceKind.DL4J_ZIP, 0)), Loaded.plain(base)));
        metrics.put("adapted_layers", chosen.toString());
        metrics.put("trainable_params", trainable);
        return new GraphResult(merged, trained, meta, metrics, trainable);
    }

    /** The network with every layer's weights {@code W} replaced by their NF4 dequantization (biases stay float32). */
    static MultiLayerNetwork nf4Base(MultiLayerNetwork net, Map<String, Object> bytes) {
        Map<Integer, float[]> w = new java.util.TreeMap<>();
        long nf4 = 0, fp32 = 0;
        for (int i = 0; i < net.getnLayers(); i++) {
            if (net.getLayer(i).getParam("W") == null) continue;
            float[] v = io.squeeze.model.Surgery.values(net, i, "W");
            QuantizedTensor q = QuantizedTensor.quantize(v, net.getLayer(i).getParam("W").shape(), QuantizedTensor.Format.NF4, false, -1);
            w.put(i, q.dequantize());
            nf4 += q.toBytes().length;
            fp32 += 4L * v.length;
        }
        bytes.put("base_weights_nf4_bytes", nf4);
        bytes.put("base_weights_fp32_bytes", fp32);
        return io.squeeze.model.Surgery.withWeights(net, w);
    }
}
