package io.squeeze.cli;

import io.squeeze.artifact.Artifact;
import io.squeeze.artifact.Manifest;
import io.squeeze.core.LayerSelector;
import io.squeeze.core.Storage;
import io.squeeze.prune.Amount;
import io.squeeze.prune.LnStructured;
import io.squeeze.prune.PruneMethod;
import io.squeeze.spark.FineTune;
import io.squeeze.spark.JobConfig;
import io.squeeze.spark.Jobs;
import io.squeeze.spark.PruneJob;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The manifest's config is the job's record, and {@code squeeze rerun} runs it again from the manifest alone. */
class RerunCliTest {
    static final String TRAIN = "csv:data/digits/digits-train.csv.gz", TEST = "csv:data/digits/digits-test.csv.gz";
    static final Storage ST = new Storage(new Configuration());
    @TempDir
    static Path dir;
    static String digits;

    @BeforeAll
    static void train() {
        digits = dir.resolve("digits").toString();
        CliRun r = CliRun.run("train", "--data", TRAIN, "--arch", "mlp:32,16", "--epochs", "2", "--normalize", "minmax", "--out", digits);
        assertEquals(0, r.code(), r.err());
    }

    @Test
    void configsWrittenBeforeSyncEveryReadBackWithTheAveragingTheyRanWith() {
        // fine-tuning and QAT averaged every 5 minibatches before --sync-every; train stored it as averaging_frequency
        FineTune ft = io.squeeze.model.Json.read("{\"data\":\"csv:x\",\"epochs\":2,\"batch\":64}".getBytes(), FineTune.class);
        assertEquals(5, ft.syncEvery());
        var qat = io.squeeze.model.Json.read("{\"data\":\"csv:x\",\"epochs\":1}".getBytes(), io.squeeze.spark.QuantizeJob.Qat.class);
        assertEquals(5, qat.syncEvery());
        var tc = io.squeeze.model.Json.read("{\"epochs\":2,\"batch_size\":64,\"averaging_frequency\":7,\"seed\":1}".getBytes(),
                io.squeeze.spark.SparkTrainer.Config.class);
        assertEquals(7, tc.syncEvery());
        assertEquals(io.squeeze.spark.SparkTrainer.DEFAULT_SYNC_EVERY, FineTune.NONE.syncEvery());
        assertEquals(9, new String(io.squeeze.model.Json.bytes(tc)).contains("\"sync_every\" : 7") ? 9 : 0, "stored under its new name");
    }

    @Test
    void theManifestConfigIsTheRecordThatRanAndReadsBackEqual() {
        String out = dir.resolve("ln").toString();
        CliRun r = CliRun.run("prune", "--model", digits, "--method", "ln", "--norm", "2", "--amount", "0:0.25,1:2", "--layers", "0-1",
                "--eval-data", TEST, "--out", out);
        assertEquals(0, r.code(), r.err());
        Manifest m = Artifact.load(ST, out).manifest();
        assertEquals("prune", m.config().get("command"));
        assertEquals(Map.of("name", "ln", "norm", "L2", "dim", "OUT"), m.config().get("method"));
        assertEquals(Map.of("0", "0.25", "1", "2"), m.config().get("per_layer"));
        JobConfig back = Jobs.fromMap(m.config(), RerunCommand.types(), "test");
        PruneJob.Config expected = new PruneJob.Config(ST.path(digits).toString(), new LnStructured(PruneMethod.Norm.L2, PruneMethod.Dim.OUT),
                null, Map.of("0", Amount.fraction(0.25), "1", Amount.count(2)), LayerSelector.parse("0-1"), false, true,
                FineTune.NONE, null, false, TEST);
        assertEquals(expected, back);
    }

    @Test
    void aTrainedArtifactRecordsItsTrainConfigAndRerunsIt() {
        Manifest m = Artifact.load(ST, digits).manifest();
        io.squeeze.spark.TrainJob.Config t = (io.squeeze.spark.TrainJob.Config) Jobs.fromMap(m.config(), RerunCommand.types(), "test");
        assertEquals(io.squeeze.data.DataSpec.parse(TRAIN, io.squeeze.data.Split.TRAIN, false), t.data());
        assertEquals("mlp:32,16", t.arch().toString());
        assertEquals(io.squeeze.data.Normalization.MINMAX, t.normalize());
        assertEquals(new io.squeeze.model.Architectures.Hyper(42, 0.001, 0), t.hyper());
        assertEquals(new io.squeeze.spark.SparkTrainer.Config(2, 64, io.squeeze.spark.SparkTrainer.DEFAULT_SYNC_EVERY, 42), t.training());
        assertEquals("mlp:32,16", ((Map<?, ?>) m.config()).get("arch"));
        String again = dir.resolve("digits-again").toString();
        CliRun r = CliRun.run("rerun", "--manifest", digits, "--out", again);
        assertEquals(0, r.code(), r.err());
        assertEquals(m.config(), Artifact.load(ST, again).manifest().config());
        assertEquals(Artifact.load(ST, digits).model().net().numParams(), Artifact.load(ST, again).model().net().numParams());
    }

    @Test
    void aLoraAdapterRecordsItsConfigAndRerunsToAnAdapterArtifact() {
        String out = dir.resolve("lora").toString(), again = dir.resolve("lora-again").toString();
        CliRun r = CliRun.run("lora", "--model", digits, "--rank", "2", "--alpha", "8", "--data", TRAIN, "--epochs", "1", "--out", out);
        assertEquals(0, r.code(), r.err());
        Manifest m = Artifact.load(ST, out).manifest();
        assertEquals(2, m.config().get("rank"));
        assertEquals(8.0, m.config().get("alpha"));
        assertEquals(2L * (64 + 32) + 2L * (32 + 16), ((Number) m.metrics().get("trainable_params")).longValue());
        assertEquals(new String(io.squeeze.model.Json.bytes(m.config())),
                new String(io.squeeze.model.Json.bytes(Jobs.toMap(Jobs.fromMap(m.config(), RerunCommand.types(), "test")))));
        CliRun rr = CliRun.run("rerun", "--manifest", out, "--out", again);
        assertEquals(0, rr.code(), rr.err());
        Manifest ma = Artifact.load(ST, again).manifest();
        assertEquals(m.config(), ma.config());
        assertEquals(m.files().keySet(), ma.files().keySet(), "an adapter artifact again, not a merged one");
    }

    @Test
    void factorizeConfigsReadBackAndRerunToTheSameFactors() {
        for (String[] policy : new String[][]{{"--params-budget", "0.5"}, {"--params-budget", "900"}, {"--energy", "0:0.9,1:0.8"}, {"--rank", "5"}}) {
            String out = dir.resolve("f" + policy[0] + policy[1].replace(':', '_').replace(',', '_')).toString();
            CliRun r = CliRun.run("factorize", "--model", digits, policy[0], policy[1], "--svd", "randomized", "--seed", "3", "--out", out);
            assertEquals(0, r.code(), r.err());
            Manifest m = Artifact.load(ST, out).manifest();
            JobConfig back = Jobs.fromMap(m.config(), RerunCommand.types(), "test");
            assertEquals(new String(io.squeeze.model.Json.bytes(m.config())), new String(io.squeeze.model.Json.bytes(Jobs.toMap(back))),
                    "the config reads back to the record that wrote it");
            String again = out + "-again";
            assertEquals(0, CliRun.run("rerun", "--manifest", out, "--out", again).code());
            assertEquals(io.squeeze.TestArtifacts.packed(m), io.squeeze.TestArtifacts.packed(Artifact.load(ST, again).manifest()), policy[0] + " " + policy[1]);
        }
    }

    @Test
    void quantizeConfigsReadBackAndRerunToTheSameIntegers() throws Exception {
        String[][] runs = {
                {"--mode", "static", "--bits", "4", "--granularity", "tensor", "--scheme", "affine", "--observer", "percentile:99.9",
                        "--layer-precision", "0=8", "--calib-data", TRAIN, "--calib-rows", "300"},
                {"--mode", "dynamic", "--dtype", "fp16"},
                {"--mode", "static", "--observer", "histogram", "--reduce-range", "--calib-data", TRAIN, "--eval-data", TEST}};
        for (int i = 0; i < runs.length; i++) {
            String out = dir.resolve("q" + i).toString();
            String[] args = java.util.stream.Stream.concat(java.util.stream.Stream.of("quantize", "--model", digits, "--out", out),
                    java.util.Arrays.stream(runs[i])).toArray(String[]::new);
            CliRun r = CliRun.run(args);
            assertEquals(0, r.code(), r.err());
            Manifest m = Artifact.load(ST, out).manifest();
            JobConfig back = Jobs.fromMap(m.config(), RerunCommand.types(), "test");
            assertEquals(new String(io.squeeze.model.Json.bytes(m.config())), new String(io.squeeze.model.Json.bytes(Jobs.toMap(back))));
            String again = out + "-again";
            CliRun rr = CliRun.run("rerun", "--manifest", out, "--out", again);
            assertEquals(0, rr.code(), rr.err());
            assertEquals(io.squeeze.TestArtifacts.packed(m), io.squeeze.TestArtifacts.packed(Artifact.load(ST, again).manifest()), String.join(" ", runs[i]));
        }
        Manifest first = Artifact.load(ST, dir.resolve("q0").toString()).manifest();
        assertEquals("percentile:99.9", first.config().get("quant") instanceof Map<?, ?> q ? q.get("observer") : null);
        assertEquals(300, ((Map<?, ?>) first.metrics().get("calibration")).get("rows"));
    }

    @Test
    void rerunWritesTheSamePackedFilesAndRefusesWhatItCannotReproduce() throws Exception {
        String a = dir.resolve("l1").toString(), b = dir.resolve("l1-again").toString();
        assertEquals(0, CliRun.run("prune", "--model", digits, "--method", "l1", "--amount", "0.6", "--include-bias", "--out", a).code());
        CliRun r = CliRun.run("rerun", "--manifest", a + "/manifest.json", "--out", b);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("reran prune from"), r.out());
        Manifest ma = Artifact.load(ST, a).manifest(), mb = Artifact.load(ST, b).manifest();
        assertEquals(io.squeeze.TestArtifacts.packed(ma), io.squeeze.TestArtifacts.packed(mb));
        assertEquals(ma.config(), mb.config());
        assertEquals(ma.sourceSha256(), mb.sourceSha256());
        assertEquals(java.util.List.of("rerun", "--manifest", a + "/manifest.json", "--out", b), mb.command());
        // the artifact directory works as well as its manifest
        String c = dir.resolve("l1-third").toString();
        assertEquals(0, CliRun.run("rerun", "--manifest", a, "--out", c).code());
        assertEquals(io.squeeze.TestArtifacts.packed(ma), io.squeeze.TestArtifacts.packed(Artifact.load(ST, c).manifest()));

        // an artifact written before configs were records (format-v1 fixture) is refused by name, nothing written
        String never = dir.resolve("never").toString();
        CliRun old = CliRun.run("rerun", "--manifest", "src/test/resources/fixtures/artifacts-v1/pruned-l1", "--out", never);
        assertEquals(2, old.code(), old.err());
        assertTrue(old.lastErr().contains("records a config of command 'prune' that this Squeeze cannot run again"), old.lastErr());
        assertFalse(Files.exists(Path.of(never)));

        // the source model changed since: not a reproduction, refused, nothing written
        String copy = dir.resolve("digits-copy").toString();
        assertEquals(0, CliRun.run("prune", "--model", digits, "--method", "l1", "--amount", "0.1", "--out", copy).code());
        String fromCopy = dir.resolve("from-copy").toString();
        assertEquals(0, CliRun.run("prune", "--model", copy, "--method", "l1", "--amount", "0.5", "--out", fromCopy).code());
        assertEquals(0, CliRun.run("prune", "--model", digits, "--method", "l1", "--amount", "0.3", "--out", copy, "--overwrite").code());
        CliRun changed = CliRun.run("rerun", "--manifest", fromCopy, "--out", never);
        assertEquals(2, changed.code(), changed.err());
        assertTrue(changed.lastErr().contains("was made from") && changed.lastErr().endsWith("nothing written"), changed.lastErr());
        assertFalse(Files.exists(Path.of(never)));
    }

    /** The part files of a Parquet set by name, with their sha256. */
    static Map<String, String> parts(String dir) throws Exception {
        Map<String, String> out = new java.util.TreeMap<>();
        try (var s = java.nio.file.Files.list(Path.of(dir))) {
            for (Path p : s.filter(f -> f.getFileName().toString().startsWith("part-")).toList())
                out.put(p.getFileName().toString(), Storage.sha256(java.nio.file.Files.readAllBytes(p)));
        }
        assertFalse(out.isEmpty(), dir);
        return out;
    }

    @Test
    void softTargetsAndAugmentedDataRecordTheirConfigAndRerunToTheSameFiles() throws Exception {
        String soft = dir.resolve("soft").toString(), again = dir.resolve("soft-again").toString();
        CliRun r = CliRun.run("soft-targets", "--teacher", digits, "--data", TRAIN, "--top-k", "3", "--batch", "100", "--out", soft);
        assertEquals(0, r.code(), r.err());
        var m = io.squeeze.artifact.SoftTargetsStore.read(ST, soft);
        assertEquals(io.squeeze.artifact.SoftTargetsStore.VERSION, m.version());
        assertEquals(new io.squeeze.spark.SoftTargetsJob.Config(ST.path(digits).toString(), null, null,
                io.squeeze.data.DataSpec.parse(TRAIN, io.squeeze.data.Split.TRAIN, false), 3, 100, false),
                io.squeeze.spark.SoftTargetsJob.Config.fromMap(m.config(), "test"));
        r = CliRun.run("rerun", "--manifest", soft + "/_soft-targets.json", "--out", again);
        assertEquals(0, r.code(), r.err());
        assertEquals(parts(soft), parts(again));
        assertEquals(m.files(), io.squeeze.artifact.SoftTargetsStore.read(ST, again).files());

        String aug = dir.resolve("aug").toString(), aug2 = dir.resolve("aug-again").toString();
        r = CliRun.run("augment", "--data", TRAIN, "--image", "8x8", "--copies", "2", "--max-shift", "1", "--seed", "3", "--out", aug);
        assertEquals(0, r.code(), r.err());
        var am = io.squeeze.spark.AugmentJob.Manifest.read(ST, ST.path(aug));
        assertEquals(new io.squeeze.spark.AugmentJob.Config(io.squeeze.data.DataSpec.parse(TRAIN, io.squeeze.data.Split.TRAIN, false), 2, 1,
                new int[]{8, 8}, false, 3, 0, false), io.squeeze.spark.AugmentJob.Config.fromMap(am.config(), "test"));
        r = CliRun.run("rerun", "--manifest", aug, "--out", aug2);
        assertEquals(0, r.code(), r.err());
        assertEquals(parts(aug), parts(aug2));
        assertEquals(am.rows(), io.squeeze.spark.AugmentJob.Manifest.read(ST, ST.path(aug2)).rows());
        assertTrue(am.rows() > 1000, "rows " + am.rows());
    }
}
