package io.squeeze.cli;

import io.squeeze.BadInputException;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Storage;
import io.squeeze.data.Split;
import io.squeeze.spark.AugmentJob;
import io.squeeze.spark.SparkData;
import io.squeeze.spark.SparkSessions;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;
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

    @Option(names = "--seed", defaultValue = "7")
    long seed;

    @Option(names = "--partitions", defaultValue = "0", description = "output files (default: the input's partitions)")
    int partitions;

    @Option(names = "--out", required = true, paramLabel = "PARQUET")
    String out;

    @Option(names = "--overwrite")
    boolean overwrite;

    @Override
    public Integer call() {
        if (copies < 1) throw new BadInputException("augment.copies must be >= 1, got " + copies);
        if (maxShift < 0) throw new BadInputException("augment.max-shift must be >= 0, got " + maxShift);
        SparkSession spark = SparkSessions.start("squeeze augment");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        var target = ArtifactWriter.checkTarget(st, out, overwrite);
        SparkData.Loaded d = SparkData.read(spark, data.spec(Split.TRAIN), -1, null);
        int h, w;
        if (image != null) {
            String[] hw = image.toLowerCase(Locale.ROOT).split("x");
            try {
                h = Integer.parseInt(hw[0]);
                w = Integer.parseInt(hw[1]);
            } catch (RuntimeException e) {
                throw new BadInputException("augment.image must look like 28x28, got '" + image + "'");
            }
        } else if (d.imageShape() != null) {
            h = d.imageShape()[0];
            w = d.imageShape()[1];
        } else {
            throw new BadInputException("augment: data " + data.spec(Split.TRAIN) + " carries no image shape; give --image HxW");
        }
        if (d.numFeatures() % (h * w) != 0)
            throw new BadInputException("augment: " + d.numFeatures() + " features are not images of " + h + "x" + w);
        JavaRDD<Row> rows = AugmentJob.shifted(d.rdd(), copies, h, w, maxShift, seed);
        if (partitions > 0) rows = rows.repartition(partitions);
        StructType schema = AugmentJob.SCHEMA;
        long t0 = System.nanoTime();
        // complete or not at all; the old data, if any, replaced only once the new is written
        JavaRDD<Row> shifted = rows;
        st.publish(target, overwrite, dir -> spark.createDataFrame(shifted, schema).write().parquet(dir.toString()));
        long n = spark.read().parquet(target.toString()).count();
        out().printf(Locale.ROOT, "wrote %s: %d rows (%d copies, shifts up to %d px), %s on storage, %.1f s%n", target, n, copies, maxShift,
                io.squeeze.eval.EvalReport.bytes(st.totalBytes(target)), (System.nanoTime() - t0) / 1e9);
        return Main.OK;
    }
}
