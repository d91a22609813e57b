package io.squeeze.cli;

import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Normalization;
import io.squeeze.data.Split;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.ModelIO;
import io.squeeze.spark.SparkSessions;
import io.squeeze.spark.SparkTrainer;
import io.squeeze.spark.TrainJob;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

@Command(name = "train", mixinStandardHelpOptions = true,
        description = {"Trains a network on Spark (DL4J parameter averaging).",
                "Writes a DL4J zip when --out ends in .zip, otherwise an artifact directory.",
                "Example: squeeze train --data idx:data/mnist --arch mlp:300,100 --epochs 10 --out out/mnist-mlp"})
public final class TrainCommand extends BaseCommand {
    @Mixin
    DataOptions data;

    @Option(names = "--arch", required = true, paramLabel = "A", description = "mlp:H1,H2,... | lenet5 | a DL4J configuration .json")
    String arch;

    @Option(names = "--epochs", required = true, paramLabel = "N")
    int epochs;

    @Option(names = "--batch", paramLabel = "B", defaultValue = "64", description = "minibatch rows per worker (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--seed", defaultValue = "42", description = "weight-initialisation seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--lr", defaultValue = "0.001", description = "Adam learning rate (default: ${DEFAULT-VALUE})")
    double lr;

    @Option(names = "--dropout", defaultValue = "0", description = "probability of dropping a hidden unit in training (default: ${DEFAULT-VALUE})")
    double dropout;

    @Option(names = "--input-dropout", defaultValue = "0", description = "probability of dropping an input feature in training (default: ${DEFAULT-VALUE})")
    double inputDropout;

    @Option(names = "--l2", defaultValue = "0", description = "L2 weight decay (default: ${DEFAULT-VALUE})")
    double l2;

    @Option(names = "--averaging-frequency", defaultValue = "5", description = "minibatches between parameter averages (default: ${DEFAULT-VALUE})")
    int averagingFrequency;

    @Option(names = "--normalize", defaultValue = "none", paramLabel = "none|minmax|standard",
            description = "feature transform fitted on this data and recorded with the model (default: ${DEFAULT-VALUE})")
    Normalization normalize;

    @Option(names = "--out", required = true, paramLabel = "M", description = "output model (.zip) or artifact directory")
    String out;

    @Option(names = "--overwrite", description = "replace an existing output")
    boolean overwrite;

    @Override
    public Integer call() {
        Arch a = Arch.parse(arch);
        Architectures.Hyper hyper = new Architectures.Hyper(seed, lr, l2, inputDropout, dropout);
        SparkTrainer.Config cfg = new SparkTrainer.Config(epochs, batch, averagingFrequency);
        DataSpec spec = data.spec(Split.TRAIN);
        SparkSession spark = SparkSessions.start("squeeze train");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        var target = ArtifactWriter.checkTarget(st, out, overwrite);
        var err = err();
        TrainJob.Trained t = TrainJob.run(spark, spec, a, normalize, hyper, cfg, err);
        if (out.toLowerCase(Locale.ROOT).endsWith(".zip")) {
            ModelIO.writeZip(st, target, t.net(), t.meta(), overwrite);
        } else {
            Map<String, Object> config = new LinkedHashMap<>();
            config.put("command", "train");
            config.put("data", spec.toString());
            config.put("arch", a.toString());
            config.put("epochs", epochs);
            config.put("batch", batch);
            config.put("seed", seed);
            config.put("lr", lr);
            config.put("dropout", dropout);
            config.put("input_dropout", inputDropout);
            config.put("l2", l2);
            config.put("averaging_frequency", averagingFrequency);
            config.put("normalize", normalize.name().toLowerCase(Locale.ROOT));
            config.put("spark_master", spark.sparkContext().master());
            ArtifactWriter.write(st, out, overwrite, ArtifactWriter.Content.dense(t.net(), t.meta(),
                    new ArtifactWriter.Provenance(spec.toString(), "", Main.args(), config), Map.of()));
        }
        out().printf("wrote %s (%d parameters)%n", target, t.net().numParams());
        return Main.OK;
    }
}
