package io.squeeze.ml;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squeeze.TestSpark;
import io.squeeze.artifact.OnnxExportTest;
import io.squeeze.cli.CliRun;
import io.squeeze.core.BadInputException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.ml.Pipeline;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.PipelineStage;
import org.apache.spark.ml.feature.VectorAssembler;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link SqueezeModel} in Spark ML on local[2]: inside a {@code Pipeline} after a {@code VectorAssembler}, saved as a
 * {@code PipelineModel}, reloaded and transforming the digits test set, it gives the predictions and probabilities
 * {@code squeeze predict} writes; array features give the same; bad columns are refused by name.
 */
class SqueezeModelTest {
    static final String INT8 = "src/test/resources/fixtures/artifacts-v2/pruned-int8-static";
    @TempDir
    Path dir;

    /** The digits test rows as a DataFrame: id, 64 pixel columns p0..p63 and the features as an array column. */
    static Dataset<Row> digits(SparkSession spark) throws Exception {
        OnnxExportTest.Rows r = OnnxExportTest.digits();
        StructType schema = new StructType().add("id", DataTypes.LongType);
        for (int j = 0; j < 64; j++) schema = schema.add("p" + j, DataTypes.DoubleType);
        schema = schema.add("pixels", DataTypes.createArrayType(DataTypes.FloatType));
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < r.n(); i++) {
            Object[] v = new Object[66];
            v[0] = (long) i;
            List<Float> px = new ArrayList<>();
            for (int j = 0; j < 64; j++) {
                v[1 + j] = (double) r.x()[i * 64 + j];
                px.add(r.x()[i * 64 + j]);
            }
            v[65] = px;
            rows.add(RowFactory.create(v));
        }
        return spark.createDataFrame(rows, schema).repartition(2).sortWithinPartitions("id");
    }

    @Test
    void aSavedAndReloadedPipelineScoresAsPredictDoes() throws Exception {
        SparkSession spark = TestSpark.get();
        Dataset<Row> data = digits(spark);
        String[] pixels = new String[64];
        for (int j = 0; j < 64; j++) pixels[j] = "p" + j;
        Pipeline pipeline = new Pipeline().setStages(new PipelineStage[]{
                new VectorAssembler().setInputCols(pixels).setOutputCol("features"), SqueezeModel.of(INT8)});
        PipelineModel fitted = pipeline.fit(data);
        Path saved = dir.resolve("pipeline");
        fitted.save(saved.toString());
        assertTrue(Files.isRegularFile(saved.resolve("stages").resolve("1_" + fitted.stages()[1].uid()).resolve("data")
                .resolve("pruned-int8-static").resolve("_SUCCESS")), "the artifact copied into the pipeline's data");
        PipelineModel back = PipelineModel.load(saved.toString());
        assertEquals(SqueezeModel.class, back.stages()[1].getClass());
        List<Row> scored = back.transform(data).orderBy("id").select("id", "prediction", "probability").collectAsList();

        Path out = dir.resolve("predicted");
        CliRun r = CliRun.run("predict", "--model", INT8, "--data", "csv:data/digits/digits-test.csv.gz", "--probabilities", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        List<Row> predicted = spark.read().parquet(out.toString()).orderBy("id").collectAsList();
        assertEquals(predicted.size(), scored.size());
        for (int i = 0; i < scored.size(); i++) {
            assertEquals(predicted.get(i).getInt(2), (int) scored.get(i).getDouble(1), "row " + i);
            double[] p = ((Vector) scored.get(i).get(2)).toArray();
            List<Object> q = predicted.get(i).getList(4);
            for (int j = 0; j < p.length; j++) assertEquals((Float) q.get(j), (float) p[j], 0f, "row " + i + " class " + j);
        }

        // array features, renamed output columns
        SqueezeModel m = SqueezeModel.of(INT8).setFeaturesCol("pixels").setPredictionCol("digit").setProbabilityCol("p");
        List<Row> fromArrays = m.transform(data).orderBy("id").select("digit").collectAsList();
        for (int i = 0; i < scored.size(); i++) assertEquals(scored.get(i).getDouble(1), fromArrays.get(i).getDouble(0), "row " + i);
        // its params survive a save and load of the stage alone
        m.save(dir.resolve("stage").toString());
        SqueezeModel m2 = SqueezeModel.load(dir.resolve("stage").toString());
        assertEquals(List.of("pixels", "digit", "p"), List.of(m2.getOrDefault(m2.featuresCol()), m2.getOrDefault(m2.predictionCol()), m2.getOrDefault(m2.probabilityCol())));
        assertArrayEquals(m.transform(data).orderBy("id").select("digit").collectAsList().toArray(),
                m2.transform(data).orderBy("id").select("digit").collectAsList().toArray());
    }

    @Test
    void columnsItCannotScoreAreRefusedByName() throws Exception {
        Dataset<Row> data = digits(TestSpark.get());
        SqueezeModel m = SqueezeModel.of(INT8);
        String noColumn = assertThrows(BadInputException.class, () -> m.transform(data)).getMessage();
        assertTrue(noColumn.startsWith("SqueezeModel: the data has no column 'features' (columns: [id, p0, p1, "), noColumn);
        assertEquals("SqueezeModel: column 'p0' is double; expected an array of numbers or an ML vector",
                assertThrows(BadInputException.class, () -> m.setFeaturesCol("p0").transform(data)).getMessage());
        assertEquals("SqueezeModel: the output column 'id' exists already",
                assertThrows(BadInputException.class, () -> m.setFeaturesCol("pixels").setPredictionCol("id").transform(data)).getMessage());
    }
}
