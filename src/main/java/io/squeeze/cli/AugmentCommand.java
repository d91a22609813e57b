package io.squeeze.cli;

import io.squeeze.data.Split;
import io.squeeze.spark.AugmentJob;
import io.squeeze.spark.SparkSessions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.Locale;

@Command(name = "augment", mixinStandardHelpOptions = true,
        description = {"Enlarges an image dataset with random shifts on Spark (streaming, one partition at a time) and writes Parquet",
                "(features array<float>, label int): each row becomes --copies rows, the original first, then copies moved by up to",
                "--max-shift pixels. Example: squeeze augment --data idx:data/mnist --copies 17 --max-shift 2 --out data/mnist-1m.parquet"})
public final class AugmentCommand extends BaseCommand {
    @Mixin
    DataOptions data;

    @Option(names = "--copies", defaultValue = "2", description = "rows out per row in (default: ${DEFAULT-VALUE})")
    int copies;

    @Option(names = "--max-shift", defaultValue = "2", description = "pixels (default: ${DEFAULT-VALUE})")
    int maxShift;

    @Option(names = "--image", paramLabel = "HxW", description = "image shape when the format does not carry it (e.g. 28x28)")
    String image;

    @Option(names = "--channels-last", description = "image rows hold each pixel's channels together, (height, width, channel) — "
            + "Keras' channels_last order, which an imported Keras CNN reads (default: channel by channel)")
    boolean channelsLast;

    @Option(names = "--seed", defaultValue = "7")
    long seed;

    @Option(names = "--partitions", defaultValue = "0", description = "output files (default: the input's partitions)")
    int partitions;

    @Option(names = "--out", required = true, paramLabel = "PARQUET")
    String out;

    @Option(names = "--local", description = "shift the images and write the output in this process instead of on Spark executors (the rows still stream through Spark)")
    boolean local;

    @Option(names = "--overwrite")
    boolean overwrite;

    @Override
    public Integer call() {
        AugmentJob.Config c = new AugmentJob.Config(data.spec(Split.TRAIN), copies, maxShift, AugmentJob.Config.image(image), channelsLast, seed,
                partitions, local);
        io.squeeze.artifact.ArtifactWriter.checkTarget(io.squeeze.core.Storage.withSparkDefaults(), out, overwrite,
                java.util.List.of(c.data().path())); // before any Spark work
        AugmentJob.Result r = AugmentJob.run(SparkSessions.start("squeeze augment"), c, out, overwrite, Main.args());
        out().printf(Locale.ROOT, "wrote %s: %d rows (%d copies, shifts up to %d px), %s on storage, %.1f s%n", r.target(), r.rows(), copies,
                maxShift, io.squeeze.eval.EvalReport.bytes(r.bytes()), r.seconds());
        return Main.OK;
    }
}
