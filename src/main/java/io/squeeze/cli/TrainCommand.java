package io.squeeze.cli;

import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.core.Storage;
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

import java.util.Locale;
import java.util.Map;

@Command(name = "train", mixinStandardHelpOptions = true,
        description = {"Trains a network on Spark (local SGD: workers average parameters every --sync-every minibatches).",
                "Writes a DL4J zip when --out ends in .zip, otherwise an artifact directory.",
                "Example: squeeze train --data idx:data/mnist --arch mlp:300,100 --epochs 10 --out out/mnist-mlp"})
public final class TrainCommand extends BaseCommand implements StageCommand {
    @Mixin
    DataOptions data;

    @Option(names = "--arch", required = true, paramLabel = "A", description = "mlp:H1,H2,... | lstm:H1,... | lenet5 | lenet5-bn | lenet5-caffe | resnet:N (a graph: --out X.zip) | a DL4J configuration .json | a model file (.zip, .h5) whose architecture trains afresh")
    String arch;

    @Option(names = "--epochs", required = true, paramLabel = "N")
    int epochs;

    @Option(names = "--batch", paramLabel = "B", defaultValue = "64", description = "minibatch rows per worker (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--seed", defaultValue = "42", description = "weight-initialisation seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--lr", defaultValue = "0.001", description = "Adam learning rate (default: ${DEFAULT-VALUE})")
    double lr;

    @Option(names = "--lr-decay", paramLabel = "G", description = "step decay: multiply the learning rate by G after every epoch (default: constant)")
    Double lrDecay;

    @Option(names = "--dropout", defaultValue = "0", description = "probability of dropping a hidden unit in training (default: ${DEFAULT-VALUE})")
    double dropout;

    @Option(names = "--input-dropout", defaultValue = "0", description = "probability of dropping an input feature in training (default: ${DEFAULT-VALUE})")
    double inputDropout;

    @Option(names = "--l2", defaultValue = "0", description = "L2 weight decay (default: ${DEFAULT-VALUE})")
    double l2;

    @picocli.CommandLine.Mixin
    SyncOptions sync;

    @Option(names = "--normalize", defaultValue = "none", paramLabel = "none|minmax|standard",
            description = "feature transform fitted on this data and recorded with the model (default: ${DEFAULT-VALUE})")
    Normalization normalize;

    @Option(names = "--local", description = "train in this process instead of on Spark executors (the rows still stream through Spark)")
    boolean local;

    @Option(names = "--eval-data", paramLabel = "D", description = "validate on this data after every epoch (its test split for idx:) "
            + "and record the trained model's accuracy and loss on it")
    String evalData;

    @Option(names = "--out", required = true, paramLabel = "M", description = "output model (.zip) or artifact directory")
    String out;

    @Option(names = "--overwrite", description = "replace an existing output")
    boolean overwrite;

    @Option(names = "--with-dl4j-zip", description = "for an artifact directory, also write model.zip, the network as a plain DL4J zip (packed/ alone rebuilds it)")
    boolean dl4jZip;

    /** The validated job: every option checked before any Spark work. */
    TrainJob.Config config() {
        return new TrainJob.Config(data.spec(Split.TRAIN), Arch.parse(arch), normalize, new Architectures.Hyper(seed, lr, l2, inputDropout, dropout, lrDecay),
                new SparkTrainer.Config(epochs, batch, sync.syncEvery, seed, local), evalData);
    }

    @Override
    public Integer call() {
        TrainJob.Config c = config();
        // the architecture and the output are checked before any Spark work
        boolean graph = checkGraphOutput(c), zip = out.toLowerCase(Locale.ROOT).endsWith(".zip");
        var target = ArtifactWriter.checkTarget(Storage.withSparkDefaults(), out, overwrite, c.inputs());
        SparkSession spark = SparkSessions.start("squeeze train");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        if (graph) {
            TrainJob.TrainedGraph g = TrainJob.trainGraph(spark, c, err());
            if (zip) ModelIO.writeZip(st, target, g.graph(), g.meta(), overwrite);
            else ArtifactWriter.writeGraph(st, out, overwrite, new ArtifactWriter.GraphContent(g.graph(), g.meta(),
                    new ArtifactWriter.Provenance(c.data().toString(), "", Main.args(), io.squeeze.spark.Jobs.toMap(c)), Map.of(), g.metrics(), Map.of(), null), dl4jZip);
            if (g.metrics().get("accuracy") instanceof Double acc) out().printf(Locale.ROOT, "accuracy %.4f on %s%n", acc, evalData);
            out().printf("wrote %s (%d parameters)%n", target, g.graph().numParams());
            return Main.OK;
        }
        ArtifactWriter.Content content = c.run(spark, out, Main.args(), err());
        if (out.toLowerCase(Locale.ROOT).endsWith(".zip")) ModelIO.writeZip(st, target, content.net(), content.meta(), overwrite);
        else ArtifactWriter.write(st, out, overwrite, content, dl4jZip);
        if (content.metrics().get("accuracy") instanceof Double acc)
            out().printf(Locale.ROOT, "accuracy %.4f on %s%n", acc, evalData);
        out().printf("wrote %s (%d parameters)%n", target, content.net().numParams());
        return Main.OK;
    }

    /** Checks the architecture; whether it is a graph (a ResNet, a ComputationGraph JSON). */
    private boolean checkGraphOutput(TrainJob.Config c) {
        Storage st = Storage.withSparkDefaults();
        io.squeeze.model.Architectures.check(c.arch(), st);
        boolean graph = io.squeeze.model.Architectures.isGraph(c.arch(), st);
        if (graph) io.squeeze.model.Graphs.zipOutput(out, dl4jZip); // refuses --with-dl4j-zip with a zip
        return graph;
    }

    @Override
    public void check() {
        checkGraphOutput(config());
    }
}
