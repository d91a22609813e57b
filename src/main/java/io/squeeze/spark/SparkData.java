package io.squeeze.spark;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Example;
import io.squeeze.data.Idx;
import io.squeeze.data.TextRecords;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.compress.CompressionCodec;
import org.apache.hadoop.io.compress.CompressionCodecFactory;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.AnalysisException;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.SparkSession;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * Reads a {@link DataSpec} as an RDD of {@link Example}s through Spark, from any Hadoop filesystem. Rows keep a
 * stable id (their position). Parsing is done by the pure kernels in {@code io.squeeze.data}.
 */
public final class SparkData {
    private SparkData() {}

    /**
     * A dataset ready to stream.
     *
     * @param rdd         rows, features as stored
     * @param numFeatures features per row
     * @param imageShape  {height, width, channels} where the format knows it (IDX), else null
     * @param spec        where it came from
     */
    public record Loaded(JavaRDD<Example> rdd, int numFeatures, int[] imageShape, DataSpec spec) {}

    /** Reads {@code spec}; {@code expectedFeatures} (or -1) is checked before any pass over the data. */
    public static Loaded read(SparkSession spark, DataSpec spec, int expectedFeatures, String expectedBy) {
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        Path root = st.path(spec.path());
        if (!st.exists(root)) throw new BadInputException("data " + spec + ": " + root + " does not exist");
        if (spec.format() != io.squeeze.data.DataFormat.IDX && st.isDirectory(root)
                && java.util.Arrays.stream(st.list(root)).map(f -> f.getPath().getName()).allMatch(n -> n.startsWith("_") || n.startsWith(".")))
            throw new BadInputException("data " + spec + " is empty: directory " + root + " holds no data files");
        Loaded l = switch (spec.format()) {
            case IDX -> idx(spark, st, root, spec);
            case CSV -> csv(spark, spec, root);
            case LIBSVM -> libsvm(spark, spec, root, expectedFeatures);
            case PARQUET -> parquet(spark, spec, root);
        };
        if (expectedFeatures >= 0 && l.numFeatures() != expectedFeatures)
            throw new BadInputException("data " + spec + " has " + l.numFeatures() + " features but " + expectedBy
                    + " expects " + expectedFeatures);
        return l;
    }

    private static Loaded idx(SparkSession spark, Storage st, Path dir, DataSpec spec) {
        Path images = find(st, dir, spec.split().filePrefix() + "-images-idx3-ubyte", spec);
        Path labels = find(st, dir, spec.split().filePrefix() + "-labels-idx1-ubyte", spec);
        Idx.Header ih, lh;
        try (InputStream a = openMaybeGz(st, images); InputStream b = openMaybeGz(st, labels)) {
            ih = Idx.header(a, 3, images.toString());
            lh = Idx.header(b, 1, labels.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (ih.count() != lh.count())
            throw new BadInputException("data " + spec + ": " + ih.count() + " images but " + lh.count() + " labels");
        JavaSparkContext jsc = SparkSessions.jsc(spark);
        long n = ih.count();
        int parts = (int) Math.max(jsc.defaultParallelism(), Math.min(1000, (n + 9_999) / 10_000));
        List<long[]> ranges = new ArrayList<>();
        for (int p = 0; p < parts; p++) ranges.add(new long[]{n * p / parts, n * (p + 1) / parts});
        SerializableConf conf = new SerializableConf(st.conf());
        String img = images.toString(), lab = labels.toString();
        int itemSize = ih.itemSize(), ihLen = ih.byteLength(), lhLen = lh.byteLength();
        JavaRDD<Example> rdd = jsc.parallelize(ranges, parts).mapPartitions(it -> {
            long[] r = it.next();
            Storage s = new Storage(conf.get());
            InputStream a = openMaybeGz(s, new Path(img)), b = openMaybeGz(s, new Path(lab));
            a.skipNBytes(ihLen);
            b.skipNBytes(lhLen);
            return closing(Idx.rows(a, b, itemSize, r[0], r[1], img), a, b);
        });
        return new Loaded(rdd, itemSize, new int[]{ih.dims()[1], ih.dims()[2], 1}, spec);
    }

    private static Path find(Storage st, Path dir, String name, DataSpec spec) {
        for (String n : new String[]{name, name + ".gz"}) {
            Path p = new Path(dir, n);
            if (st.exists(p)) return p;
        }
        throw new BadInputException("data " + spec + ": " + dir + " has no " + name + " (or " + name + ".gz)");
    }

    static InputStream openMaybeGz(Storage st, Path p) throws IOException {
        InputStream in = st.open(p, "data file");
        CompressionCodec codec = new CompressionCodecFactory(st.conf()).getCodec(p);
        return codec == null ? in : codec.createInputStream(in);
    }

    private static Iterator<Example> closing(Iterator<Example> it, InputStream... streams) {
        return new Iterator<>() {
            boolean open = true;

            @Override
            public boolean hasNext() {
                boolean h = it.hasNext();
                if (!h && open) {
                    open = false;
                    for (InputStream s : streams) {
                        try {
                            s.close();
                        } catch (IOException ignored) {
                            // nothing left to read
                        }
                    }
                }
                return h;
            }

            @Override
            public Example next() {
                return it.next();
            }
        };
    }

    private static Dataset<Row> load(SparkSession spark, DataSpec spec, java.util.function.Supplier<Dataset<Row>> reader) {
        try {
            return reader.get();
        } catch (Exception e) {
            if (e instanceof AnalysisException || e.getClass().getSimpleName().contains("AnalysisException"))
                throw new BadInputException("data " + spec + " cannot be read: " + e.getMessage().lines().findFirst().orElse(""));
            throw e;
        }
    }

    /**
     * CSV with every row checked: the column count comes from the first line; a row with more or fewer fields is bad
     * input naming its row number (Spark's PERMISSIVE mode keeps such a row in a corrupt-record column instead of
     * failing the task with its own message).
     */
    private static Loaded csv(SparkSession spark, DataSpec spec, Path root) {
        Dataset<Row> first = load(spark, spec, () -> spark.read().option("header", spec.csvHeader())
                .option("inferSchema", false).csv(root.toString()));
        int cols = first.schema().fields().length;
        if (cols == 0 || first.isEmpty()) throw new BadInputException("data " + spec + " is empty (no rows)");
        StructType schema = new StructType();
        for (int j = 0; j < cols; j++) schema = schema.add("c" + j, DataTypes.StringType, true);
        schema = schema.add(CORRUPT, DataTypes.StringType, true);
        StructType full = schema;
        Dataset<Row> df = load(spark, spec, () -> spark.read().option("header", spec.csvHeader()).option("mode", "PERMISSIVE")
                .option("columnNameOfCorruptRecord", CORRUPT).schema(full).csv(root.toString()));
        int nf = cols - 1;
        String where = spec.toString();
        JavaRDD<Example> rdd = df.javaRDD().zipWithIndex().map(t -> {
            Row r = t._1();
            if (!r.isNullAt(cols)) {
                String line = r.getString(cols);
                int fields = line.split(",", -1).length;
                throw new BadInputException(where + " row " + t._2() + ": has " + fields + " fields, expected " + cols
                        + " (as in the first row)");
            }
            String[] cells = new String[cols];
            for (int j = 0; j < cols; j++) {
                if (r.isNullAt(j)) throw new BadInputException(where + " row " + t._2() + ": field " + j + " is empty");
                cells[j] = r.getString(j);
            }
            return TextRecords.csv(cells, t._2(), where);
        });
        return new Loaded(rdd, nf, null, spec);
    }

    private static final String CORRUPT = "_squeeze_malformed";

    private static Loaded libsvm(SparkSession spark, DataSpec spec, Path root, int expectedFeatures) {
        String where = spec.toString();
        JavaRDD<TextRecords.SparseRow> rows = SparkSessions.jsc(spark).textFile(root.toString())
                .filter(l -> !l.isBlank() && !l.stripLeading().startsWith("#"))
                .zipWithIndex().map(t -> TextRecords.libsvm(t._1(), t._2(), where));
        if (rows.isEmpty()) throw new BadInputException("data " + spec + " is empty (no rows)");
        int nf = expectedFeatures >= 0 ? expectedFeatures
                : rows.map(TextRecords.SparseRow::maxIndex).reduce(Math::max) + 1;
        JavaRDD<Example> rdd = rows.map(r -> r.toDense(nf, where));
        return new Loaded(rdd, nf, null, spec);
    }

    private static Loaded parquet(SparkSession spark, DataSpec spec, Path root) {
        return ParquetExamples.read(load(spark, spec, () -> spark.read().parquet(root.toString())), spec);
    }
}
