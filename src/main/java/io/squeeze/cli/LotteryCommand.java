package io.squeeze.cli;

import io.squeeze.core.BadInputException;

import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Normalization;
import io.squeeze.data.Split;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.spark.LotteryJob;
import io.squeeze.spark.SparkSessions;
import io.squeeze.spark.SparkTrainer;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.Locale;

@Command(name = "lottery", mixinStandardHelpOptions = true,
        description = {"Lottery-ticket search (Frankle & Carbin 2019): train, prune --rate of the remaining weights per layer",
                "(--output-rate for the output layer), rewind the survivors to their initial values (or to --rewind-epoch),",
                "retrain with the masks enforced, repeat --rounds times; --control retrains each round's masks from a fresh",
                "random initialisation. Writes an artifact per round and lottery.json (round, weights remaining, test",
                "accuracy and loss, iterations to the best validation loss).",
                "Example: squeeze lottery --data idx:data/mnist --test-data idx:data/mnist --arch mlp:300,100 --epochs 5",
                "         --rounds 7 --control --out out/lottery"})
public final class LotteryCommand extends BaseCommand implements StageCommand {
    @Mixin
    SyncOptions sync;

    @Mixin
    DataOptions data;

    @Option(names = "--test-data", required = true, paramLabel = "D", description = "validation/test data (IDX: its test split)")
    String testData;

    @Option(names = "--arch", required = true, paramLabel = "A")
    String arch;

    @Option(names = "--epochs", required = true, paramLabel = "E", description = "training epochs per round")
    int epochs;

    @Option(names = "--rounds", defaultValue = "5", description = "pruning rounds (default: ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--rate", defaultValue = "0.2", description = "fraction of the remaining weights pruned per round (default: ${DEFAULT-VALUE})")
    double rate;

    @Option(names = "--output-rate", defaultValue = "0.1", description = "the same for the output layer (default: ${DEFAULT-VALUE})")
    double outputRate;

    @Option(names = "--rewind-epoch", defaultValue = "0", description = "rewind to the weights after this many epochs (0: initialisation)")
    int rewindEpoch;

    @Option(names = "--control", description = "also retrain every round's masks from a random re-initialisation")
    boolean control;

    @Option(names = "--batch", defaultValue = "64")
    int batch;

    @Option(names = "--lr", defaultValue = "0.0012", description = "Adam learning rate (default: ${DEFAULT-VALUE}, as Frankle & Carbin)")
    double lr;

    @Option(names = "--seed", defaultValue = "42")
    long seed;

    @Option(names = "--normalize", defaultValue = "none")
    Normalization normalize;

    @Option(names = "--local", description = "train in this process instead of on Spark executors (the rows still stream through Spark)")
    boolean local;

    @Option(names = "--out", required = true, paramLabel = "DIR")
    String out;

    @Option(names = "--overwrite")
    boolean overwrite;

    @Option(names = "--with-dl4j-zip", description = "also write model.zip, the network as a plain DL4J zip (packed/ alone rebuilds it)")
    boolean dl4jZip;

    /** The validated job: every option checked before any Spark work. */
    LotteryJob.Config config() {
        return new LotteryJob.Config(data.spec(Split.TRAIN), DataSpec.parse(testData, Split.TEST, data.csvHeader), Arch.parse(arch), normalize,
                new Architectures.Hyper(seed, lr, 0), new SparkTrainer.Config(epochs, batch, sync.syncEvery, seed, local),
                new LotteryJob.Rounds(rounds, rate, outputRate, rewindEpoch, control, seed + 1));
    }

    @Override
    public Integer call() {
        LotteryJob.Config c = config();
        Architectures.check(c.arch(), Storage.withSparkDefaults());
        if (Architectures.isGraph(c.arch(), Storage.withSparkDefaults())) return callGraph(c);
        Path dir = ArtifactWriter.checkTarget(Storage.withSparkDefaults(), out, overwrite, c.inputs()); // before any Spark work
        SparkSession spark = SparkSessions.start("squeeze lottery");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        ArtifactWriter.Content content = c.run(spark, out, Main.args(), err());
        c.publish(st, out, overwrite, content, dl4jZip);
        @SuppressWarnings("unchecked")
        List<LotteryJob.Row> table = (List<LotteryJob.Row>) content.metrics().get("lottery");
        print(table);
        out().println("wrote " + new Path(dir, "ticket") + " and " + new Path(dir, "lottery.json"));
        return Main.OK;
    }

    /** A graph architecture (resnet:N): the same rounds; the ticket is a graph artifact, OUT/ticket, as a stack's. */
    private Integer callGraph(LotteryJob.Config c) {
        Path dir = ArtifactWriter.checkTarget(Storage.withSparkDefaults(), out, overwrite, c.inputs());
        SparkSession spark = SparkSessions.start("squeeze lottery");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        LotteryJob.GraphResult r = LotteryJob.runGraph(spark, c, err());
        LotteryJob.publishGraph(st, out, overwrite, r, c, Main.args(), dl4jZip);
        print(r.rows());
        out().println("wrote " + new Path(dir, "ticket") + " and " + new Path(dir, "lottery.json"));
        return Main.OK;
    }

    private void print(List<LotteryJob.Row> table) {
        var o = out();
        o.printf("%-6s %-14s %10s %10s %10s %12s%n", "round", "run", "weights", "accuracy", "loss", "iters-to-best");
        for (LotteryJob.Row row : table)
            o.printf(Locale.ROOT, "%-6d %-14s %9.1f%% %10.4f %10.4f %12d%n", row.round(), row.run(), 100 * row.weightsRemaining(),
                    row.testAccuracy(), row.testLoss(), row.iterationsToBest());
    }

    /** A recipe's lottery stage: a layer stack's or a graph's ticket, an artifact either way (DIR/ticket). */
    @Override
    public void check() {
        Architectures.check(config().arch(), Storage.withSparkDefaults());
    }
}
