package io.squeeze.spark;

import io.squeeze.core.BadInputException;
import io.squeeze.TestSpark;
import io.squeeze.data.DataSpec;
import io.squeeze.data.DataSummary;
import io.squeeze.data.Example;
import io.squeeze.data.Split;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.*;

public class SparkDataTest {
    @TempDir
    Path dir;

    static List<Example> sorted(SparkData.Loaded l) {
        List<Example> all = new ArrayList<>(l.rdd().collect());
        all.sort(Comparator.comparingLong(Example::id));
        return all;
    }

    static SparkData.Loaded read(String uri, int expected) {
        return SparkData.read(TestSpark.get(), DataSpec.parse(uri, Split.TRAIN, false), expected, "model m");
    }

    @Test
    void csvPlainAndGzipWithHeader() throws IOException {
        Path plain = Files.writeString(dir.resolve("a.csv"), "1,2,3,0\n4,5,6,2\n7,8,9,1\n");
        List<Example> rows = sorted(read("csv:" + plain, 3));
        assertEquals(3, rows.size());
        assertArrayEquals(new float[]{4, 5, 6}, rows.get(1).features());
        assertEquals(2, rows.get(1).label());
        assertEquals(1, rows.get(1).id());
        Path gz = dir.resolve("b.csv.gz");
        try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(gz))) {
            o.write("f1,f2,label\n0.5,1.5,3\n2.5,3.5,4\n".getBytes());
        }
        SparkData.Loaded l = SparkData.read(TestSpark.get(), DataSpec.parse("csv:" + gz, Split.TRAIN, true), -1, null);
        assertEquals(2, l.numFeatures());
        List<Example> g = sorted(l);
        assertArrayEquals(new float[]{2.5f, 3.5f}, g.get(1).features());
        assertEquals(4, g.get(1).label());
    }

    @Test
    void libsvmInfersWidth() throws IOException {
        Path p = Files.writeString(dir.resolve("d.libsvm"), "# comment\n1 1:0.5 3:2\n\n0 2:-1 5:4\n");
        SparkData.Loaded l = read("libsvm:" + p, -1);
        assertEquals(5, l.numFeatures());
        List<Example> rows = sorted(l);
        assertArrayEquals(new float[]{0.5f, 0, 2, 0, 0}, rows.get(0).features());
        assertArrayEquals(new float[]{0, -1, 0, 0, 4}, rows.get(1).features());
        assertEquals(8, read("libsvm:" + p, 8).numFeatures());
    }

    @Test
    void parquetArraysAndVectors() {
        SparkSession spark = TestSpark.get();
        StructType arr = new StructType().add("features", DataTypes.createArrayType(DataTypes.FloatType)).add("label", DataTypes.IntegerType);
        List<Row> rows = List.of(RowFactory.create(new float[]{1, 2}, 1), RowFactory.create(new float[]{3, 4}, 0));
        List<Row> r2 = new ArrayList<>();
        for (Row r : rows) r2.add(RowFactory.create(scala.collection.JavaConverters.asScalaBuffer(
                java.util.Arrays.asList((Object) ((float[]) r.get(0))[0], ((float[]) r.get(0))[1])).toList(), r.get(1)));
        String p1 = dir.resolve("arr.parquet").toString();
        spark.createDataFrame(r2, arr).coalesce(1).write().parquet(p1);
        List<Example> a = sorted(read("parquet:" + p1, 2));
        assertArrayEquals(new float[]{3, 4}, a.get(1).features());
        assertEquals(0, a.get(1).label());

        StructType vec = new StructType().add("features", new org.apache.spark.ml.linalg.VectorUDT()).add("label", DataTypes.DoubleType);
        String p2 = dir.resolve("vec.parquet").toString();
        spark.createDataFrame(List.of(RowFactory.create(Vectors.dense(0.25, 0.5, 1), 2.0),
                RowFactory.create(Vectors.sparse(3, new int[]{2}, new double[]{7}), 1.0)), vec).coalesce(1).write().parquet(p2);
        List<Example> v = sorted(read("parquet:" + p2, 3));
        assertArrayEquals(new float[]{0.25f, 0.5f, 1f}, v.get(0).features());
        assertArrayEquals(new float[]{0, 0, 7}, v.get(1).features());
        assertEquals(1, v.get(1).label());

        String p3 = dir.resolve("nolabel.parquet").toString();
        spark.createDataFrame(List.of(RowFactory.create(1)), new StructType().add("x", DataTypes.IntegerType)).write().parquet(p3);
        assertEquals("data parquet:" + p3 + " has no 'features' column (columns: x)",
                assertThrows(BadInputException.class, () -> read("parquet:" + p3, -1)).getMessage());
    }

    @Test
    void parquetFloatAndDoubleArraysKeepZipWithIndexIdsAcrossFiles() {
        SparkSession spark = TestSpark.get();
        java.util.Random r = new java.util.Random(5);
        for (DataType et : List.of(DataTypes.FloatType, DataTypes.DoubleType)) {
            List<Row> rows = new ArrayList<>();
            for (int i = 0; i < 1000; i++) {
                List<Object> x = new ArrayList<>();
                for (int j = 0; j < 3; j++) x.add(et == DataTypes.FloatType ? (Object) r.nextFloat() : (Object) r.nextDouble());
                rows.add(RowFactory.create(scala.collection.JavaConverters.asScalaBuffer(x).toList(), i % 7 == 0 ? null : (long) (i % 4)));
            }
            StructType schema = new StructType().add("features", DataTypes.createArrayType(et)).add("label", DataTypes.LongType);
            String p = dir.resolve("multi-" + et.typeName() + ".parquet").toString();
            spark.createDataFrame(rows, schema).repartition(5).write().parquet(p);
            // what zipWithIndex over the general Row path numbers each row
            Map<Long, Row> expected = new HashMap<>();
            spark.read().parquet(p).select("features", "label").javaRDD().zipWithIndex().collect().forEach(t -> expected.put(t._2(), t._1()));
            SparkData.Loaded l = read("parquet:" + p, 3);
            assertTrue(l.rdd().getNumPartitions() > 1);
            List<Example> got = l.rdd().collect();
            assertEquals(1000, got.size());
            for (Example e : got) {
                Row want = expected.get(e.id());
                scala.collection.Seq<Object> f = want.getSeq(0);
                for (int j = 0; j < 3; j++) assertEquals(((Number) f.apply(j)).floatValue(), e.features()[j], "row " + e.id());
                assertEquals(want.isNullAt(1) ? -1 : (int) want.getLong(1), e.label(), "row " + e.id());
            }
        }
        String bad = dir.resolve("bad.parquet").toString();
        spark.createDataFrame(List.of(RowFactory.create(scala.collection.JavaConverters.asScalaBuffer(List.<Object>of(1f, Float.NaN)).toList(), 1.5)),
                new StructType().add("features", DataTypes.createArrayType(DataTypes.FloatType)).add("label", DataTypes.DoubleType)).write().parquet(bad);
        assertTrue(assertThrows(Exception.class, () -> read("parquet:" + bad, 2).rdd().collect()).getMessage()
                .contains("row 0 feature 1 is NaN (features must be finite)"));
    }

    public static void writeIdx(Path dir, String prefix, int n, int side, boolean gz) throws IOException {
        ByteArrayOutputStream img = new ByteArrayOutputStream(), lab = new ByteArrayOutputStream();
        DataOutputStream i = new DataOutputStream(img), l = new DataOutputStream(lab);
        i.writeInt(0x803);
        i.writeInt(n);
        i.writeInt(side);
        i.writeInt(side);
        l.writeInt(0x801);
        l.writeInt(n);
        for (int r = 0; r < n; r++) {
            for (int j = 0; j < side * side; j++) i.writeByte((r + j) % 256);
            l.writeByte(r % 10);
        }
        String ext = gz ? ".gz" : "";
        for (var e : List.of(java.util.Map.entry(prefix + "-images-idx3-ubyte" + ext, img.toByteArray()),
                java.util.Map.entry(prefix + "-labels-idx1-ubyte" + ext, lab.toByteArray()))) {
            try (OutputStream o = gz ? new GZIPOutputStream(Files.newOutputStream(dir.resolve(e.getKey()))) : Files.newOutputStream(dir.resolve(e.getKey()))) {
                o.write(e.getValue());
            }
        }
    }

    @Test
    void idxRawAndGzipInRanges() throws IOException {
        writeIdx(dir, "train", 25, 4, false);
        writeIdx(dir, "t10k", 7, 4, true);
        SparkData.Loaded tr = read("idx:" + dir, 16);
        assertArrayEquals(new int[]{4, 4, 1}, tr.imageShape());
        assertTrue(tr.rdd().getNumPartitions() >= 2);
        List<Example> rows = sorted(tr);
        assertEquals(25, rows.size());
        for (Example e : rows) {
            assertEquals(e.id() % 10, e.label());
            for (int j = 0; j < 16; j++) assertEquals(((e.id() + j) % 256) / 255f, e.features()[j], 0f);
        }
        List<Example> te = sorted(SparkData.read(TestSpark.get(), DataSpec.parse("idx:" + dir, Split.TEST, false), -1, null));
        assertEquals(7, te.size());
        assertEquals(6, te.get(6).label());
        DataSummary s = TrainJob.summarize(TestSpark.get(), tr.rdd(), "x");
        DataSummary single = DataSummary.empty();
        rows.forEach(single::update);
        assertArrayEquals(new long[]{single.rows(), single.numClasses()},
                new long[]{s.rows(), s.numClasses()});
        for (int j = 0; j < 16; j++) assertEquals(single.features().mean(j), s.features().mean(j), 1e-12);
    }

    @Test
    void badDataIsNamed() throws IOException {
        assertTrue(assertThrows(BadInputException.class, () -> read("csv:" + dir.resolve("none.csv"), -1)).getMessage().endsWith("none.csv does not exist"));
        Path empty = Files.writeString(dir.resolve("empty.csv"), "");
        assertEquals("data csv:" + empty + " is empty (no rows)", assertThrows(BadInputException.class, () -> read("csv:" + empty, -1)).getMessage());
        Path three = Files.writeString(dir.resolve("three.csv"), "1,2,3,0\n");
        assertEquals("data csv:" + three + " has 3 features but model m expects 64",
                assertThrows(BadInputException.class, () -> read("csv:" + three, 64)).getMessage());
        assertTrue(assertThrows(BadInputException.class, () -> read("idx:" + dir, -1)).getMessage().contains("has no train-images-idx3-ubyte"));
        Path nan = Files.writeString(dir.resolve("nan.csv"), "1,2,0\n1,NaN,1\n");
        var e = assertThrows(Exception.class, () -> read("csv:" + nan, -1).rdd().collect());
        assertEquals("csv:" + nan + " row 1 feature 1 is NaN (features must be finite)", BadInputException.find(e).getMessage());
    }
}
