package io.squeeze.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.TestSpark;
import io.squeeze.artifact.Artifact;
import io.squeeze.artifact.Manifest;
import io.squeeze.cli.CliRun;
import io.squeeze.cluster.SparkHome.Run;
import io.squeeze.core.Storage;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Commands as {@code spark-submit} jobs on a real standalone cluster — a driver JVM, two executor JVMs — each giving
 * the same result as the same command on local[2] (bit-identical where the job is deterministic). Broadcasts are
 * deserialized in other JVMs here, which local mode never does; the default filesystem is the local disk (training
 * needs no shared one).
 */
class StandaloneClusterIT {
    static final Path BASE = StandaloneCluster.BASE;
    static final String TRAIN = "csv:" + BASE.resolve("data/digits/digits-train.csv.gz"), TEST = "csv:" + BASE.resolve("data/digits/digits-test.csv.gz");
    static final Path FIXTURES = BASE.resolve("src/test/resources/fixtures/artifacts-v1");
    static final Storage ST = new Storage(new Configuration());
    static final ObjectMapper M = new ObjectMapper();
    /** The end of a training epoch's progress line when its rounds ran as one barrier stage (also YarnClusterIT's). */
    static final java.util.regex.Pattern BARRIER_EPOCH = java.util.regex.Pattern.compile(" workers, one barrier stage; fitting [0-9]+ %, waiting [0-9]+ %\\)");
    static StandaloneCluster cluster;
    @TempDir
    static Path dir;

    @BeforeAll
    static void start() throws Exception {
        cluster = new StandaloneCluster(2);
    }

    @AfterAll
    static void stop() {
        if (cluster != null) cluster.close();
    }

    static Run submit(String... args) throws Exception {
        Run r = cluster.submit(List.of(), args);
        assertEquals(0, r.code(), "spark-submit " + String.join(" ", args) + "\n" + r.err());
        return r;
    }

    /**
     * The commands as one {@code squeeze batch} application (the cluster suites' usual way: an application's executors
     * cost more to start than most of these jobs' work), in order; fails unless every one exits 0.
     */
    static Run batch(String[]... commands) throws Exception {
        return batch(cluster, List.of(), commands);
    }

    /** As above, on {@code on} with further {@code spark-submit} options; the batch file is local ({@code file:}). */
    static Run batch(StandaloneCluster on, List<String> options, String[]... commands) throws Exception {
        String text = batchText(commands);
        Path file = Files.writeString(Files.createTempFile(StandaloneCluster.TARGET, "batch-", ".txt"), text);
        try {
            Run r = on.submit(options, "batch", "file:" + file);
            assertEquals(0, r.code(), "batch\n" + text + "\n" + r.err());
            assertTrue(r.err().contains("batch: " + commands.length + " commands done"), r.err());
            return r;
        } finally {
            Files.delete(file);
        }
    }

    /** A {@code squeeze batch} file's text: one line a command, each word quoted. */
    static String batchText(String[]... commands) {
        StringBuilder text = new StringBuilder();
        for (String[] c : commands) {
            for (String w : c) text.append(w.contains("'") ? '"' + w + '"' : "'" + w + "'").append(' ');
            text.append('\n');
        }
        return text.toString();
    }

    static String[] cmd(String... words) {
        return words;
    }

    static CliRun local(String... args) {
        long t = System.nanoTime();
        CliRun r = CliRun.run(args);
        System.err.printf("cluster-it: %.1f s  local %s%n", (System.nanoTime() - t) / 1e9, args[0]);
        assertEquals(0, r.code(), r.err());
        return r;
    }

    @Test
    void aQuantizedArtifactEvaluatesOnExecutorsAsInOneProcess() throws Exception {
        String model = FIXTURES.resolve("pruned-int8-static").toString();
        Path onCluster = dir.resolve("eval-cluster.json"), onLocal = dir.resolve("eval-local.json");
        String pc = dir.resolve("predict-cluster").toString(), pl = dir.resolve("predict-local").toString();
        batch(cmd("evaluate", "--model", model, "--data", TEST, "--report", onCluster.toString()),
                cmd("predict", "--model", model, "--data", TEST, "--runtime", "onnx", "--top-k", "2", "--out", "parquet:" + pc));
        assertTrue(cluster.executorLaunches() >= 2, "the work ran in executor JVMs of their own");
        local("evaluate", "--model", model, "--data", TEST, "--report", onLocal.toString());
        JsonNode c = M.readTree(Files.readAllBytes(onCluster)), l = M.readTree(Files.readAllBytes(onLocal));
        for (String k : new String[]{"rows", "accuracy", "loss", "top5"}) assertEquals(l.get(k), c.get(k), k);
        assertEquals(l.get("quantization"), c.get("quantization"));
        // predict: the artifact exported to ONNX in the driver, broadcast, scored by ONNX Runtime in the executors
        local("predict", "--model", model, "--data", TEST, "--runtime", "onnx", "--top-k", "2", "--out", "parquet:" + pl);
        try (var parts = Files.list(Path.of(pl))) {
            for (Path part : parts.filter(f -> f.getFileName().toString().startsWith("part-")).toList())
                assertArrayEquals(Files.readAllBytes(part), Files.readAllBytes(Path.of(pc).resolve(part.getFileName())), "predict " + part.getFileName());
        }
    }

    @Test
    void aRecipeWithSensitivityAllocationsRunsOnTheClusterAsLocally() throws Exception {
        String dense = FIXTURES.resolve("dense").toString();
        // sensitivity: every trial evaluated in the executors' one pass equals the local one
        String sc = dir.resolve("sens-cluster.json").toString(), sl = dir.resolve("sens-local.json").toString();
        String[] sens = {"sensitivity", "--model", dense, "--data", TEST, "--technique", "prune", "--levels", "0.5,0.9"};
        String st = dir.resolve("sens-trials.json").toString();
        submit(append(sens, "--out", sc));
        assertTrue(cluster.masterLog().contains("Registering app squeeze sensitivity"), "named after the command unless the user names it");
        // a recipe: prune to a target allocated from sensitivity, then int8 static; the same final artifact
        Path recipe = Files.writeString(dir.resolve("cluster.yaml"), """
                model: %s
                data: {train: "%s", eval: "%s"}
                accuracy: {metric: accuracy, tolerable_loss: 0.5}
                stages:
                  - prune: {target: 0.6, levels: [0.3, 0.6, 0.9]}
                  - quantize: {mode: static, bits: 8}
                """.formatted(dense, TRAIN, TEST));
        String rc = dir.resolve("run-cluster").toString(), rl = dir.resolve("run-local").toString();
        // trial-parallel: the rows cached on one executor, the other fetches them for its slice of the trials; the
        // recipe, then the recipe again (a rerun submitted to the cluster does no work)
        Run r = batch(append(sens, "--parallel", "trials", "--out", st), cmd("run", recipe.toString(), "--out", rc), cmd("run", recipe.toString(), "--out", rc));
        assertTrue(r.err().contains("run: [2/2] 02-quantize: done"), r.err());
        assertEquals(2, r.err().lines().filter(l -> l.endsWith(", skipped")).count(), r.err());
        local(append(sens, "--out", sl));
        JsonNode jc = M.readTree(Files.readAllBytes(Path.of(sc))), jl = M.readTree(Files.readAllBytes(Path.of(sl))), jt = M.readTree(Files.readAllBytes(Path.of(st)));
        assertTrue(jt.get("run").get("parallelism").asText().startsWith("trial-parallel on spark://"), jt.get("run").toString());
        for (JsonNode j : List.of(jc, jt)) {
            assertEquals(jl.get("baseline").get("accuracy"), j.get("baseline").get("accuracy"));
            for (int l = 0; l < jl.get("layers").size(); l++)
                for (int i = 0; i < 2; i++)
                    assertEquals(jl.get("layers").get(l).get("curve").get(i).get("accuracy"), j.get("layers").get(l).get("curve").get(i).get("accuracy"));
        }
        local("run", recipe.toString(), "--out", rl);
        assertEquals(io.squeeze.TestArtifacts.packed(rl + "/final"), io.squeeze.TestArtifacts.packed(rc + "/final"));
        JsonNode pc = M.readTree(Files.readAllBytes(Path.of(rc, "report.json"))), pl = M.readTree(Files.readAllBytes(Path.of(rl, "report.json")));
        assertEquals(pl.get("stages").get(0).get("allocation").get("levels"), pc.get("stages").get(0).get("allocation").get("levels"));
        assertEquals(pl.get("gate").get("final_value"), pc.get("gate").get("final_value"));
    }

    @Test
    void quantizePruneAndFactorizeWriteTheSamePackedFilesAsLocally() throws Exception {
        String dense = FIXTURES.resolve("dense").toString();
        String[][] jobs = {
                {"quantize", "--model", dense, "--mode", "static", "--bits", "8", "--calib-data", TRAIN, "--eval-data", TEST},
                {"quantize", "--model", dense, "--mode", "dynamic", "--bits", "8", "--eval-data", TEST},
                {"quantize", "--model", dense, "--rounding", "gptq", "--mode", "dynamic", "--bits", "4", "--calib-data", TRAIN, "--eval-data", TEST},
                {"prune", "--model", dense, "--method", "global", "--amount", "0.6", "--eval-data", TEST},
                {"factorize", "--model", dense, "--rank", "5", "--svd", "randomized", "--eval-data", TEST},
                {"quantize", "--model", dense, "--mode", "codebook", "--bits", "4", "--eval-data", TEST},
                {"quantize", "--model", dense, "--dtype", "nf4", "--eval-data", TEST}};
        // rerun: what the cluster's global-pruning manifest records, run again on the cluster, writes the same files
        String pruned = dir.resolve("prune-global--amount-cluster").toString(), again = dir.resolve("prune-rerun-cluster").toString();
        List<String[]> onCluster = new java.util.ArrayList<>();
        // the digits are 45 minibatches an epoch: average every 5 (the default 20 would be once an epoch)
        for (String[] job : jobs) onCluster.add(append(job, "--sync-every", "5", "--out", dir.resolve(job[0] + "-" + job[4] + job[5] + "-cluster").toString()));
        onCluster.add(cmd("rerun", "--manifest", pruned + "/manifest.json", "--out", again));
        batch(onCluster.toArray(String[][]::new));
        for (String[] job : jobs) {
            String c = dir.resolve(job[0] + "-" + job[4] + job[5] + "-cluster").toString(), l = dir.resolve(job[0] + "-" + job[4] + job[5] + "-local").toString();
            local(append(job, "--sync-every", "5", "--out", l));
            assertEquals(io.squeeze.TestArtifacts.packed(l), io.squeeze.TestArtifacts.packed(c), String.join(" ", job));
            Manifest mc = Artifact.load(ST, c).manifest(), ml = Artifact.load(ST, l).manifest();
            assertEquals(ml.metrics().get("accuracy"), mc.metrics().get("accuracy"), String.join(" ", job));
        }
        assertEquals(io.squeeze.TestArtifacts.packed(pruned), io.squeeze.TestArtifacts.packed(again));
    }

    @Test
    void trainingJobsRunOnTheClusterWithinTolerance() throws Exception {
        // training is data-parallel parameter averaging on both sides; results agree within a stated tolerance
        String dense = FIXTURES.resolve("dense").toString();
        String[][] jobs = {
                {"quantize", "--model", dense, "--mode", "qat", "--bits", "8", "--data", TRAIN, "--epochs", "2", "--lr", "0.01", "--calib-data", TRAIN,
                        "--eval-data", TEST},
                {"lora", "--model", dense, "--rank", "4", "--data", TRAIN, "--epochs", "3", "--lr", "0.01", "--merge", "--eval-data", TEST},
                {"prune", "--model", dense, "--method", "global", "--amount", "0.5", "--fine-tune-data", TRAIN, "--fine-tune-epochs", "2",
                        "--fine-tune-lr", "0.01", "--eval-data", TEST},
                {"distill", "--teacher", dense, "--online", "--data", TRAIN, "--student", "mlp:16", "--normalize", "minmax", "--lr", "0.01",
                        "--epochs", "2", "--eval-data", TEST},
                {"quantize", "--model", dense, "--mode", "codebook", "--bits", "4", "--data", TRAIN, "--epochs", "2", "--lr", "0.001", "--eval-data", TEST},
                {"lora", "--model", dense, "--base-quant", "nf4", "--rank", "4", "--data", TRAIN, "--epochs", "3", "--lr", "0.01", "--merge", "--eval-data", TEST}};
        java.util.function.Function<String[], String> name = job -> job[0] + (job[4].equals("codebook") ? "-codebook" : job[4].equals("nf4") ? "-nf4" : "");
        Run r = batch(java.util.Arrays.stream(jobs).map(job -> append(job, "--out", dir.resolve(name.apply(job) + "-train-cluster").toString())).toArray(String[][]::new));
        // LoRA's short epochs after the first run as one barrier stage across the executor JVMs, each validated after it
        assertTrue(r.err().contains(" workers, one barrier stage for epochs 2-3; fitting ") && r.err().contains("train: epoch 3 validation accuracy"), r.err());
        for (String[] job : jobs) {
            String c = dir.resolve(name.apply(job) + "-train-cluster").toString(), l = dir.resolve(name.apply(job) + "-train-local").toString();
            local(append(job, "--out", l));
            double ac = (Double) Artifact.load(ST, c).manifest().metrics().get("accuracy"), al = (Double) Artifact.load(ST, l).manifest().metrics().get("accuracy");
            assertEquals(al, ac, 0.1, String.join(" ", job));
        }
        // the quantized QAT result and the merged LoRA load like any artifact
        assertNotNull(Artifact.load(ST, dir.resolve("quantize-train-cluster").toString()).quant());
        // codebook fine-tuning on executors in other JVMs kept every layer's weights shared: at most 16 values each
        var shared = Artifact.load(ST, dir.resolve("quantize-codebook-train-cluster").toString()).model().net();
        for (int layer = 0; layer < shared.getnLayers(); layer++) {
            float[] w = shared.getLayer(layer).getParam("W").dup('c').data().asFloat();
            java.util.Set<Float> values = new java.util.HashSet<>();
            for (float x : w) values.add(x);
            assertTrue(values.size() <= 16, "layer " + layer + " holds " + values.size() + " values");
        }
    }

    @Test
    void lotteryAndInProcessTrainingOnTheCluster() throws Exception {
        String[] lottery = {"lottery", "--data", TRAIN, "--test-data", TEST, "--arch", "mlp:16", "--normalize", "minmax", "--epochs", "2",
                "--rounds", "1", "--lr", "0.005", "--sync-every", "5"};
        String c = dir.resolve("lottery-cluster").toString(), l = dir.resolve("lottery-local").toString();
        // a ResNet's lottery: the graph trained on the executors with its masks in the configuration, the ticket a graph artifact
        String[] rn = {"lottery", "--data", TRAIN, "--test-data", TEST, "--arch", "resnet:1", "--normalize", "minmax", "--epochs", "1",
                "--rounds", "1", "--rate", "0.5", "--lr", "0.003"};
        String rc0 = dir.resolve("lottery-resnet-cluster").toString(), rl0 = dir.resolve("lottery-resnet-local").toString();
        // --local on a cluster: the executors read and batch the rows, the driver trains
        String[] train = {"train", "--data", TRAIN, "--arch", "mlp:32", "--epochs", "3", "--normalize", "minmax", "--lr", "0.005", "--local"};
        String ic = dir.resolve("inproc-cluster").toString(), il = dir.resolve("inproc-local").toString();
        Run r = batch(append(lottery, "--out", c), append(rn, "--out", rc0), append(train, "--out", ic));
        assertTrue(r.err().contains("(in process)"), r.err());
        local(append(lottery, "--out", l));
        JsonNode tc = M.readTree(Files.readAllBytes(Path.of(c, "lottery.json"))), tl = M.readTree(Files.readAllBytes(Path.of(l, "lottery.json")));
        assertEquals(2, tc.size());
        for (int i = 0; i < 2; i++) {
            assertEquals(tl.get(i).get("weights_remaining"), tc.get(i).get("weights_remaining"));
            assertEquals(tl.get(i).get("test_accuracy").asDouble(), tc.get(i).get("test_accuracy").asDouble(), 0.1, "round " + i);
        }
        local(append(rn, "--out", rl0));
        JsonNode gc = M.readTree(Files.readAllBytes(Path.of(rc0, "lottery.json"))), gl = M.readTree(Files.readAllBytes(Path.of(rl0, "lottery.json")));
        assertEquals(gl.get(1).get("weights_remaining"), gc.get(1).get("weights_remaining"));
        assertEquals(gl.get(1).get("test_accuracy").asDouble(), gc.get(1).get("test_accuracy").asDouble(), 0.15, "the ResNet's ticket");
        var zc = io.squeeze.cli.GraphCliTest.zeros(Artifact.load(ST, Path.of(rc0, "ticket").toString()).model().graph());
        assertEquals(36864 / 2, io.squeeze.cli.GraphCliTest.count(zc.get("s3b1_conv2")), "half the weights zero after retraining on the executors");
        local(append(train, "--out", il));
        Path rc = dir.resolve("inproc-cluster.json"), rl = dir.resolve("inproc-local.json");
        local("evaluate", "--model", ic, "--data", TEST, "--report", rc.toString());
        local("evaluate", "--model", il, "--data", TEST, "--report", rl.toString());
        double ac = M.readTree(Files.readAllBytes(rc)).get("accuracy").asDouble(), al = M.readTree(Files.readAllBytes(rl)).get("accuracy").asDouble();
        assertTrue(ac > 0.8, "trained on the driver: " + ac);
        assertEquals(al, ac, 0.02, "the same minibatches in the same order");
    }

    @Test
    void structuredPruningAugmentInspectWeightsAndExportGiveTheLocalResults() throws Exception {
        String dense = FIXTURES.resolve("dense").toString();
        String c = dir.resolve("ln-cluster").toString(), l = dir.resolve("ln-local").toString();
        String[] ln = {"prune", "--model", dense, "--method", "ln", "--dim", "out", "--amount", "0.25", "--layers", "0", "--shrink"};
        // a user's --conf wins over jobs/submit's: the application shows under the user's name
        Run r = cluster.submit(List.of("--conf", "spark.app.name=nightly-ln-prune"), append(ln, "--out", c));
        assertEquals(0, r.code(), r.err());
        assertTrue(cluster.masterLog().contains("Registering app nightly-ln-prune"), "app name");
        local(append(ln, "--out", l));
        assertEquals(io.squeeze.TestArtifacts.packed(l), io.squeeze.TestArtifacts.packed(c));

        String ac = dir.resolve("aug-cluster").toString(), al = dir.resolve("aug-local").toString();
        String model = FIXTURES.resolve("pruned-int8-static").toString();
        String xc = dir.resolve("export-cluster.zip").toString(), xl = dir.resolve("export-local.zip").toString();
        String oc = dir.resolve("export-cluster.onnx").toString(), ol = dir.resolve("export-local.onnx").toString();
        String wc = dir.resolve("weights-cluster").toString(), wl = dir.resolve("weights-local").toString();
        batch(cmd("augment", "--data", TRAIN, "--image", "8x8", "--copies", "3", "--max-shift", "1", "--out", ac),
                cmd("export", "--model", model, "--format", "dl4j", "--out", xc), cmd("export", "--model", model, "--format", "onnx", "--out", oc),
                cmd("weights", "export", "--model", model, "--out", wc));
        local("augment", "--data", TRAIN, "--image", "8x8", "--copies", "3", "--max-shift", "1", "--out", al);
        List<Row> rc = TestSpark.get().read().parquet(ac).collectAsList(), rl = TestSpark.get().read().parquet(al).collectAsList();
        assertEquals(3 * 1438, rl.size());
        assertEquals(new java.util.HashSet<>(rl), new java.util.HashSet<>(rc));

        assertEquals(local("inspect", "--model", model, "--json").out(), submit("inspect", "--model", model, "--json").out());
        local("export", "--model", model, "--format", "dl4j", "--out", xl);
        assertArrayEquals(Files.readAllBytes(Path.of(xl)), Files.readAllBytes(Path.of(xc)), "export --format dl4j");
        local("export", "--model", model, "--format", "onnx", "--out", ol);
        assertArrayEquals(Files.readAllBytes(Path.of(ol)), Files.readAllBytes(Path.of(oc)), "export --format onnx");
        local("weights", "export", "--model", model, "--out", wl);
        try (var files = Files.list(Path.of(wl))) {
            for (Path f : files.toList()) assertArrayEquals(Files.readAllBytes(f), Files.readAllBytes(Path.of(wc).resolve(f.getFileName())), f.toString());
        }
    }

    @Test
    void offlineDistillationFromSoftTargetsMadeOnTheCluster() throws Exception {
        String teacher = FIXTURES.resolve("dense").toString();
        String soft = dir.resolve("soft-for-distill").toString(), student = dir.resolve("student-cluster").toString();
        String softLocal = dir.resolve("soft-for-distill-local").toString(), studentLocal = dir.resolve("student-local").toString();
        String[] distill = {"distill", "--data", TRAIN, "--student", "mlp:16", "--normalize", "minmax", "--epochs", "2", "--lr", "0.01", "--eval-data", TEST};
        batch(cmd("soft-targets", "--teacher", teacher, "--data", TRAIN, "--top-k", "3", "--out", soft), append(distill, "--soft-targets", soft, "--out", student));
        local("soft-targets", "--teacher", teacher, "--data", TRAIN, "--top-k", "3", "--out", softLocal);
        assertEquals(new java.util.HashSet<>(TestSpark.get().read().parquet(softLocal).collectAsList()),
                new java.util.HashSet<>(TestSpark.get().read().parquet(soft).collectAsList()), "the top-3 soft targets");
        local(append(distill, "--soft-targets", softLocal, "--out", studentLocal));
        Manifest m = Artifact.load(ST, student).manifest(), ml = Artifact.load(ST, studentLocal).manifest();
        assertEquals("offline", m.config().get("mode"));
        assertEquals((Double) ml.metrics().get("accuracy"), (Double) m.metrics().get("accuracy"), 0.1, "offline distillation, cluster vs local[2]");
    }

    @Test
    void onnxAndKerasTeachersAndHintDistillationOnExecutorsGiveTheLocalResults() throws Exception {
        // ONNX Runtime and the Keras import run in the executor JVMs: the same logits as in one process
        String onnx = BASE.resolve("src/test/resources/onnx/teacher-mlp.onnx").toString();
        String oc = dir.resolve("onnx-soft-cluster").toString(), ol = dir.resolve("onnx-soft-local").toString();
        JsonNode ref = M.readTree(Files.readAllBytes(BASE.resolve("src/test/resources/keras/tiny-mlp-expected.json")));
        StringBuilder csv = new StringBuilder();
        for (JsonNode row : ref.get("inputs")) {
            for (JsonNode v : row) csv.append(v.asDouble()).append(',');
            csv.append("0\n");
        }
        String kerasData = "csv:" + Files.writeString(dir.resolve("keras-in.csv"), csv);
        String keras = BASE.resolve("src/test/resources/keras/tiny-mlp.h5").toString();
        String kc = dir.resolve("keras-soft-cluster").toString(), kl = dir.resolve("keras-soft-local").toString();
        // feature distillation (a hint through a learned projection) from a trained teacher: a ComputationGraph trained
        // by local SGD on the executors (accuracy within the suite's tolerance)
        String teacher = dir.resolve("hint-teacher").toString(), soft = dir.resolve("soft-for-hint").toString();
        local("train", "--data", TRAIN, "--arch", "mlp:128,64", "--epochs", "6", "--normalize", "minmax", "--sync-every", "5", "--lr", "0.005",
                "--batch", "32", "--out", teacher);
        local("soft-targets", "--teacher", teacher, "--data", TRAIN, "--out", soft);
        String[] hint = {"distill", "--soft-targets", soft, "--data", TRAIN, "--student", "mlp:32", "--normalize", "minmax", "--hint", "0:0",
                "--hint-weight", "0.05", "--epochs", "4", "--lr", "0.005", "--batch", "32", "--sync-every", "5", "--eval-data", TEST};
        String hc = dir.resolve("hint-cluster").toString(), hl = dir.resolve("hint-local").toString();
        Run r = batch(cmd("soft-targets", "--teacher", onnx, "--data", TRAIN, "--out", oc), cmd("soft-targets", "--teacher", keras, "--data", kerasData, "--out", kc),
                append(hint, "--out", hc));
        assertTrue(r.err().contains("hint from teacher layer 0"), r.err());

        local("soft-targets", "--teacher", onnx, "--data", TRAIN, "--out", ol);
        assertEquals(1438, logits(ol).size());
        assertEquals(logits(ol), logits(oc));
        local("soft-targets", "--teacher", keras, "--data", kerasData, "--out", kl);
        assertEquals(ref.get("inputs").size(), logits(kl).size());
        assertEquals(logits(kl), logits(kc));
        local(append(hint, "--out", hl));
        Manifest mc = Artifact.load(ST, hc).manifest(), ml = Artifact.load(ST, hl).manifest();
        assertTrue((Double) mc.metrics().get("accuracy") > 0.8, "a trained student: " + mc.metrics());
        assertEquals((Double) ml.metrics().get("accuracy"), (Double) mc.metrics().get("accuracy"), 0.1);
        assertEquals("0:0", mc.config().get("hint"));
    }

    @Test
    void recurrentLayersArePrunedFactorizedAndQuantizedOnExecutorsAsLocally() throws Exception {
        // the sequence preprocessors travel in the configuration's JSON, the integer LSTM in the broadcast quantized model
        String lstm = dir.resolve("lstm").toString();
        local("train", "--data", TRAIN, "--arch", "lstm:16", "--epochs", "3", "--lr", "0.01", "--normalize", "minmax", "--out", lstm);
        String rnn = dir.resolve("rnn").toString();
        local("train", "--data", TRAIN, "--arch", "rnn:16", "--epochs", "3", "--lr", "0.01", "--normalize", "minmax", "--out", rnn);
        String[] q = {"quantize", "--model", lstm, "--mode", "dynamic", "--bits", "8", "--eval-data", TEST};
        String qc = dir.resolve("lstm-int8-cluster").toString(), ql = dir.resolve("lstm-int8-local").toString();
        String[] p = {"prune", "--model", lstm, "--method", "l1", "--amount", "0.5", "--fine-tune-data", TRAIN, "--fine-tune-epochs", "1",
                "--eval-data", TEST};
        String pc = dir.resolve("lstm-pruned-cluster").toString(), pl = dir.resolve("lstm-pruned-local").toString();
        String[] f = {"factorize", "--model", lstm, "--energy", "0.9", "--layers", "0", "--eval-data", TEST};
        String fc = dir.resolve("lstm-lowrank-cluster").toString(), fl = dir.resolve("lstm-lowrank-local").toString();
        String[] ft = append(f, "--fine-tune-data", TRAIN, "--fine-tune-epochs", "1");
        String tc = dir.resolve("lstm-lowrank-ft-cluster").toString(), tl = dir.resolve("lstm-lowrank-ft-local").toString();
        String[] rq = {"quantize", "--model", rnn, "--mode", "dynamic", "--bits", "8", "--eval-data", TEST};
        String rqc = dir.resolve("rnn-int8-cluster").toString(), rql = dir.resolve("rnn-int8-local").toString();
        String[] ru = {"prune", "--model", rnn, "--method", "ln", "--amount", "0.5", "--layers", "0", "--shrink", "--eval-data", TEST};
        String ruc = dir.resolve("rnn-units-cluster").toString(), rul = dir.resolve("rnn-units-local").toString();
        String[] rf = {"factorize", "--model", rnn, "--energy", "0.8", "--layers", "0", "--fine-tune-data", TRAIN, "--fine-tune-epochs", "1", "--eval-data", TEST};
        String rfc = dir.resolve("rnn-lowrank-cluster").toString(), rfl = dir.resolve("rnn-lowrank-local").toString();
        batch(append(q, "--out", qc), append(p, "--out", pc), append(f, "--out", fc), append(ft, "--out", tc), append(rq, "--out", rqc), append(ru, "--out", ruc), append(rf, "--out", rfc));
        local(append(q, "--out", ql));
        assertEquals(io.squeeze.TestArtifacts.packed(ql), io.squeeze.TestArtifacts.packed(qc));
        assertEquals(Artifact.load(ST, ql).manifest().metrics().get("accuracy"), Artifact.load(ST, qc).manifest().metrics().get("accuracy"));

        local(append(p, "--out", pl));
        Artifact ac = Artifact.load(ST, pc), al = Artifact.load(ST, pl);
        assertEquals(al.model().masks(), ac.model().masks()); // chosen before fine-tuning: the same weights pruned
        assertTrue(ac.model().masks().containsKey(new io.squeeze.core.TensorKey(0, "RW")));
        for (var e : ac.model().masks().entrySet()) {
            float[] v = io.squeeze.model.Surgery.values(ac.model().net(), e.getKey().layer(), e.getKey().param());
            for (int i = 0; i < v.length; i++) if (!e.getValue().kept(i)) assertEquals(0f, v[i], e.getKey() + " at " + i + " after fine-tuning on executors");
        }
        assertEquals(((Number) al.manifest().metrics().get("accuracy")).doubleValue(), ((Number) ac.manifest().metrics().get("accuracy")).doubleValue(), 0.1);

        // W and RW factorized in place (FactoredLstm): SVDs on executors, the factored layer fine-tuned there
        local(append(f, "--out", fl));
        assertEquals(io.squeeze.TestArtifacts.packed(fl), io.squeeze.TestArtifacts.packed(fc));
        local(append(ft, "--out", tl));
        Artifact c = Artifact.load(ST, tc), l = Artifact.load(ST, tl);
        assertInstanceOf(io.squeeze.model.FactoredLstm.class, c.model().net().getLayer(0).conf().getLayer());
        assertEquals(l.model().net().getLayer(0).conf().getLayer(), c.model().net().getLayer(0).conf().getLayer()); // the same ranks
        assertEquals(((Number) l.manifest().metrics().get("accuracy")).doubleValue(), ((Number) c.manifest().metrics().get("accuracy")).doubleValue(), 0.1);

        // a SimpleRnn: dynamic int8 and whole units pruned + shrunk on executors, its factored form fine-tuned there
        local(append(rq, "--out", rql));
        assertEquals(io.squeeze.TestArtifacts.packed(rql), io.squeeze.TestArtifacts.packed(rqc));
        assertEquals(Artifact.load(ST, rql).manifest().metrics().get("accuracy"), Artifact.load(ST, rqc).manifest().metrics().get("accuracy"));
        local(append(ru, "--out", rul));
        assertEquals(io.squeeze.TestArtifacts.packed(rul), io.squeeze.TestArtifacts.packed(ruc));
        assertArrayEquals(new long[]{8, 8}, Artifact.load(ST, ruc).model().net().getLayer(0).getParam("RW").shape());
        local(append(rf, "--out", rfl));
        Artifact fc2 = Artifact.load(ST, rfc), fl2 = Artifact.load(ST, rfl);
        assertInstanceOf(io.squeeze.model.FactoredSimpleRnn.class, fc2.model().net().getLayer(0).conf().getLayer());
        assertEquals(fl2.model().net().getLayer(0).conf().getLayer(), fc2.model().net().getLayer(0).conf().getLayer());
        assertEquals(((Number) fl2.manifest().metrics().get("accuracy")).doubleValue(), ((Number) fc2.manifest().metrics().get("accuracy")).doubleValue(), 0.1);
    }

    @Test
    void aKerasFunctionalModelWithBatchNormalizationQuantizesAndTeachesOnExecutorsAsLocally() throws Exception {
        // Input -> Dense -> BatchNormalization -> ReLU -> Dense softmax, a Keras functional model: read as the chain it
        // is, its normalization folded into the dense layer before the int8 network is broadcast and calibrated and
        // evaluated in the executor JVMs; and the same .h5 imported in the executors as a teacher
        JsonNode ref = M.readTree(Files.readAllBytes(BASE.resolve("src/test/resources/keras/functional-chain-expected.json")));
        String data = "csv:" + Files.writeString(dir.resolve("functional-in.csv"), io.squeeze.model.KerasImportTest.labelledCsv(ref));
        String keras = BASE.resolve("src/test/resources/keras/functional-chain.h5").toString();
        String[] q = {"quantize", "--model", keras, "--mode", "static", "--bits", "8", "--calib-data", data, "--eval-data", data};
        String qc = dir.resolve("functional-int8-cluster").toString(), ql = dir.resolve("functional-int8-local").toString();
        String sc = dir.resolve("functional-soft-cluster").toString(), sl = dir.resolve("functional-soft-local").toString();
        Run r = batch(append(q, "--out", qc), cmd("soft-targets", "--teacher", keras, "--data", data, "--out", sc));
        assertTrue(r.err().contains("batch normalization layer 1 folded into layer 0"), r.err());
        local(append(q, "--out", ql));
        assertEquals(io.squeeze.TestArtifacts.packed(ql), io.squeeze.TestArtifacts.packed(qc));
        Manifest mc = Artifact.load(ST, qc).manifest(), ml = Artifact.load(ST, ql).manifest();
        assertEquals(ml.metrics().get("accuracy"), mc.metrics().get("accuracy"));
        var folded = Artifact.load(ST, qc).model().net();
        for (int i = 0; i < folded.getnLayers(); i++)
            assertFalse(folded.getLayer(i).conf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.BatchNormalization, "layer " + i + " folded away");

        local("soft-targets", "--teacher", keras, "--data", data, "--out", sl);
        assertEquals(ref.get("inputs").size(), logits(sl).size());
        assertEquals(logits(sl), logits(sc));
    }

    @Test
    void kerasRgbCnnsReadingKerasRowsQuantizeAndTeachOnExecutorsAsLocally() throws Exception {
        // three-channel channels_last Keras CNNs, a functional one with a residual add and a concatenation and a
        // Sequential one: their HwcRows input deserialized in the executor JVMs, calibrated, evaluated in the integer
        // runtime and run as teachers there exactly as in one process
        JsonNode ref = M.readTree(Files.readAllBytes(BASE.resolve("src/test/resources/keras/keras-resnet-rgb-expected.json")));
        String data = "csv:" + Files.writeString(dir.resolve("rgb-in.csv"), io.squeeze.model.KerasImportTest.labelledCsv(ref).repeat(5));
        String graph = BASE.resolve("src/test/resources/keras/keras-resnet-rgb.h5").toString();
        String[] q = {"quantize", "--model", graph, "--mode", "static", "--calib-data", data, "--eval-data", data};
        String qc = dir.resolve("rgb-int8-cluster").toString(), ql = dir.resolve("rgb-int8-local.zip").toString();
        Path ec = dir.resolve("rgb-int8-eval-cluster.json"), el = dir.resolve("rgb-int8-eval-local.json");
        String[] teachers = {graph, BASE.resolve("src/test/resources/keras/keras-cnn-rgb.h5").toString()};
        batch(append(q, "--out", qc), cmd("evaluate", "--model", qc, "--data", data, "--report", ec.toString()),
                cmd("soft-targets", "--teacher", teachers[0], "--data", data, "--out", dir.resolve("rgb-soft-cluster-" + teachers[0].hashCode()).toString()),
                cmd("soft-targets", "--teacher", teachers[1], "--data", data, "--out", dir.resolve("rgb-soft-cluster-" + teachers[1].hashCode()).toString()));
        local(append(q, "--out", ql));
        io.squeeze.quantize.GraphQuantTest.assertSameQuantization(io.squeeze.artifact.QuantizedGraphZip.read(ST, new org.apache.hadoop.fs.Path(ql)).quant(),
                Artifact.load(ST, qc).quant());
        local("evaluate", "--model", ql, "--data", data, "--report", el.toString());
        JsonNode ic = M.readTree(Files.readAllBytes(ec)), il = M.readTree(Files.readAllBytes(el));
        assertEquals("integer", ic.get("accuracy_path").asText());
        assertEquals(il.get("accuracy"), ic.get("accuracy"));
        assertEquals(1.0, ic.get("accuracy").asDouble(), 0.2, "int8 vs NumPy's classes");
        for (String keras : teachers) {
            String sc = dir.resolve("rgb-soft-cluster-" + keras.hashCode()).toString(), sl = dir.resolve("rgb-soft-local-" + keras.hashCode()).toString();
            local("soft-targets", "--teacher", keras, "--data", data, "--out", sl);
            assertEquals(30, logits(sl).size());
            assertEquals(logits(sl), logits(sc), keras);
        }
    }

    @Test
    void aResNetTrainsEvaluatesAndTeachesOnExecutorsAsLocally() throws Exception {
        String[] t = {"train", "--data", TRAIN, "--arch", "resnet:1", "--epochs", "2", "--lr", "0.003", "--normalize", "minmax", "--eval-data", TEST};
        String tc = dir.resolve("resnet-cluster.zip").toString(), tl = dir.resolve("resnet-local.zip").toString();
        Path ec = dir.resolve("resnet-eval-cluster.json"), el = dir.resolve("resnet-eval-local.json"), et = dir.resolve("resnet-eval-trained.json");
        String prc = dir.resolve("resnet-predict-cluster").toString(), prl = dir.resolve("resnet-predict-local").toString();
        String sc = dir.resolve("resnet-soft-cluster").toString(), sl = dir.resolve("resnet-soft-local").toString();
        String[] h = {"distill", "--soft-targets", sl, "--data", TEST, "--student", "mlp:32", "--hint", "pool:0", "--epochs", "3", "--lr", "0.003",
                "--normalize", "minmax", "--eval-data", TEST};
        String hc = dir.resolve("resnet-hint-cluster").toString(), hl = dir.resolve("resnet-hint-local").toString();
        String[] on = {"distill", "--teacher", tl, "--online", "--data", TEST, "--student", "mlp:32", "--epochs", "2", "--lr", "0.003",
                "--normalize", "minmax", "--eval-data", TEST};
        String onc = dir.resolve("resnet-online-cluster").toString(), onl = dir.resolve("resnet-online-local").toString();
        String[] gh = {"distill", "--soft-targets", sl, "--data", TEST, "--student", "resnet:1", "--hint", "pool:pool", "--epochs", "2", "--lr", "0.003",
                "--normalize", "minmax"};
        String ghc = dir.resolve("resnet-student-hint-cluster.zip").toString(), ghl = dir.resolve("resnet-student-hint-local.zip").toString();
        Path ghec = dir.resolve("resnet-student-hint-cluster.json"), ghel = dir.resolve("resnet-student-hint-local.json");
        String[] sv = {"sensitivity", "--model", tl, "--data", TEST, "--technique", "prune", "--levels", "0.5,0.9", "--layers", "stem,s3b1_conv2,output"};
        Path svc = dir.resolve("resnet-sensitivity-cluster.json"), svl = dir.resolve("resnet-sensitivity-local.json");
        String[] og = {"distill", "--teacher", tl, "--online", "--data", TEST, "--student", "resnet:1", "--epochs", "1", "--lr", "0.003",
                "--normalize", "minmax"};
        String ogc = dir.resolve("resnet-online-graph-cluster.zip").toString(), ogl = dir.resolve("resnet-online-graph-local.zip").toString();
        Path ogec = dir.resolve("resnet-online-graph-cluster.json"), ogel = dir.resolve("resnet-online-graph-local.json");
        String[] p = {"prune", "--model", tl, "--method", "ln", "--amount", "0.5", "--shrink", "--fine-tune-data", TRAIN, "--fine-tune-epochs", "1",
                "--eval-data", TEST};
        String pc = dir.resolve("resnet-pruned-cluster.zip").toString(), pl = dir.resolve("resnet-pruned-local.zip").toString();
        Path pec = dir.resolve("resnet-pruned-eval-cluster.json"), pel = dir.resolve("resnet-pruned-eval-local.json");
        String[] u = {"prune", "--model", tl, "--method", "global", "--amount", "0.7", "--fine-tune-data", TRAIN, "--fine-tune-epochs", "1",
                "--eval-data", TEST};
        String uc = dir.resolve("resnet-global-cluster").toString(), ul = dir.resolve("resnet-global-local.zip").toString();
        String[] f = {"factorize", "--model", tl, "--params-budget", "0.5"};
        String fc = dir.resolve("resnet-factorized-cluster.zip").toString(), fl = dir.resolve("resnet-factorized-local.zip").toString();
        String[] cb = {"quantize", "--model", tl, "--mode", "codebook", "--bits", "4"};
        String cbc = dir.resolve("resnet-codebook-cluster").toString(), cbl = dir.resolve("resnet-codebook-local").toString();
        String cbt = dir.resolve("resnet-codebook-tuned-cluster").toString();
        String[] qlo = {"lora", "--model", tl, "--rank", "2", "--data", TRAIN, "--epochs", "1", "--lr", "0.01", "--base-quant", "nf4", "--merge"};
        String qloc = dir.resolve("resnet-qlora-cluster.zip").toString(), qlol = dir.resolve("resnet-qlora-local.zip").toString();
        String[] q = {"quantize", "--model", tl, "--mode", "static", "--calib-data", TRAIN, "--calib-rows", "300"};
        String qc = dir.resolve("resnet-int8-cluster").toString(), ql = dir.resolve("resnet-int8-local.zip").toString();
        Path qec = dir.resolve("resnet-int8-eval-cluster.json"), qel = dir.resolve("resnet-int8-eval-local.json");
        String pqc = dir.resolve("resnet-int8-predict-cluster").toString(), pql = dir.resolve("resnet-int8-predict-local").toString();
        String[] qat = {"quantize", "--model", tl, "--mode", "qat", "--data", TRAIN, "--epochs", "2", "--lr", "0.001", "--calib-data", TRAIN,
                "--calib-rows", "300", "--eval-data", TEST};
        String qtc = dir.resolve("resnet-qat-cluster.zip").toString(), qtl = dir.resolve("resnet-qat-local.zip").toString();
        Path qtec = dir.resolve("resnet-qat-eval-cluster.json"), qtel = dir.resolve("resnet-qat-eval-local.json");
        JsonNode ref = M.readTree(Files.readAllBytes(BASE.resolve("src/test/resources/keras/functional-residual-expected.json")));
        String data = "csv:" + Files.writeString(dir.resolve("residual-in.csv"), io.squeeze.model.KerasImportTest.labelledCsv(ref));
        Path kc = dir.resolve("residual-eval-cluster.json");
        String[] kl = {"lora", "--model", BASE.resolve("src/test/resources/keras/functional-residual.h5").toString(), "--data", data, "--rank", "2",
                "--epochs", "2", "--lr", "0.05", "--merge"};
        String klc = dir.resolve("residual-lora-cluster.zip").toString(), kll = dir.resolve("residual-lora-local.zip").toString();
        String kla = dir.resolve("residual-lora-adapters-cluster").toString();
        JsonNode lref = M.readTree(Files.readAllBytes(BASE.resolve("src/test/resources/keras/keras-lstm-expected.json")));
        String ldata = "csv:" + Files.writeString(dir.resolve("keras-lstm-in.csv"), io.squeeze.model.KerasImportTest.labelledCsv(lref));
        Path lc = dir.resolve("keras-lstm-eval-cluster.json");
        local(append(t, "--out", tl));
        local("soft-targets", "--teacher", tl, "--data", TEST, "--out", sl);
        // every cluster job of this test in one application, in order
        Run r = batch(append(t, "--out", tc),
                cmd("evaluate", "--model", tl, "--data", TEST, "--report", ec.toString()),
                cmd("predict", "--model", tl, "--data", TEST, "--out", "parquet:" + prc),
                cmd("soft-targets", "--teacher", tl, "--data", TEST, "--out", sc),
                append(h, "--out", hc),
                append(on, "--out", onc),
                append(gh, "--out", ghc),
                append(sv, "--out", svc.toString()),
                append(og, "--out", ogc),
                append(p, "--out", pc),
                append(u, "--out", uc),
                append(f, "--out", fc),
                append(cb, "--out", cbc),
                append(cb, "--data", TRAIN, "--epochs", "1", "--lr", "0.001", "--eval-data", TEST, "--out", cbt),
                append(qlo, "--out", qloc),
                append(q, "--out", qc),
                cmd("evaluate", "--model", qc, "--data", TEST, "--report", qec.toString()),
                cmd("predict", "--model", qc, "--data", TEST, "--out", "parquet:" + pqc),
                append(qat, "--out", qtc),
                cmd("evaluate", "--model", BASE.resolve("src/test/resources/keras/functional-residual.h5").toString(), "--data", data, "--report", kc.toString()),
                append(kl, "--out", klc),
                java.util.Arrays.stream(append(kl, "--out", kla)).filter(x -> !x.equals("--merge")).toArray(String[]::new),
                cmd("evaluate", "--model", BASE.resolve("src/test/resources/keras/keras-lstm.h5").toString(), "--data", ldata, "--report", lc.toString()));
        // a ComputationGraph: its configuration JSON and parameters broadcast, rebuilt as a graph in the executor JVMs;
        // trained there with parameter averaging, evaluated, predicting and labelling soft targets as in one process
        assertTrue(r.err().contains("train: epoch 2 validation accuracy"), r.err());
        // the epoch's mean minibatch loss, added up in the executors' training workers
        assertTrue(java.util.regex.Pattern.compile("train: epoch 2/2  loss [0-9]+\\.[0-9]{4}  ").matcher(r.err()).find(), r.err());
        // every round of an epoch in one barrier stage across the executor JVMs (BarrierEpoch), a worker per core
        assertTrue(r.err().contains("train: epoch 2/2") && BARRIER_EPOCH.matcher(r.err()).find(), r.err());
        local("evaluate", "--model", tl, "--data", TEST, "--report", el.toString());
        JsonNode c = M.readTree(Files.readAllBytes(ec)), l = M.readTree(Files.readAllBytes(el));
        assertEquals(l.get("rows"), c.get("rows"));
        assertEquals(l.get("accuracy"), c.get("accuracy"));
        assertEquals(l.get("loss").asDouble(), c.get("loss").asDouble(), 1e-6);
        local("evaluate", "--model", tc, "--data", TEST, "--report", et.toString());
        assertEquals(l.get("accuracy").asDouble(), M.readTree(Files.readAllBytes(et)).get("accuracy").asDouble(), 0.1, "trained on executors vs local[2]");
        // predict: the graph exported to ONNX in the driver, scored by ONNX Runtime in the executors
        local("predict", "--model", tl, "--data", TEST, "--out", "parquet:" + prl);
        assertSameParts(prl, prc, "predict");
        assertEquals(359, logits(sl).size());
        assertEquals(logits(sl), logits(sc));
        // FitNets hints from the graph teacher's pooled features, computed in the executors by the broadcast graph
        assertTrue(r.err().contains("distill: hint from teacher vertex 'pool' (64 wide)"), r.err());
        local(append(h, "--out", hl));
        assertEquals(M.readTree(Files.readAllBytes(Path.of(hl, "manifest.json"))).get("metrics").get("accuracy").asDouble(),
                M.readTree(Files.readAllBytes(Path.of(hc, "manifest.json"))).get("metrics").get("accuracy").asDouble(), 0.1, "hinted student");
        // online: the graph teacher labels rows for the student and trains on the student's logits, both on the executors
        assertTrue(r.err().contains("distill: online epoch 2/2: teacher learns from the student"), r.err());
        local(append(on, "--out", onl));
        assertEquals(M.readTree(Files.readAllBytes(Path.of(onl, "manifest.json"))).get("metrics").get("accuracy").asDouble(),
                M.readTree(Files.readAllBytes(Path.of(onc, "manifest.json"))).get("metrics").get("accuracy").asDouble(), 0.15, "online student");
        // and into a graph student's vertex: the student with its hint output trained on the executors
        assertTrue(r.err().contains("to student vertex 'pool' (64 wide)"), r.err());
        local(append(gh, "--out", ghl));
        local("evaluate", "--model", ghc, "--data", TEST, "--report", ghec.toString());
        local("evaluate", "--model", ghl, "--data", TEST, "--report", ghel.toString());
        assertEquals(M.readTree(Files.readAllBytes(ghel)).get("accuracy").asDouble(), M.readTree(Files.readAllBytes(ghec)).get("accuracy").asDouble(), 0.15,
                "hinted graph student");
        // its sensitivity: the trials on the executors, vertex by vertex, as in one process
        local(append(sv, "--local", "--out", svl.toString()));
        assertEquals(M.readTree(Files.readAllBytes(svl)).get("layers"), M.readTree(Files.readAllBytes(svc)).get("layers"));
        assertEquals(3, M.readTree(Files.readAllBytes(svc)).get("layers").size());
        // online with a graph student: the graph teacher and the graph student take turns on the executors
        assertTrue(r.err().contains("distill: online epoch 1/1: teacher learns from the student"), r.err());
        local(append(og, "--out", ogl));
        local("evaluate", "--model", ogc, "--data", TEST, "--report", ogec.toString());
        local("evaluate", "--model", ogl, "--data", TEST, "--report", ogel.toString());
        assertEquals(M.readTree(Files.readAllBytes(ogel)).get("accuracy").asDouble(), M.readTree(Files.readAllBytes(ogec)).get("accuracy").asDouble(), 0.15,
                "graph student taught online");
        // its channel groups pruned and shrunk in the driver, the smaller graph fine-tuned on the executors
        local(append(p, "--out", pl));
        var gc = io.squeeze.model.ModelIO.loadFile(ST, new org.apache.hadoop.fs.Path(pc), true).graph();
        var gl = io.squeeze.model.ModelIO.loadFile(ST, new org.apache.hadoop.fs.Path(pl), true).graph();
        assertEquals(gl.getConfiguration().toJson(), gc.getConfiguration().toJson(), "the same channels removed");
        local("evaluate", "--model", pc, "--data", TEST, "--report", pec.toString());
        local("evaluate", "--model", pl, "--data", TEST, "--report", pel.toString());
        assertEquals(M.readTree(Files.readAllBytes(pel)).get("accuracy").asDouble(), M.readTree(Files.readAllBytes(pec)).get("accuracy").asDouble(), 0.1);
        // its weights pruned by magnitude with the k-selection on the executors, fine-tuned there with the masks in the
        // graph's configuration: the same zeros as in one process, kept through the training
        // (the cluster's result written as a graph artifact directory, the local one as a zip)
        local(append(u, "--out", ul));
        var zc = io.squeeze.cli.GraphCliTest.zeros(io.squeeze.artifact.Models.load(ST, uc, true).graph());
        var zl = io.squeeze.cli.GraphCliTest.zeros(io.squeeze.model.ModelIO.loadFile(ST, new org.apache.hadoop.fs.Path(ul), true).graph());
        assertEquals(zl.keySet(), zc.keySet());
        long zerosCluster = 0, weights = 0;
        for (String name : zl.keySet()) {
            assertArrayEquals(zl.get(name), zc.get(name), name + ": the same weights pruned");
            zerosCluster += io.squeeze.cli.GraphCliTest.count(zc.get(name));
            weights += zc.get(name).length;
        }
        assertEquals(Math.round(weights * 0.7), zerosCluster, "70 % of all the graph's weights, zero after fine-tuning on the executors");
        // its convolutions factorized with the SVDs on the executors: the same factors as in one process
        local(append(f, "--out", fl));
        var rc = io.squeeze.model.ModelIO.loadFile(ST, new org.apache.hadoop.fs.Path(fc), true).graph();
        var rl = io.squeeze.model.ModelIO.loadFile(ST, new org.apache.hadoop.fs.Path(fl), true).graph();
        assertEquals(rl.getConfiguration().toJson(), rc.getConfiguration().toJson());
        assertEquals(rl.params(), rc.params());
        // weight sharing: each vertex's k-means a task on the executors, the same codebooks as in one process; codebook
        // fine-tuning on the executors (each worker's graph tying its clusters' gradients) keeps 16 values a vertex
        local(append(cb, "--out", cbl));
        assertEquals(Artifact.load(ST, cbl).model().graph().params(), Artifact.load(ST, cbc).model().graph().params(), "the same shared weights");
        assertTrue(r.err().contains("codebook fine-tuning 1 epochs"), r.err());
        var tunedShared = Artifact.load(ST, cbt);
        io.squeeze.cli.GraphCliTest.distinctWeights(tunedShared.model().graph()).forEach((v, n) -> assertTrue(n <= 16, v + ": " + n));
        assertNotEquals(Artifact.load(ST, cbc).model().graph().params(), tunedShared.model().graph().params(), "fine-tuned on the executors");
        assertEquals(l.get("accuracy").asDouble(), (Double) tunedShared.manifest().metrics().get("accuracy"), 0.1, "4-bit shared, fine-tuned vs float");
        // QLoRA: adapters on every convolution (the graph has no hidden dense vertex) over its NF4 weights, the SameDiff
        // convolution adapters rebuilt and trained in the executor JVMs as in one process
        assertTrue(r.err().contains("lora: rank 2 on vertices [s1b1_conv1, s1b1_conv2, ") && r.err().contains("lora: base weights in NF4"), r.err());
        local(append(qlo, "--out", qlol));
        var qgc = io.squeeze.model.ModelIO.loadFile(ST, new org.apache.hadoop.fs.Path(qloc), true).graph();
        var qgl = io.squeeze.model.ModelIO.loadFile(ST, new org.apache.hadoop.fs.Path(qlol), true).graph();
        assertEquals(qgl.getLayer("output").getParam("W"), qgc.getLayer("output").getParam("W"), "the same frozen NF4 output layer");
        assertArrayEquals(qgl.getLayer("s3b1_conv2").getParam("W").dup().data().asFloat(), qgc.getLayer("s3b1_conv2").getParam("W").dup().data().asFloat(),
                0.05f, "s3b1_conv2 adapted on the executors as locally");
        assertNotEquals(io.squeeze.model.ModelIO.loadFile(ST, new org.apache.hadoop.fs.Path(tl), true).graph().getLayer("s3b1_conv2").getParam("W"),
                qgc.getLayer("s3b1_conv2").getParam("W"));
        // static int8: calibrated on the executors (the broadcast quantized graph deserialized there) as in one process; the
        // quantized artifact evaluated and scored in the executors' integer runtimes exactly as the zip locally
        // (the cluster's written as an artifact directory, its integers stored as integers; the local one as a zip)
        local(append(q, "--out", ql));
        var qmc = Artifact.load(ST, qc).quant();
        var qml = io.squeeze.artifact.QuantizedGraphZip.read(ST, new org.apache.hadoop.fs.Path(ql)).quant();
        io.squeeze.quantize.GraphQuantTest.assertSameQuantization(qml, qmc);
        local("evaluate", "--model", ql, "--data", TEST, "--report", qel.toString());
        JsonNode iqc = M.readTree(Files.readAllBytes(qec)), iql = M.readTree(Files.readAllBytes(qel));
        assertEquals("integer", iqc.get("accuracy_path").asText());
        assertEquals(iql.get("accuracy"), iqc.get("accuracy"));
        assertEquals(iql.get("accuracy_fake_quant"), iqc.get("accuracy_fake_quant"));
        assertEquals(l.get("accuracy").asDouble(), iqc.get("accuracy").asDouble(), 0.03, "int8 vs float");
        local("predict", "--model", ql, "--data", TEST, "--out", "parquet:" + pql);
        assertSameParts(pql, pqc, "int8 predict");
        // QAT: the folded graph's fake-quantized configuration (activations wrapped, pooling's rounding vertex inserted)
        // rebuilt from its JSON in the executor JVMs every averaging round, re-calibrated there between epochs
        assertTrue(r.err().contains("folded before QAT") && r.err().contains("train: epoch 2 validation accuracy"), r.err());
        local(append(qat, "--out", qtl));
        local("evaluate", "--model", qtc, "--data", TEST, "--report", qtec.toString());
        local("evaluate", "--model", qtl, "--data", TEST, "--report", qtel.toString());
        JsonNode qtcr = M.readTree(Files.readAllBytes(qtec)), qtlr = M.readTree(Files.readAllBytes(qtel));
        assertEquals("integer", qtcr.get("accuracy_path").asText());
        assertEquals(qtlr.get("accuracy").asDouble(), qtcr.get("accuracy").asDouble(), 0.1, "QAT on executors vs local[2]");
        assertEquals(l.get("accuracy").asDouble(), qtcr.get("accuracy").asDouble(), 0.05, "QAT int8 vs float");
        // a Keras functional model with a residual add, a concatenation and BN, imported as a graph and run in the executors
        assertEquals(1.0, M.readTree(Files.readAllBytes(kc)).get("accuracy").asDouble(), 0.0, "NumPy's classes");
        // LoRA adapters on its dense vertices trained on the executors and merged: the local result
        assertTrue(r.err().contains("lora: rank 2 on vertices [d1, d2, left, right]"), r.err());
        local(append(kl, "--out", kll));
        var lgc = io.squeeze.model.ModelIO.loadFile(ST, new org.apache.hadoop.fs.Path(klc), true).graph();
        var lgl = io.squeeze.model.ModelIO.loadFile(ST, new org.apache.hadoop.fs.Path(kll), true).graph();
        float[] wc = lgc.getLayer("d1").getParam("W").dup().data().asFloat(), wl = lgl.getLayer("d1").getParam("W").dup().data().asFloat();
        assertArrayEquals(wl, wc, 0.05f, "d1 adapted on the executors as locally");
        // without --merge: the adapters (and the running statistics training moved) as a graph adapter artifact
        var fromAdapters = Artifact.load(ST, kla).model().graph();
        assertArrayEquals(wl, fromAdapters.getLayer("d1").getParam("W").dup().data().asFloat(), 0.05f, "the base with its adapters read back");
        // a Keras LSTM sequence classifier, imported as Squeeze's LSTMs, evaluated in the executors
        assertEquals(1.0, M.readTree(Files.readAllBytes(lc)).get("accuracy").asDouble(), 0.0, "NumPy's classes");
    }

    @Test
    void globalPruningOfAModelLargerThanTheDriver() throws Exception {
        Path src = dir.resolve("big.zip");
        io.squeeze.BigModel.write(src, 11);
        List<String> smallDriver = List.of("--driver-memory", "512m");
        // the driver really is too small for the model: loading it there fails
        Run load = cluster.submit(smallDriver, "inspect", "--model", src.toString());
        assertNotEquals(0, load.code(), load.out());
        assertTrue(load.err().contains("OutOfMemoryError: Java heap space"), load.err());
        String c = dir.resolve("big-g80").toString();
        Run r = cluster.submit(smallDriver, "prune", "--model", src.toString(), "--method", "global", "--amount", "0.8", "--with-dl4j-zip", "--out", c);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("each read on an executor"), r.err());
        io.squeeze.BigModel.checkGlobal(src, Path.of(c, "model.zip"), 0.8);
    }

    /** Every {@code part-} file of the Parquet directory {@code a} is byte-identical in {@code b}. */
    static void assertSameParts(String a, String b, String what) throws java.io.IOException {
        try (var parts = Files.list(Path.of(a))) {
            for (Path part : parts.filter(x -> x.getFileName().toString().startsWith("part-")).toList())
                assertArrayEquals(Files.readAllBytes(part), Files.readAllBytes(Path.of(b).resolve(part.getFileName())), what + " " + part.getFileName());
        }
    }

    static Map<Long, List<Object>> logits(String path) {
        Map<Long, List<Object>> out = new HashMap<>();
        for (Row r : TestSpark.get().read().parquet(path).collectAsList()) out.put(r.getLong(0), r.getList(r.fieldIndex("logits")));
        return out;
    }

    static String[] append(String[] a, String... more) {
        return CliRun.with(a, more);
    }
}
