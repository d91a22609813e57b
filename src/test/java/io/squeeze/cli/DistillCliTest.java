package io.squeeze.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.TestSpark;
import io.squeeze.artifact.Artifact;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** soft-targets → distill (offline, online), as a user runs them, on the UCI digits. */
class DistillCliTest {
    static final String TRAIN = "csv:data/digits/digits-train.csv.gz", TEST = "csv:data/digits/digits-test.csv.gz";
    static final ObjectMapper M = new ObjectMapper();
    @TempDir
    static Path dir;
    static String teacher, soft;

    @BeforeAll
    static void teacherAndSoftTargets() {
        teacher = dir.resolve("teacher").toString();
        CliRun r = CliRun.run("train", "--data", TRAIN, "--arch", "mlp:128,64", "--epochs", "6", "--normalize", "minmax", "--sync-every", "5",
                "--lr", "0.005", "--batch", "32", "--out", teacher);
        assertEquals(0, r.code(), r.err());
        soft = dir.resolve("soft").toString();
        r = CliRun.run("soft-targets", "--teacher", teacher, "--data", TRAIN, "--out", soft, "--batch", "100");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("1438 rows, 1438 labelled"), r.out());
    }

    static Dataset<Row> parquet(String p) {
        return TestSpark.get().read().parquet(p);
    }

    @Test
    void softTargetsAreTheTeachersLogitsOneRowPerInputRowInOrder() throws Exception {
        Artifact t = Artifact.load(teacher);
        List<Row> rows = parquet(soft).collectAsList();
        assertEquals(1438, rows.size());
        assertEquals(List.of("id", "label", "logits"), List.of(parquet(soft).columns()));
        // the first rows, recomputed in-process: DL4J's own output is softmax(logits)
        var data = io.squeeze.spark.SparkData.read(TestSpark.get(), io.squeeze.data.DataSpec.parse(TRAIN, io.squeeze.data.Split.TRAIN, false), 64, "t")
                .rdd().take(20);
        for (int i = 0; i < 20; i++) {
            Row r = rows.get(i);
            assertEquals((long) i, r.getLong(0));
            assertEquals(data.get(i).label(), r.getInt(1));
            List<Object> z = r.getList(2);
            float[] x = t.model().meta().normalizer().apply(data.get(i).features().clone());
            float[] p = t.model().net().output(org.nd4j.linalg.factory.Nd4j.create(x, new long[]{1, 64}, 'c')).dup().data().asFloat();
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (Object v : z) max = Math.max(max, ((Number) v).doubleValue());
            for (Object v : z) sum += Math.exp(((Number) v).doubleValue() - max);
            for (int j = 0; j < 10; j++)
                assertEquals(p[j], Math.exp(((Number) z.get(j)).doubleValue() - max) / sum, 1e-5, "row " + i + " class " + j);
        }
        JsonNode m = M.readTree(Files.readAllBytes(Path.of(soft, "_soft-targets.json")));
        assertEquals(10, m.get("classes").asInt());
        assertEquals(Artifact.modelSha256(Artifact.load(teacher).manifest()), m.get("teacher_sha256").asText());
        // a rerun writes identical files
        String again = dir.resolve("soft-again").toString();
        assertEquals(0, CliRun.run("soft-targets", "--teacher", teacher, "--data", TRAIN, "--out", again, "--batch", "100").code());
        JsonNode m2 = M.readTree(Files.readAllBytes(Path.of(again, "_soft-targets.json")));
        assertEquals(m.get("files"), m2.get("files"));
    }

    @Test
    void topKKeepsTheLargestLogits() throws Exception {
        String top = dir.resolve("top3").toString();
        assertEquals(0, CliRun.run("soft-targets", "--teacher", teacher, "--data", TEST, "--out", top, "--top-k", "3").code());
        List<Row> full = parquet(soft).limit(1).collectAsList(), t = parquet(top).collectAsList();
        assertEquals(359, t.size());
        Row r = t.get(0);
        List<Object> idx = r.getList(2), v = r.getList(3);
        assertEquals(3, idx.size());
        assertTrue(((Number) v.get(0)).floatValue() >= ((Number) v.get(1)).floatValue());
        assertTrue(((Number) v.get(1)).floatValue() >= ((Number) v.get(2)).floatValue());
        assertNotNull(full);
        // a student learns from top-k soft targets (the other classes at probability 0)
        CliRun d = CliRun.run("distill", "--soft-targets", top, "--data", TEST, "--student", "mlp:16", "--normalize", "minmax",
                "--epochs", "2", "--out", dir.resolve("from-top3").toString());
        assertEquals(0, d.code(), d.err());
    }

    @Test
    void offlineDistillationTrainsAStudentFromTheStoredSoftTargets() throws Exception {
        String out = dir.resolve("student").toString();
        CliRun r = CliRun.run("distill", "--soft-targets", soft, "--data", TRAIN, "--student", "mlp:32", "--normalize", "minmax",
                "--temperature", "4", "--alpha", "0.3", "--epochs", "6", "--lr", "0.005", "--batch", "32", "--eval-data", TEST, "--out", out);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("1438 rows joined"), r.err());
        JsonNode m = M.readTree(Files.readAllBytes(Path.of(out, "manifest.json")));
        double acc = m.get("metrics").get("accuracy").asDouble(), agree = m.get("metrics").get("baseline").get("agreement").asDouble();
        assertTrue(acc > 0.85, "student accuracy " + acc);
        // the last epoch's validation is the student as written
        assertTrue(r.err().contains(String.format(java.util.Locale.ROOT, "train: epoch 6 validation accuracy %.4f", acc)), r.err());
        assertTrue(agree > 0.85, "agreement with the teacher " + agree);
        assertEquals("offline", m.get("config").get("mode").asText());
        // the config is the job's record: it reads back, and squeeze rerun distills again from it
        var manifest = Artifact.load(out).manifest();
        var c = (io.squeeze.spark.DistillJob.Config) io.squeeze.spark.Jobs.fromMap(manifest.config(), RerunCommand.types(), out);
        assertEquals(new io.squeeze.spark.SparkTrainer.Config(6, 32, io.squeeze.spark.SparkTrainer.DEFAULT_SYNC_EVERY, 42), c.training()); // --seed seeds the data split too
        assertEquals(List.of(4.0, 0.3, 0.005), List.of(c.temperature(), c.alpha(), c.lr()));
        String again = dir.resolve("student-again").toString();
        CliRun rr = CliRun.run("rerun", "--manifest", out, "--out", again);
        assertEquals(0, rr.code(), rr.err());
        assertEquals(manifest.config(), Artifact.load(again).manifest().config());
        assertTrue((Double) Artifact.load(again).manifest().metrics().get("accuracy") > 0.85);
        // the saved student is a plain DL4J network (its usual loss back)
        assertFalse(Artifact.load(out).model().net().getLayerWiseConfigurations().toJson().contains("KdLoss"));
    }

    @Test
    void featureDistillationAddsAHintThroughAProjection() throws Exception {
        // the graph starts as the student: same outputs
        var student = io.squeeze.TestModels.mlp(64, new int[]{32}, 10, 4);
        var cg = io.squeeze.model.HintGraph.build(student, 0, 32, 128, 0.5, new org.nd4j.linalg.lossfunctions.impl.LossMCXENT(), 1e-3);
        var x = org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 4, 64);
        assertArrayEquals(student.output(x).dup().data().asFloat(), cg.output(x)[0].dup().data().asFloat(), 1e-6f);
        assertEquals(32 * 128, cg.getLayer(io.squeeze.model.HintGraph.HINT).numParams(), "a projection, no bias");
        String out = dir.resolve("hint").toString();
        CliRun r = CliRun.run("distill", "--soft-targets", soft, "--data", TRAIN, "--student", "mlp:32", "--normalize", "minmax",
                "--hint", "0:0", "--hint-weight", "0.05", "--epochs", "4", "--lr", "0.005", "--batch", "32", "--sync-every", "5", "--eval-data", TEST, "--out", out);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("hint from teacher layer 0 (128 wide) to student layer 0 (32 wide, through a learned projection)"), r.err());
        JsonNode m = M.readTree(Files.readAllBytes(Path.of(out, "manifest.json")));
        double acc = m.get("metrics").get("accuracy").asDouble();
        assertTrue(acc > 0.85, m.get("metrics").toString());
        // validated after every epoch as the student it becomes: the last epoch's figure is the artifact's
        for (int e = 1; e <= 3; e++) assertTrue(r.err().contains("train: epoch " + e + " validation accuracy"), r.err());
        assertTrue(r.err().contains(String.format(java.util.Locale.ROOT, "train: epoch 4 validation accuracy %.4f", acc)), r.err());
        assertEquals("0:0", m.get("config").get("hint").asText());
        // the artifact is the plain student (no projection)
        assertEquals(64 * 32 + 32 + 32 * 10 + 10, Artifact.load(out).model().net().numParams());
    }

    @Test
    void onlineDistillationTrainsBoth() throws Exception {
        String out = dir.resolve("online").toString(), t2 = dir.resolve("teacher2").toString();
        CliRun r = CliRun.run("distill", "--teacher", teacher, "--online", "--data", TRAIN, "--student", "mlp:32", "--normalize", "minmax",
                "--temperature", "2", "--alpha", "0.5", "--epochs", "2", "--lr", "0.005", "--batch", "32", "--eval-data", TEST,
                "--save-teacher", t2, "--out", out);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("online epoch 2/2: teacher learns from the student"), r.err());
        // the student is validated after each epoch, as training validates
        assertTrue(r.err().contains("train: epoch 1 validation accuracy") && r.err().contains("train: epoch 2 validation accuracy"), r.err());
        assertTrue(M.readTree(Files.readAllBytes(Path.of(out, "manifest.json"))).get("metrics").get("accuracy").asDouble() > 0.8);
        assertNotEquals(Artifact.load(teacher).model().sha256(), Artifact.load(t2).model().sha256());
    }

    @Test
    void onnxTeacherLogitsEqualOnnxRuntimeInProcess() throws Exception {
        String out = dir.resolve("onnx-soft").toString();
        CliRun r = CliRun.run("soft-targets", "--teacher", "src/test/resources/onnx/teacher-mlp.onnx", "--data", TEST, "--out", out);
        assertEquals(0, r.code(), r.err());
        List<Row> rows = parquet(out).collectAsList();
        assertEquals(359, rows.size());
        var data = io.squeeze.spark.SparkData.read(TestSpark.get(), io.squeeze.data.DataSpec.parse(TEST, io.squeeze.data.Split.TEST, false), 64, "t").rdd().collect();
        var t = io.squeeze.artifact.Models.teacher(new io.squeeze.core.Storage(new org.apache.hadoop.conf.Configuration()),
                "src/test/resources/onnx/teacher-mlp.onnx", null, null).open();
        float[] x = new float[359 * 64];
        for (int i = 0; i < 359; i++) System.arraycopy(data.get(i).features(), 0, x, i * 64, 64);
        float[] z = t.logits(x, 359);
        for (int i = 0; i < 359; i++) {
            List<Object> l = rows.get(i).getList(2);
            for (int j = 0; j < 10; j++) assertEquals(z[i * 10 + j], ((Number) l.get(j)).floatValue(), 0f, "row " + i);
        }
        // and ONNX Runtime computes what PyTorch computed when it exported the model
        JsonNode ref = M.readTree(Files.readAllBytes(Path.of("src/test/resources/onnx/teacher-mlp-reference.json")));
        float[] rx = new float[5 * 64];
        for (int i = 0; i < 5; i++) for (int j = 0; j < 64; j++) rx[i * 64 + j] = (float) ref.get("x").get(i).get(j).asDouble();
        float[] rz = t.logits(rx, 5);
        for (int i = 0; i < 5; i++) for (int j = 0; j < 10; j++) assertEquals(ref.get("logits").get(i).get(j).asDouble(), rz[i * 10 + j], 1e-4);
    }

    @Test
    void badInputs() throws Exception {
        String never = dir.resolve("never").toString();
        String[][] cases = {
                {"distill.temperature must be > 0, got 0.0", "distill", "--soft-targets", soft, "--data", TRAIN, "--student", "mlp:8", "--temperature", "0", "--out", never},
                {"distill.alpha must be in [0,1], got 1.5", "distill", "--soft-targets", soft, "--data", TRAIN, "--student", "mlp:8", "--alpha", "1.5", "--out", never},
                {"were made from 1438 rows", "distill", "--soft-targets", soft, "--data", TEST, "--student", "mlp:8", "--out", never},
                {"soft-targets.top-k must be in [1, 10]", "soft-targets", "--teacher", teacher, "--data", TRAIN, "--top-k", "11", "--out", never},
                {"has no input 'images'; its inputs: [pixels]", "soft-targets", "--teacher", "src/test/resources/onnx/teacher-mlp.onnx", "--onnx-input", "images", "--data", TRAIN, "--out", never},
                {"distill.hint must be TEACHER:STUDENT (a teacher layer index or graph vertex name, a student layer index or graph vertex name, e.g. 1:0 or pool:0), got '1-0'", "distill", "--soft-targets", soft, "--data", TRAIN, "--student", "mlp:8", "--hint", "1-0", "--out", never},
                {"distill.hint student layer must be a hidden layer in [0, 0], got 3", "distill", "--soft-targets", soft, "--data", TRAIN, "--student", "mlp:8", "--hint", "0:3", "--out", never},
                {"has 784 features but teacher", "soft-targets", "--teacher", "src/test/resources/onnx/teacher-mlp.onnx", "--data", "csv:" + wide(), "--out", never},
        };
        for (String[] c : cases) {
            CliRun r = CliRun.run(java.util.Arrays.copyOfRange(c, 1, c.length));
            assertEquals(2, r.code(), c[0] + ": " + r.err());
            assertTrue(r.lastErr().contains(c[0]), "expected '" + c[0] + "' in: " + r.lastErr());
            assertFalse(Files.exists(Path.of(never)), "nothing written");
        }
        // soft targets without _SUCCESS are refused
        String broken = dir.resolve("broken").toString();
        org.apache.commons.io.FileUtils.copyDirectory(new java.io.File(soft), new java.io.File(broken));
        Files.delete(Path.of(broken, "_SUCCESS"));
        CliRun r = CliRun.run("distill", "--soft-targets", broken, "--data", TRAIN, "--student", "mlp:8", "--out", never);
        assertEquals(2, r.code());
        assertTrue(r.lastErr().contains("are incomplete: no _SUCCESS"), r.lastErr());
        // a student with another class count
        String five = dir.resolve("five.zip").toString();
        io.squeeze.model.ModelIO.writeZip(new io.squeeze.core.Storage(new org.apache.hadoop.conf.Configuration()), new org.apache.hadoop.fs.Path(five),
                io.squeeze.TestModels.mlp(64, new int[]{8}, 5, 1), io.squeeze.TestModels.minmaxMeta(64, 5), false);
        r = CliRun.run("distill", "--soft-targets", soft, "--data", TRAIN, "--student", five, "--out", never);
        assertEquals(2, r.code());
        assertTrue(r.lastErr().contains("have 10 classes but the student has 5"), r.lastErr());
    }

    @Test
    void kerasTeacherLogitsGiveKerasOutputs() throws Exception {
        JsonNode ref = M.readTree(Files.readAllBytes(Path.of("src/test/resources/keras/tiny-mlp-expected.json")));
        StringBuilder csv = new StringBuilder();
        for (JsonNode row : ref.get("inputs")) {
            for (JsonNode v : row) csv.append(v.asDouble()).append(',');
            csv.append("0\n");
        }
        Path data = Files.writeString(dir.resolve("keras-in.csv"), csv);
        String out = dir.resolve("keras-soft").toString();
        CliRun r = CliRun.run("soft-targets", "--teacher", "src/test/resources/keras/tiny-mlp.h5", "--data", "csv:" + data, "--out", out);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("(keras_h5, 3 classes)"), r.out());
        List<Row> rows = parquet(out).orderBy("id").collectAsList();
        for (int i = 0; i < rows.size(); i++) {
            List<Object> z = rows.get(i).getList(2);
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (Object v : z) max = Math.max(max, ((Number) v).doubleValue());
            for (Object v : z) sum += Math.exp(((Number) v).doubleValue() - max);
            for (int j = 0; j < 3; j++)
                assertEquals(ref.get("outputs").get(i).get(j).asDouble(), Math.exp(((Number) z.get(j)).doubleValue() - max) / sum, 1e-5);
        }
    }

    @Test
    void augmentWritesShiftedCopiesToParquet() throws Exception {
        String out = dir.resolve("aug.parquet").toString();
        CliRun r = CliRun.run("augment", "--data", TEST, "--image", "8x8", "--copies", "3", "--max-shift", "1", "--out", out);
        assertEquals(0, r.code(), r.err());
        List<Row> rows = parquet(out).collectAsList();
        assertEquals(3 * 359, rows.size());
        var data = io.squeeze.spark.SparkData.read(TestSpark.get(), io.squeeze.data.DataSpec.parse(TEST, io.squeeze.data.Split.TEST, false), 64, "t").rdd().take(1);
        List<Object> first = rows.get(0).getList(0), shifted = rows.get(1).getList(0);
        for (int j = 0; j < 64; j++) assertEquals(data.get(0).features()[j], ((Number) first.get(j)).floatValue(), "copy 0 is the original");
        assertEquals(data.get(0).label(), rows.get(1).getInt(1));
        float[] s = new float[64];
        for (int j = 0; j < 64; j++) s[j] = ((Number) shifted.get(j)).floatValue();
        assertArrayEquals(io.squeeze.data.Shift.copy(data.get(0).features(), 8, 8, 1, 7, 0, 1), s);
        // and it is usable as data
        assertEquals(0, CliRun.run("evaluate", "--model", teacher, "--data", "parquet:" + out).code());
    }

    static String wide() throws Exception {
        Path p = dir.resolve("wide.csv");
        if (!Files.exists(p)) {
            StringBuilder sb = new StringBuilder();
            for (int r = 0; r < 3; r++) {
                for (int j = 0; j < 784; j++) sb.append("0,");
                sb.append(r % 2).append('\n');
            }
            Files.writeString(p, sb);
        }
        return p.toString();
    }
}
