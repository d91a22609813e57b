package io.squeeze.storage;

import io.squeeze.ChildSqueeze;
import io.squeeze.TestModels;
import io.squeeze.artifact.Artifact;
import io.squeeze.cli.CliRun;
import io.squeeze.core.FaultPoint;
import io.squeeze.core.Storage;
import io.squeeze.model.ModelIO;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code kill -9} of {@code squeeze prune} (a child JVM) at each point of the write, on the local disk and on HDFS:
 * afterwards the output is the old artifact or the new one, complete and loadable, never partial; a rerun succeeds
 * and leaves no hidden sibling behind.
 */
class KillTest {
    @TempDir
    static java.nio.file.Path dir;
    static MiniDFSCluster cluster;
    static String hdfs, model;
    static final Storage st = new Storage(new Configuration());

    @BeforeAll
    static void start() throws Exception {
        cluster = TestHdfs.start("minidfs-kill");
        hdfs = "hdfs://localhost:" + cluster.getNameNodePort();
        model = dir.resolve("m.zip").toString();
        ModelIO.writeZip(st, new Path(model), TestModels.mlp(64, new int[]{16}, 10, 1), TestModels.minmaxMeta(64, 10), false);
    }

    @AfterAll
    static void stop() {
        if (cluster != null) cluster.shutdown(true);
    }

    static String[] prune(String out, String amount) {
        return new String[]{"prune", "--model", model, "--method", "l1", "--amount", amount, "--local", "--out", out, "--overwrite"};
    }

    /** Runs the command in a child JVM stopped at {@code point}, then kills it with SIGKILL. */
    static void runAndKill(String point, String... args) throws Exception {
        var r = ChildSqueeze.run(List.of("-Dsqueeze.pause=" + point), line -> line.equals("squeeze: paused at " + point), args);
        assertEquals(137, r.code(), "killed by SIGKILL at " + point + ":\n" + r.log());
    }

    static List<String> hidden(String out) {
        Path o = st.path(out);
        return Arrays.stream(st.list(o.getParent())).map(FileStatus::getPath).map(Path::getName).filter(n -> n.startsWith(".")).toList();
    }

    @ParameterizedTest(name = "{0} on {1}")
    @CsvSource({"before-write,file", "mid-write,file", "before-rename,file", "after-publish,file",
            "mid-write,hdfs", "before-rename,hdfs", "after-publish,hdfs"})
    void aKilledWriteLeavesTheOldOrTheNewArtifactAndARerunCleansUp(String point, String fs) throws Exception {
        String base = fs.equals("file") ? dir.resolve(point).toString() : hdfs + "/kill/" + point;
        String out = base + "/art";
        assertEquals(0, CliRun.run(prune(out, "0.5")).code());
        String oldManifest = new String(st.readAll(new Path(out + "/manifest.json"), "m"), StandardCharsets.UTF_8);

        runAndKill(point, prune(out, "0.75"));

        Artifact after = Artifact.load(st, out); // complete and verified, whichever it is
        boolean published = point.equals(FaultPoint.AFTER_PUBLISH);
        assertEquals(published ? "0.75" : "0.5", after.manifest().layers().get(0).details().get("W_amount"));
        if (!published)
            assertEquals(oldManifest, new String(st.readAll(new Path(out + "/manifest.json"), "m"), StandardCharsets.UTF_8));
        assertEquals(point.equals(FaultPoint.BEFORE_WRITE) ? 0 : 1, hidden(out).size(), "what the kill left: " + hidden(out));

        CliRun rerun = CliRun.run(prune(out, "0.75"));
        assertEquals(0, rerun.code(), rerun.err());
        assertEquals("0.75", Artifact.load(st, out).manifest().layers().get(0).details().get("W_amount"));
        assertEquals(List.of(), hidden(out), "the rerun removed the leftovers");
    }

    @ParameterizedTest(name = "first write on {0}")
    @CsvSource({"file", "hdfs"})
    void aFirstWriteKilledHalfwayLeavesNoOutput(String fs) throws Exception {
        String out = (fs.equals("file") ? dir.resolve("first").toString() : hdfs + "/kill/first") + "/art";
        runAndKill(FaultPoint.MID_WRITE, prune(out, "0.5"));
        assertFalse(st.exists(st.path(out)), "no partial output");
        CliRun rerun = CliRun.run(prune(out, "0.5"));
        assertEquals(0, rerun.code(), rerun.err());
        Artifact.load(st, out);
        assertEquals(List.of(), hidden(out));
    }
}
