package io.squeeze.cli;

import io.squeeze.core.BadInputException;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.core.Storage;
import io.squeeze.data.Split;
import io.squeeze.core.LayerSelector;
import io.squeeze.spark.LoraJob;
import io.squeeze.spark.SparkSessions;
import io.squeeze.spark.SparkTrainer;
import org.apache.spark.sql.SparkSession;
import org.nd4j.linalg.learning.config.Adam;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.Locale;
import java.util.Map;

@Command(name = "lora", mixinStandardHelpOptions = true,
        description = {"LoRA (Hu et al. 2021): freezes the model (e.g. a pruned or factorized one) and trains, on Spark, a",
                "low-rank update ΔW = (α/r)·A·B per chosen dense or convolution layer (A Gaussian, B zero, so step 0 is",
                "the base; a convolution's kernel seen as its nIn·kH·kW inputs by its nOut outputs).",
                "--merge folds W + ΔW into plain layers; without it the artifact holds only A and B and references",
                "the base model by path and sha256 (loading checks it).",
                "Example: squeeze lora --model out/mnist-lr --rank 8 --alpha 16 --data idx:data/mnist --epochs 2 --out out/mnist-lora"})
public final class LoraCommand extends BaseCommand implements StageCommand {
    @Option(names = "--model", required = true, paramLabel = "M")
    String model;

    @Option(names = "--rank", required = true, paramLabel = "R")
    int rank;

    @Option(names = "--alpha", defaultValue = "16", description = "scale α; the update is (α/r)·A·B (default: ${DEFAULT-VALUE})")
    double alpha;

    @Option(names = "--layers", paramLabel = "L", description = {"dense or convolution layers (a graph's vertices) by index, range or name glob",
            "(default: every hidden dense layer; in a network without one, every convolution)"})
    String layers;

    @Mixin
    SyncOptions sync;

    @Mixin
    DataOptions data;

    @Option(names = "--epochs", required = true, paramLabel = "E")
    int epochs;

    @Option(names = "--batch", defaultValue = "64")
    int batch;

    @Option(names = "--lr", defaultValue = "0.001", description = "Adam learning rate of the adapters (default: ${DEFAULT-VALUE})")
    double lr;

    @Option(names = "--seed", defaultValue = "42")
    long seed;

    @Option(names = "--local", description = "train in this process instead of on Spark executors (the rows still stream through Spark)")
    boolean local;

    @Option(names = "--base-quant", paramLabel = "nf4", description = {"QLoRA: the frozen base's weights in 4-bit NormalFloat (blocks of 64,",
            "double-quantized maxima) under the adapters; with --merge"})
    String baseQuant;

    @Option(names = "--merge", description = "write the merged network instead of the adapters")
    boolean merge;

    @Option(names = "--eval-data", paramLabel = "D", description = "evaluate the adapted model against the base and record the metrics")
    String evalData;

    @Mixin
    ArtifactOutput output;

    /** The validated job: every option checked before any Spark work. */
    LoraJob.Config config() {
        if (model == null || model.isBlank()) throw new BadInputException("--model must be given");
        return new LoraJob.Config(Storage.withSparkDefaults().path(model).toString(), rank, alpha, LayerSelector.parse(layers),
                data.spec(Split.TRAIN), new SparkTrainer.Config(epochs, batch, sync.syncEvery, seed, local), lr, seed, merge, evalData,
                baseQuant == null ? null : io.squeeze.quantize.QuantConfig.Precision.parse(baseQuant, "lora.base-quant"));
    }

    @Override
    public Integer call() {
        LoraJob.Config c = config();
        if (io.squeeze.artifact.Models.isGraph(Storage.withSparkDefaults(), new org.apache.hadoop.fs.Path(c.model()))) return callGraph(c);
        // the output is checked before any Spark work
        ArtifactWriter.checkTarget(Storage.withSparkDefaults(), output.out, output.overwrite, c.inputs());
        SparkSession spark = SparkSessions.start("squeeze lora");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        ArtifactWriter.Content content = c.run(spark, output.out, Main.args(), err());
        c.publish(st, output.out, output.overwrite, content, output.dl4jZip);
        Map<String, Object> metrics = content.metrics();
        long trainable = ((Number) metrics.get("trainable_params")).longValue();
        long baseParams = content.net().numParams() - (merge ? 0 : trainable);
        long bytes = st.totalBytes(st.path(output.out)); // the whole directory, as for graphs
        var o = out();
        o.printf(Locale.ROOT, "trained %d adapter parameters (%.2f%%); %s %s%n", trainable, 100.0 * trainable / baseParams,
                merge ? "merged artifact" : "adapter artifact", io.squeeze.eval.EvalReport.bytes(bytes));
        if (metrics.containsKey("accuracy")) o.printf(Locale.ROOT, "accuracy %.4f (base %.4f)%n", (Double) metrics.get("accuracy"),
                (Double) ((Map<?, ?>) metrics.get("baseline")).get("accuracy"));
        o.println("wrote " + st.path(output.out));
        return Main.OK;
    }

    /**
     * A branching graph: adapters on its dense or convolution vertices (over its NF4 weights with --base-quant nf4, or
     * over a quantized graph artifact's dequantized weights), written as an adapter artifact (the adapters and the state
     * training moved, by vertex name) or, with {@code --merge}, merged into a graph artifact or a DL4J zip.
     */
    private Integer callGraph(LoraJob.Config c) {
        if (output.graphZip() && !c.merge())
            throw new BadInputException("lora of graph " + c.model() + " without --merge writes an adapter artifact directory; --out " + output.out
                    + " is a zip: give a directory, or add --merge");
        var target = ArtifactWriter.checkTarget(Storage.withSparkDefaults(), output.out, output.overwrite, c.inputs());
        Storage local = Storage.withSparkDefaults();
        var source = io.squeeze.artifact.Models.loadRunnable(local, c.model(), true);
        Map<String, Object> baseBytes = new java.util.LinkedHashMap<>();
        var base = LoraJob.base(c, source, local.isDirectory(local.path(c.model())), baseBytes);
        LoraJob.Adapted adapted = LoraJob.adaptGraph(c, base.graph()); // refusals before any Spark work
        LoraJob.reportNf4(baseBytes, err());
        SparkSession spark = SparkSessions.start("squeeze lora");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        LoraJob.GraphResult r = LoraJob.runGraph(spark, c, base, source, baseBytes, adapted, err());
        var provenance = new ArtifactWriter.Provenance(c.model(), base.sha256(), Main.args(), io.squeeze.spark.Jobs.toMap(c));
        if (c.merge()) output.writeGraph(st, target, new ArtifactWriter.GraphContent(r.merged(), r.meta(), provenance, Map.of(), r.metrics(), Map.of(), null));
        else io.squeeze.artifact.AdapterArtifact.writeGraph(st, output.out, output.overwrite, r.adapted(), provenance, r.metrics());
        long bytes = st.totalBytes(target);
        var o = out();
        o.printf(Locale.ROOT, "trained %d adapter parameters (%.2f%%) on %s; %s %s%n", r.trainable(), 100.0 * r.trainable() / base.numParams(),
                r.metrics().get("adapted_layers"), c.merge() ? "merged graph" : "adapter artifact", io.squeeze.eval.EvalReport.bytes(bytes));
        if (r.metrics().containsKey("accuracy")) o.printf(Locale.ROOT, "accuracy %.4f (base %.4f)%n", (Double) r.metrics().get("accuracy"),
                (Double) ((Map<?, ?>) r.metrics().get("baseline")).get("accuracy"));
        o.println("wrote " + target);
        return Main.OK;
    }

    @Override
    public void check() {
        config();
    }
}
