package io.squeeze.cli;

import io.squeeze.artifact.Loaded;
import io.squeeze.core.BadInputException;
import io.squeeze.artifact.AdapterArtifact;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Models;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Split;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.Lora;
import io.squeeze.model.SourceKind;
import io.squeeze.core.LayerSelector;
import io.squeeze.spark.EvaluateJob;
import io.squeeze.spark.SparkData;
import io.squeeze.spark.SparkSessions;
import io.squeeze.spark.SparkTrainer;
import io.squeeze.spark.TrainJob;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.learning.config.Adam;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

@Command(name = "lora", mixinStandardHelpOptions = true,
        description = {"LoRA (Hu et al. 2021): freezes the model (e.g. a pruned or factorized one) and trains, on Spark, a",
                "low-rank update ΔW = (α/r)·A·B per chosen dense layer (A Gaussian, B zero, so step 0 is the base).",
                "--merge folds W + ΔW into plain dense layers; without it the artifact holds only A and B and references",
                "the base model by path and sha256 (loading checks it).",
                "Example: squeeze lora --model out/mnist-lr --rank 8 --alpha 16 --data idx:data/mnist --epochs 2 --out out/mnist-lora"})
public final class LoraCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "M")
    String model;

    @Option(names = "--rank", required = true, paramLabel = "R")
    int rank;

    @Option(names = "--alpha", defaultValue = "16", description = "scale α; the update is (α/r)·A·B (default: ${DEFAULT-VALUE})")
    double alpha;

    @Option(names = "--layers", paramLabel = "L", description = "dense layers by index, range or name glob (default: every hidden dense layer)")
    String layers;

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

    @Option(names = "--merge", description = "write the merged network instead of the adapters")
    boolean merge;

    @Option(names = "--eval-data", paramLabel = "D", description = "evaluate the adapted model against the base and record the metrics")
    String evalData;

    @Mixin
    ArtifactOutput output;

    @Override
    public Integer call() {
        if (!(lr > 0)) throw new BadInputException("--lr must be > 0, got " + lr);
        SparkTrainer.Config cfg = new SparkTrainer.Config(epochs, batch, 5);
        SparkSession spark = SparkSessions.start("squeeze lora");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        ArtifactWriter.checkTarget(st, output.out, output.overwrite);
        Loaded baseRun = Models.loadRunnable(st, model);
        LoadedModel base = baseRun.model();
        LayerSelector sel = LayerSelector.parse(layers);
        TreeSet<Integer> chosen = new TreeSet<>();
        MultiLayerNetwork net = base.net();
        for (int i = 0; i < net.getnLayers(); i++) {
            var l = net.getLayer(i).conf().getLayer();
            if (sel.matches(i, l.getLayerName()) && (l instanceof DenseLayer || sel != LayerSelector.ALL)) chosen.add(i);
        }
        sel.requireMatch(!chosen.isEmpty(), "--layers");
        MultiLayerNetwork adapted = Lora.attach(net, chosen, rank, alpha, seed, new Adam(lr));
        long trainable = adapted.numParams() - net.numParams();
        err().printf(Locale.ROOT, "lora: rank %d on layers %s: %d trainable parameters (%.2f%% of the model's %d)%n", rank, chosen,
                trainable, 100.0 * trainable / net.numParams(), net.numParams());
        var meta = base.meta();
        DataSpec spec = data.spec(Split.TRAIN);
        var rows = TrainJob.normalized(SparkData.read(spark, spec, meta.numFeatures(), "model " + base.source()).rdd(), meta.normalizer());
        MultiLayerNetwork trained = SparkTrainer.train(SparkSessions.jsc(spark), rows, adapted, meta.numFeatures(), meta.numClasses(),
                cfg, spec.toString(), err());
        MultiLayerNetwork merged = Lora.merge(trained);
        Map<String, Object> metrics = EvaluateJob.againstSource(spark, evalData, null,
                Loaded.plain(new LoadedModel(merged, meta, "", output.out, SourceKind.ARTIFACT, 0)), baseRun);
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("command", "lora");
        config.put("rank", rank);
        config.put("alpha", alpha);
        config.put("layers", chosen.toString());
        config.put("data", spec.toString());
        config.put("epochs", epochs);
        config.put("lr", lr);
        config.put("trainable_params", trainable);
        config.put("merged", merge);
        var prov = new ArtifactWriter.Provenance(base.source(), base.sha256(), Main.args(), config);
        var manifest = merge ? ArtifactWriter.write(st, output.out, output.overwrite, new ArtifactWriter.Content(merged, meta, prov, Map.of(), metrics, Map.of()))
                : AdapterArtifact.write(st, output.out, output.overwrite, trained, prov, metrics);
        long bytes = manifest.files().values().stream().mapToLong(f -> f.bytes()).sum();
        var o = out();
        o.printf(Locale.ROOT, "trained %d adapter parameters (%.2f%%); %s %s%n", trainable, 100.0 * trainable / net.numParams(),
                merge ? "merged artifact" : "adapter artifact", io.squeeze.eval.EvalReport.bytes(bytes));
        if (!metrics.isEmpty()) o.printf(Locale.ROOT, "accuracy %.4f (base %.4f)%n", (Double) metrics.get("accuracy"),
                (Double) ((Map<?, ?>) metrics.get("baseline")).get("accuracy"));
        o.println("wrote " + st.path(output.out));
        return Main.OK;
    }
}
