package io.squeeze.cli;

import io.squeeze.TestModels;
import io.squeeze.core.Storage;
import io.squeeze.model.ModelIO;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FullDiskFileSystem;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.UUID;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** Full disks, unwritable outputs and the leftovers of killed runs (kills themselves: {@code KillTest}). */
class ReliabilityTest {
    static final String TEST = "csv:data/digits/digits-test.csv.gz";
    @TempDir
    static Path dir;
    static String model;

    @BeforeAll
    static void setUp() {
        model = dir.resolve("m.zip").toString();
        ModelIO.writeZip(new Storage(new Configuration()), new org.apache.hadoop.fs.Path(model),
                TestModels.mlp(64, new int[]{8}, 10, 1), TestModels.minmaxMeta(64, 10), false);
    }

    @AfterEach
    void roomyDisk() {
        FullDiskFileSystem.budget.set(Long.MAX_VALUE);
    }

    static String[] prune(String out, String... more) {
        return Stream.concat(Stream.of("prune", "--model", model, "--method", "l1", "--amount", "0.5", "--local", "--out", out),
                Stream.of(more)).toArray(String[]::new);
    }

    static long hiddenSiblings(Path parent) throws Exception {
        try (var s = Files.list(parent)) {
            return s.filter(p -> p.getFileName().toString().startsWith(".")).count();
        }
    }

    @Test
    void aSingleFileOutputIsReplacedThroughASiblingAndRestoredAfterAKill() throws Exception {
        Path parent = Files.createDirectories(dir.resolve("reports"));
        Path report = parent.resolve("r.json");
        String[] evaluate = {"evaluate", "--model", model, "--data", TEST, "--report", report.toString()};
        assertEquals(0, CliRun.run(evaluate).code());
        byte[] first = Files.readAllBytes(report);
        CliRun again = CliRun.run(Stream.concat(Stream.of(evaluate), Stream.of("--overwrite")).toArray(String[]::new));
        assertEquals(0, again.code(), again.err());
        assertEquals(0, hiddenSiblings(parent), "the old report moved aside and removed");
        Path aside = parent.resolve(".r.json.old-" + UUID.randomUUID());
        Files.move(report, aside); // killed between moving the old report aside and moving the new one in
        Files.setLastModifiedTime(aside, FileTime.from(Instant.now().minusSeconds(60)));
        CliRun restored = CliRun.run(evaluate);
        assertEquals(2, restored.code(), restored.err());
        assertTrue(restored.lastErr().endsWith("r.json exists; pass --overwrite to replace it"), restored.lastErr());
        assertTrue(Files.exists(report) && first.length > 0);
        assertEquals(0, hiddenSiblings(parent));
    }

    @Test
    void trainingLeavesNothingUnderHadoopTmpDir() throws Exception {
        Path tmp = Path.of(new org.apache.hadoop.fs.Path(io.squeeze.TestSpark.get().sparkContext().hadoopConfiguration().get("hadoop.tmp.dir"))
                .toUri().getPath());
        java.util.function.Supplier<java.util.Set<String>> entries = () -> {
            if (!Files.exists(tmp)) return java.util.Set.of();
            try (var s = Files.walk(tmp)) {
                return s.map(Path::toString).filter(p -> !p.contains("s3a")).collect(java.util.stream.Collectors.toSet());
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        };
        var before = entries.get();
        CliRun r = CliRun.run("train", "--data", TEST, "--arch", "mlp:4", "--epochs", "1", "--out", dir.resolve("tmpcheck").toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(before, entries.get(), "the minibatches exported for training are removed with their directory");
    }

    @Test
    void trainingLabelsNeedNotBeContiguous() throws Exception {
        String row = "0,".repeat(64);
        Path labels = Files.writeString(dir.resolve("labels-3-12.csv"), row + "3\n" + row + "12\n");
        CliRun r = CliRun.run("train", "--data", "csv:" + labels, "--arch", "mlp:4", "--epochs", "1", "--out", dir.resolve("m13").toString());
        assertEquals(0, r.code(), "labels 3 and 12 make 13 classes for training: " + r.err());
        assertEquals(13, io.squeeze.artifact.Artifact.load(dir.resolve("m13").toString()).model().meta().numClasses());
    }

    @Test
    void aDiskThatFillsDuringTheWriteIsOneLineAndKeepsTheOldArtifact() throws Exception {
        Path parent = Files.createDirectories(dir.resolve("disk"));
        String art = "full://" + parent.resolve("art");
        assertEquals(0, CliRun.run(prune(art)).code());
        byte[] manifest = Files.readAllBytes(parent.resolve("art/manifest.json"));
        FullDiskFileSystem.budget.set(3000); // the probe fits; the artifact does not
        CliRun r = CliRun.run(prune(art, "--overwrite"));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.lastErr().matches("squeeze: failed: cannot write full:\\S+/\\.art\\.tmp-[0-9a-f-]{36}/\\S+: No space left on device "
                + "\\(SQUEEZE_DEBUG=1 shows the stack trace\\)"), r.lastErr());
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
        assertArrayEquals(manifest, Files.readAllBytes(parent.resolve("art/manifest.json")), "the old artifact is intact");
        assertEquals(0, hiddenSiblings(parent), "no temporary directory left");
    }

    @Test
    void anUnwritableOutputIsRefusedBeforeAnyWork() throws Exception {
        Path parent = Files.createDirectories(dir.resolve("nospace"));
        FullDiskFileSystem.budget.set(0);
        String out = "full://" + parent.resolve("model");
        CliRun r = CliRun.run("train", "--data", TEST, "--arch", "mlp:4", "--epochs", "3", "--out", out);
        assertEquals(2, r.code(), r.err());
        assertEquals("squeeze: output " + out.replace("full://", "full:") + " cannot be written: No space left on device", r.lastErr());
        assertFalse(r.err().contains("epoch"), "refused before training: " + r.err());
        try (var s = Files.list(parent)) {
            assertEquals(0, s.count(), "nothing written, the probe removed");
        }
    }

    @Test
    void aRunRemovesTheLeftoversOfKilledRunsOfItsOwnOutputOnly() throws Exception {
        Path parent = Files.createDirectories(dir.resolve("orphans"));
        String uuid = UUID.randomUUID().toString();
        Path staleTmp = Files.createDirectories(parent.resolve(".art.tmp-" + uuid + "/packed"));
        Files.writeString(staleTmp.resolve("x.bin"), "half");
        Path staleFile = Files.writeString(parent.resolve(".art.tmp-" + UUID.randomUUID()), "half a report");
        Path notOurs = Files.createDirectories(parent.resolve(".art.tmp-mine"));
        Path otherOutput = Files.createDirectories(parent.resolve(".other.tmp-" + uuid));
        Path fresh = Files.createDirectories(parent.resolve(".art.tmp-" + UUID.randomUUID()));
        FileTime old = FileTime.from(Instant.now().minusSeconds(3600));
        for (Path p : new Path[]{staleTmp.resolve("x.bin"), staleTmp, staleTmp.getParent(), staleFile, notOurs, otherOutput})
            Files.setLastModifiedTime(p, old);
        Files.setLastModifiedTime(fresh, FileTime.from(Instant.now().plusSeconds(3600))); // written after this run started
        CliRun r = CliRun.run(prune(parent.resolve("art").toString()));
        assertEquals(0, r.code(), r.err());
        assertFalse(Files.exists(staleTmp.getParent()));
        assertFalse(Files.exists(staleFile));
        assertTrue(Files.exists(notOurs) && Files.exists(otherOutput) && Files.exists(fresh), "never anything else");
        assertTrue(Files.exists(parent.resolve("art/_SUCCESS")));
    }

    @Test
    void anOldOutputMovedAsideByAKilledRunIsRestoredNotRemoved() throws Exception {
        Path parent = Files.createDirectories(dir.resolve("restore"));
        Path art = parent.resolve("art");
        assertEquals(0, CliRun.run(prune(art.toString())).code());
        byte[] manifest = Files.readAllBytes(art.resolve("manifest.json"));
        Path aside = parent.resolve(".art.old-" + UUID.randomUUID());
        Files.move(art, aside); // killed between moving the old output aside and moving the new one in
        try (var s = Files.walk(aside)) {
            for (Path p : s.toList()) Files.setLastModifiedTime(p, FileTime.from(Instant.now().minusSeconds(60)));
        }
        CliRun r = CliRun.run(prune(art.toString()));
        assertEquals(2, r.code(), "the restored output exists and is not overwritten without --overwrite: " + r.err());
        assertFalse(r.err().contains("prune:"), "refused before the work");
        assertEquals("squeeze: output file:" + art + " exists; pass --overwrite to replace it", r.lastErr());
        assertArrayEquals(manifest, Files.readAllBytes(art.resolve("manifest.json")));
        assertEquals(0, hiddenSiblings(parent));
    }
}
