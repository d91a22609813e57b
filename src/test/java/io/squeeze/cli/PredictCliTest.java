package io.squeeze.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squeeze.TestSpark;
import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.Models;
import io.squeeze.artifact.OnnxExportTest;
import io.squeeze.core.Storage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code squeeze predict} on local[2]: one row per input row in order, the predictions of the runtime asked for
 * (integer arithmetic as {@code evaluate}, DL4J, the dense runtime, ONNX Runtime on an exported file or on the
 * artifact), top-k and probability columns, identical files on a rerun, refusals before any Spark work.
 */
class PredictCliTest {
    static final String FIX = "src/test/resources/fixtures/artifacts-v2/";
    static final String TEST = "csv:data/digits/digits-test.csv.gz";
    static final Storage ST = new Storage(new Configuration());
    @TempDir
    static Path dir;

    static List<Row> predict(String name, String... extra) {
        List<String> args = new java.util.ArrayList<>(List.of("predict", "--data", TEST, "--out", "parquet:" + dir.resolve(name)));
        args.addAll(List.of(extra));
        CliRun r = CliRun.run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.exists(dir.resolve(name).resolve("_SUCCESS")));
        return TestSpark.get().read().parquet(dir.resolve(name).toString()).collectAsList();
    }

    static int[] predictions(List<Row> rows) {
        return rows.stream().mapToInt(r -> r.getInt(2)).toArray();
    }

    @Test
    void aQuantizedArtifactIsScoredInIntegersAndItsOnnxExportAgrees() throws Exception {
        OnnxExportTest.Rows rows = OnnxExportTest.digits();
        Loaded q = Models.loadRunnable(ST, FIX + "pruned-int8-static");
        float[] expected = OnnxExportTest.squeezeIntegerOutput(q, rows);
        List<Row> auto = predict("int8-integer", "--model", FIX + "pruned-int8-static", "--runtime", "integer", "--top-k", "3", "--probabilities");
        assertEquals(List.of("id", "label", "prediction", "probability", "probabilities", "topk_index", "topk_probability"),
                List.of(TestSpark.get().read().parquet(dir.resolve("int8-integer").toString()).columns()));
        assertEquals(rows.n(), auto.size());
        for (int i = 0; i < rows.n(); i++) {
            Row r = auto.get(i);
            assertEquals(i, r.getLong(0), "input order");
            assertEquals(rows.labels()[i], r.getInt(1));
            float[] p = java.util.Arrays.copyOfRange(expected, i * 10, i * 10 + 10);
            assertArrayEquals(p, toFloats(r.getList(4)), 0f, "row " + i);
            int best = OnnxExportTest.argmax(expected, i, 10);
            assertEquals(best, r.getInt(2));
            assertEquals(p[best], r.getFloat(3), 0f);
            assertEquals(best, (int) r.<Integer>getList(5).get(0));
            assertEquals(3, r.getList(6).size());
        }
        Path onnx = dir.resolve("int8.onnx");
        assertEquals(0, CliRun.run("export", "--model", FIX + "pruned-int8-static", "--format", "onnx", "--out", onnx.toString()).code());
        int[] ints = predictions(auto), fromFile = predictions(predict("int8-file", "--model", onnx.toString())),
                onArtifact = predictions(predict("int8-onnx", "--model", FIX + "pruned-int8-static", "--runtime", "onnx"));
        assertArrayEquals(ints, fromFile, "ONNX Runtime on the exported file");
        assertArrayEquals(ints, onArtifact, "--runtime onnx on the artifact");
        // auto: ONNX Runtime on the QDQ export, the same integer arithmetic (probabilities differ by softmax rounding)
        List<Row> chosen = predict("int8-auto", "--model", FIX + "pruned-int8-static", "--probabilities");
        assertTrue(Files.readString(dir.resolve("int8-auto").resolve("_predictions.json")).contains("\"runtime\" : \"onnx\""));
        assertArrayEquals(ints, predictions(chosen));
        for (int i = 0; i < rows.n(); i++)
            assertArrayEquals(toFloats(auto.get(i).getList(4)), toFloats(chosen.get(i).getList(4)), 1e-6f, "row " + i);
    }

    @Test
    void aHighlyPrunedFloatModelRunsInTheSparseKernelUnderAutoWithOnnxRuntimesPredictions() throws Exception {
        Path pruned = dir.resolve("pruned-90");
        assertEquals(0, CliRun.run("prune", "--model", FIX + "dense", "--method", "l1", "--amount", "0.9", "--out", pruned.toString()).code());
        int[] auto = predictions(predict("sparse-auto", "--model", pruned.toString()));
        assertTrue(Files.exists(dir.resolve("sparse-auto").resolve("_predictions.json")));
        assertTrue(Files.readString(dir.resolve("sparse-auto").resolve("_predictions.json")).contains("\"runtime\" : \"dense\""),
                "90 % zeros: the sparse kernel, not ONNX Runtime");
        assertArrayEquals(predictions(predict("sparse-onnx", "--model", pruned.toString(), "--runtime", "onnx")), auto);
        assertArrayEquals(predictions(predict("sparse-dl4j", "--model", pruned.toString(), "--runtime", "dl4j")), auto);
    }

    @Test
    void aFloatModelGivesTheSamePredictionsOnEveryRuntimeAndARerunWritesTheSameFiles() throws Exception {
        int[] dense = predictions(predict("dense", "--model", FIX + "dense"));
        for (String rt : List.of("dl4j", "dense")) assertArrayEquals(dense, predictions(predict("dense-" + rt, "--model", FIX + "dense", "--runtime", rt)), rt);
        assertTrue(Files.readString(dir.resolve("dense").resolve("_predictions.json")).contains("\"runtime\" : \"onnx\""));
        // a model the ONNX export does not take (average pooling) is scored by DL4J under auto
        Path zip = io.squeeze.TestModels.avgPoolZip(dir.resolve("avgpool.zip"), 10);
        assertEquals(359, predict("avgpool", "--model", zip.toString()).size());
        assertTrue(Files.readString(dir.resolve("avgpool").resolve("_predictions.json")).contains("\"runtime\" : \"dl4j\""));
        predict("dense-again", "--model", FIX + "dense");
        List<String> parts;
        try (var l = Files.list(dir.resolve("dense"))) {
            parts = l.map(f -> f.getFileName().toString()).filter(n -> n.startsWith("part-")).sorted().toList();
        }
        assertFalse(parts.isEmpty());
        for (String part : parts)
            assertArrayEquals(Files.readAllBytes(dir.resolve("dense").resolve(part)), Files.readAllBytes(dir.resolve("dense-again").resolve(part)), part);
    }

    @Test
    void whatCannotBeScoredIsRefusedBeforeAnySparkWork() throws Exception {
        String[][] cases = {
                {"--runtime integer needs a quantized model; file:", "--model", FIX + "dense", "--runtime", "integer"},
                {"--runtime must be auto, dl4j, dense, integer or onnx, got tflite", "--model", FIX + "dense", "--runtime", "tflite"},
                {"--top-k must be in [1, 10] (the model's classes), got 11", "--model", FIX + "dense", "--top-k", "11"},
        };
        for (String[] c : cases) {
            Path out = dir.resolve("refused");
            List<String> args = new java.util.ArrayList<>(List.of("predict", "--data", TEST, "--out", out.toString()));
            args.addAll(List.of(c).subList(1, c.length));
            CliRun r = CliRun.run(args.toArray(String[]::new));
            assertEquals(2, r.code(), r.err());
            assertTrue(r.lastErr().contains(c[0]), r.lastErr());
            assertFalse(Files.exists(out));
        }
        Path garbage = Files.writeString(dir.resolve("garbage.onnx"), "not a model");
        CliRun r = CliRun.run("predict", "--model", garbage.toString(), "--data", TEST, "--out", dir.resolve("g").toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.lastErr().contains("is not a valid ONNX model"), r.lastErr());
        // a model that expects another width than the data has
        r = CliRun.run("predict", "--model", FIX + "dense", "--data", "idx:" + OnnxExportTest.MNIST, "--out", dir.resolve("w").toString());
        assertEquals(2, r.code(), r.err());
        assertFalse(Files.exists(dir.resolve("w")));
    }

    static float[] toFloats(List<Object> l) {
        float[] f = new float[l.size()];
        for (int i = 0; i < f.length; i++) f[i] = (Float) l.get(i);
        return f;
    }
}
