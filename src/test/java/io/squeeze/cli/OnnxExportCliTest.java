package io.squeeze.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.Models;
import io.squeeze.artifact.OnnxExportTest;
import io.squeeze.artifact.OnnxExportTest.Rows;
import io.squeeze.core.Storage;
import io.squeeze.model.Logits;
import java.io.IOException;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code squeeze export --format onnx} on MNIST models trained by {@code squeeze train}: LeNet-300-100 and LeNet-5,
 * float and static int8. In ONNX Runtime the float exports give Squeeze's logits (1e-5 relative) and the int8 QDQ
 * exports Squeeze's integer-arithmetic predictions on ≥ 99.9 % of the MNIST test rows, with the same accuracy to
 * ±0.02 point; {@code predict} of the int8 LeNet-300-100 on the test set gives ONNX Runtime's predictions row for row
 * (the README's walkthrough: evaluate, the ONNX Runtime snippet and predict agree). Refusals: a layer ONNX export does not take, an existing output, 7-bit dynamic activations.
 */
class OnnxExportCliTest {
    static final Storage ST = new Storage(new Configuration());
    @TempDir
    static Path dir;
    static String train;

    /** The committed 3,000 MNIST training rows as CSV (pixels / 255, as the idx reader gives them): a quick fit. */
    @BeforeAll
    static void data() throws IOException {
        Rows r = OnnxExportTest.mnist("train", 3000);
        Path csv = dir.resolve("mnist-3000.csv");
        try (Writer w = Files.newBufferedWriter(csv)) {
            for (int i = 0; i < r.n(); i++) {
                StringBuilder line = new StringBuilder();
                for (int j = 0; j < 784; j++) line.append(r.x()[i * 784 + j]).append(',');
                w.write(line.append(r.labels()[i]).append('\n').toString());
            }
        }
        train = "csv:" + csv;
    }

    static void ok(String... args) {
        CliRun r = CliRun.run(args);
        assertEquals(0, r.code(), String.join(" ", args) + "\n" + r.err());
    }

    /** Trains {@code arch}, quantizes it to static int8 and exports both; checks both exports in ONNX Runtime. */
    static void trainQuantizeExport(String arch, String name, int testRows, double learned) throws Exception {
        String fp32 = dir.resolve(name).toString(), int8 = dir.resolve(name + "-int8").toString();
        ok("train", "--data", train, "--arch", arch, "--epochs", "1", "--lr", "0.003", "--seed", "5", "--out", fp32);
        ok("quantize", "--model", fp32, "--mode", "static", "--bits", "8", "--calib-data", train, "--calib-rows", "500", "--out", int8);
        Rows test = OnnxExportTest.mnist("t10k", testRows);

        ok("export", "--model", fp32, "--format", "onnx", "--out", fp32 + ".onnx");
        Loaded f = Models.loadRunnable(ST, fp32);
        Map<String, float[]> ort = OnnxExportTest.runOnnx(Files.readAllBytes(Path.of(fp32 + ".onnx")), test);
        OnnxExportTest.assertClose(Logits.of(f.model().net(), test.x(), test.n(), 784), ort.get("logits"), name + " logits");

        CliRun r = CliRun.run("export", "--model", int8, "--format", "onnx", "--out", int8 + ".onnx");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("onnx opset 13, static QDQ"), r.out());
        Loaded q = Models.loadRunnable(ST, int8);
        float[] sq = OnnxExportTest.squeezeIntegerOutput(q, test);
        float[] onnx = OnnxExportTest.runOnnx(Files.readAllBytes(Path.of(int8 + ".onnx")), test).get("output");
        double agree = OnnxExportTest.agreement(sq, onnx, test.n(), 10);
        assertTrue(agree >= 0.999, name + " int8: ONNX Runtime agrees with Squeeze's integer path on " + agree + " of the rows");
        double accSq = OnnxExportTest.accuracy(sq, test.labels(), 10), accOnnx = OnnxExportTest.accuracy(onnx, test.labels(), 10);
        assertEquals(accSq, accOnnx, 0.0002, name + " int8 accuracy");
        assertTrue(accSq > learned, name + " learned something (one epoch on 3,000 rows; chance is 0.1): " + accSq);
        if (testRows == 10_000) {
            // the README's third way: predict the test set to Parquet on Spark (auto: ONNX Runtime on the export)
            String pred = dir.resolve(name + "-predictions").toString();
            ok("predict", "--model", int8, "--data", "idx:" + OnnxExportTest.MNIST, "--out", "parquet:" + pred);
            var rows = io.squeeze.TestSpark.get().read().parquet(pred).orderBy("id").collectAsList();
            assertEquals(testRows, rows.size());
            int same = 0;
            for (int i = 0; i < testRows; i++) {
                assertEquals(test.labels()[i], rows.get(i).getInt(1), "row " + i + " label");
                assertEquals(OnnxExportTest.argmax(onnx, i, 10), rows.get(i).getInt(2), "row " + i + ": predict and the ONNX Runtime snippet");
                if (rows.get(i).getInt(2) == OnnxExportTest.argmax(sq, i, 10)) same++;
            }
            assertTrue(same >= 0.999 * testRows, "predict and Squeeze's integer path agree on " + same + " rows");
        }
    }

    @Test
    void lenet300100Int8RunsInOnnxRuntimeAsSqueezesIntegerPath() throws Exception {
        trainQuantizeExport("mlp:300,100", "lenet-300-100", 10_000, 0.7);
    }

    @Test
    void lenet5Int8RunsInOnnxRuntimeAsSqueezesIntegerPath() throws Exception {
        trainQuantizeExport("lenet5", "lenet5", 1_000, 0.5);
    }

    @Test
    void aSequentialMnistLstmInDynamicInt8RunsInOnnxRuntimeAsSqueezesIntegerPath() throws Exception {
        // each image as 28 steps of 28 pixels; the LSTM's 28 steps unrolled in the export, each a dynamic int8 product
        String fp32 = dir.resolve("lstm").toString(), int8 = dir.resolve("lstm-int8").toString();
        ok("train", "--data", train, "--arch", "lstm:32", "--epochs", "1", "--lr", "0.01", "--seed", "5", "--out", fp32);
        ok("quantize", "--model", fp32, "--mode", "dynamic", "--bits", "8", "--out", int8);
        CliRun r = CliRun.run("export", "--model", int8, "--format", "onnx", "--out", int8 + ".onnx");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("onnx opset 13, dynamic int8"), r.out());
        Rows test = OnnxExportTest.mnist("t10k", 1_000);
        float[] sq = OnnxExportTest.squeezeIntegerOutput(Models.loadRunnable(ST, int8), test);
        float[] onnx = OnnxExportTest.runOnnx(Files.readAllBytes(Path.of(int8 + ".onnx")), test).get("output");
        double agree = OnnxExportTest.agreement(sq, onnx, test.n(), 10);
        assertTrue(agree >= 0.999, "ONNX Runtime agrees with Squeeze's integer path on " + agree + " of the rows");
        double acc = OnnxExportTest.accuracy(sq, test.labels(), 10);
        assertEquals(acc, OnnxExportTest.accuracy(onnx, test.labels(), 10), 0.0011);
        assertTrue(acc > 0.3, "learned something (one epoch on 3,000 rows; chance is 0.1): " + acc);
    }

    @Test
    void whatOnnxCannotExpressIsRefusedByNameAndNothingIsWritten() throws Exception {
        // average pooling: Squeeze evaluates it through DL4J, the export does not take it
        Path zip = io.squeeze.TestModels.avgPoolZip(dir.resolve("avgpool.zip"), 3);
        Path out = dir.resolve("avgpool.onnx");
        CliRun r = CliRun.run("export", "--model", zip.toString(), "--format", "onnx", "--out", out.toString());
        assertEquals(2, r.code(), r.err());
        assertEquals("squeeze: layer 1 is AVG pooling, which ONNX export does not support", r.lastErr());
        assertFalse(Files.exists(out));

        String dense = "src/test/resources/fixtures/artifacts-v2/dense";
        Path exists = Files.writeString(dir.resolve("exists.onnx"), "keep");
        r = CliRun.run("export", "--model", dense, "--format", "onnx", "--out", exists.toString());
        assertEquals(2, r.code(), r.err());
        assertEquals("keep", Files.readString(exists));

        String reduced = dir.resolve("dyn-reduced").toString();
        ok("quantize", "--model", dense, "--mode", "dynamic", "--bits", "8", "--reduce-range", "--out", reduced);
        r = CliRun.run("export", "--model", reduced, "--format", "onnx", "--out", dir.resolve("dyn.onnx").toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.lastErr().contains("--reduce-range (7-bit activations), which ONNX's DynamicQuantizeLinear (8 bits) cannot express"), r.lastErr());
        assertFalse(Files.exists(dir.resolve("dyn.onnx")));
    }
}
