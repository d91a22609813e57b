package io.squeeze.spark;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Example;
import io.squeeze.data.Shift;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

import java.util.Iterator;
import java.util.Map;
import java.util.List;
import io.squeeze.model.Json;
import java.util.Locale;

/**
 * {@code squeeze augment} as a job: every row streams out as {@code copies} shifted rows (features, label), the
 * original first (random translations, as used to train Hinton et al. 2015's MNIST teacher), written as Parquet and
 * published atomically.
 */
public final class AugmentJob {
    private AugmentJob() {}

    /**
     * What to augment, validated before any Spark work; stored in the output's {@code _augment.json} and read back by
     * {@code rerun}.
     *
     * @param image      {@code {h, w}}, or null to take the shape from the data's format
     * @param channelsLast rows hold each pixel's channels together ((height, width, channel), Keras' order) rather
     *                     than channel by channel
     * @param partitions output files, 0 for the input's partitions
     * @param local      shift and write in the driver process (one file)
     */
    public record Config(DataSpec data, int copies, int maxShift, int[] image, boolean channelsLast, long seed, int partitions, boolean local) {
        public Config {
            if (data == null) throw new BadInputException("--data must be given");
            if (copies < 1) throw new BadInputException("augment.copies must be >= 1, got " + copies);
            if (maxShift < 0) throw new BadInputException("augment.max-shift must be >= 0, got " + maxShift);
            if (partitions < 0) throw new BadInputException("augment.partitions must be >= 0, got " + partitions);
            if (image != null && (image.length != 2 || image[0] < 1 || image[1] < 1))
                throw new BadInputException("augment.image must be two positive sizes, got " + java.util.Arrays.toString(image));
            if (local && partitions > 0) throw new BadInputException("augment --local writes one file; leave out --partitions " + partitions);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Config c && data.equals(c.data) && copies == c.copies && maxShift == c.maxShift
                    && java.util.Arrays.equals(image, c.image) && channelsLast == c.channelsLast && seed == c.seed && partitions == c.partitions && local == c.local;
        }

        @Override
        public int hashCode() {
            return java.util.Objects.hash(data, copies, maxShift, java.util.Arrays.hashCode(image), channelsLast, seed, partitions, local);
        }

        public Map<String, Object> toMap() {
            return Jobs.toMap(this);
        }

        /** Reads a stored config back, validated as when the command builds it. */
        public static Config fromMap(Map<String, Object> m, String where) {
            return Jobs.read(m, Config.class, where);
        }

        /** Parses {@code HxW} (e.g. {@code 28x28}); null stays null. */
        public static int[] image(String hxw) {
            if (hxw == null) return null;
            String[] hw = hxw.toLowerCase(Locale.ROOT).split("x");
            try {
                if (hw.length != 2) throw new NumberFormatException();
                int[] r = {Integer.parseInt(hw[0].trim()), Integer.parseInt(hw[1].trim())};
                if (r[0] < 1 || r[1] < 1) throw new NumberFormatException();
                return r;
            } catch (NumberFormatException e) {
                throw new BadInputException("augment.image must look like 28x28, got '" + hxw + "'");
            }
        }
    }

    /** What was written: the published directory, its rows and bytes, and the seconds the write took. */
    public record Result(Path target, long rows, long bytes, double seconds) {}

    /** {@code _augment.json}: what made the rows (Spark's readers skip files whose names start with {@code _}). */
    public record Manifest(String format, int version, String squeezeVersion, String created, List<String> command,
                           Map<String, Object> config, long rows) {
        public static final String FILE = "_augment.json", FORMAT = "squeeze-augment";

        /** Reads {@code dir}'s manifest. */
        public static Manifest read(Storage st, Path dir) {
            Path p = new Path(dir, FILE);
            if (!st.exists(p)) throw new BadInputException("augmented data " + dir + " has no " + FILE);
            Manifest m = Json.read(st.readAll(p, "augment manifest"), Manifest.class);
            if (!FORMAT.equals(m.format()) || m.version() > 1)
                throw new BadInputException(p + " is not an augment manifest this Squeeze reads (format " + m.format() + ", version " + m.version() + ")");
            return m;
        }
    }

    public static Result run(SparkSession spark, Config c, String out, boolean overwrite, List<String> command) {
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        Path target = ArtifactWriter.checkTarget(st, out, overwrite);
        SparkData.Loaded d = SparkData.read(spark, c.data(), -1, null);
        int[] hw = c.image() != null ? c.image() : d.imageShape();
        if (hw == null) throw new BadInputException("augment: data " + c.data() + " carries no image shape; give --image HxW");
        int h = hw[0], w = hw[1];
        if (d.numFeatures() % (h * w) != 0)
            throw new BadInputException("augment: " + d.numFeatures() + " features are not images of " + h + "x" + w);
        BadRows bad = new BadRows(SparkSessions.jsc(spark));
        JavaRDD<Row> rows = shifted(d.rdd(), c.copies(), h, w, c.maxShift(), c.seed(), c.channelsLast()).mapPartitions(bad::guard);
        JavaRDD<Row> parts = c.partitions() > 0 ? RoundRobin.spread(rows, c.partitions()) : rows;
        long t0 = System.nanoTime();
        long[] n = new long[1];
        // complete or not at all; the old data, if any, replaced only once the new is written
        st.publish(target, overwrite, dir -> {
            if (c.local()) LocalParquet.write(st, dir, SCHEMA, expand(d.rdd().toLocalIterator(), c.copies(), h, w, c.maxShift(), c.seed(), c.channelsLast()), 128 << 20);
            else ParquetParts.write(SparkSessions.jsc(spark), st, spark.createDataFrame(parts, SCHEMA), dir, null);
            bad.check();
            n[0] = ParquetCounts.of(spark.sparkContext().hadoopConfiguration(), dir, "label")
                    .map(ParquetCounts.Counts::rows).orElseGet(() -> spark.read().parquet(dir.toString()).count());
            st.write(new Path(dir, Manifest.FILE), Json.bytes(new Manifest(Manifest.FORMAT, 1, io.squeeze.core.Version.version(),
                    java.time.Instant.now().toString(), command, c.toMap(), n[0])));
        });
        return new Result(target, n[0], st.totalBytes(target), (System.nanoTime() - t0) / 1e9);
    }

    public static final StructType SCHEMA = new StructType().add("features", DataTypes.createArrayType(DataTypes.FloatType, false), false)
            .add("label", DataTypes.IntegerType, true);

    public static JavaRDD<Row> shifted(JavaRDD<Example> rows, int copies, int h, int w, int maxShift, long seed, boolean channelsLast) {
        return rows.mapPartitions(it -> expand(it, copies, h, w, maxShift, seed, channelsLast));
    }

    static Iterator<Row> expand(Iterator<Example> it, int copies, int h, int w, int maxShift, long seed, boolean channelsLast) {
        return new Iterator<>() {
            Example cur;
            int k = copies;

            @Override
            public boolean hasNext() {
                return k < copies || it.hasNext();
            }

            @Override
            public Row next() {
                if (k == copies) {
                    cur = it.next();
                    k = 0;
                }
                float[] x = Shift.copy(cur.features(), h, w, maxShift, seed, cur.id(), k++, channelsLast);
                return RowFactory.create(x, cur.label() < 0 ? null : cur.label());
            }
        };
    }
}
