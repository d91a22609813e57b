package io.squeeze.storage;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.core.BadInputException;
import io.squeeze.TestModels;
import io.squeeze.TestSpark;
import io.squeeze.artifact.Artifact;
import io.squeeze.core.Storage;
import io.squeeze.cli.CliRun;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Example;
import io.squeeze.data.Split;
import io.squeeze.model.ModelIO;
import io.squeeze.spark.SparkData;
import io.squeeze.spark.SparkDataTest;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Artifacts, datasets and reports on a real HDFS (MiniDFSCluster in this JVM). */
class HdfsTest {
    static MiniDFSCluster cluster;
    static String hdfs;
    static FileSystem fs;
    static Storage st;

    @BeforeAll
    static void start() throws Exception {
        cluster = TestHdfs.start("minidfs");
        hdfs = "hdfs://localhost:" + cluster.getNameNodePort();
        fs = FileSystem.get(URI.create(hdfs), new Configuration());
        st = new Storage(new Configuration());
        fs.copyFromLocalFile(new Path("data/digits/digits-train.csv.gz"), new Path(hdfs + "/data/digits-train.csv.gz"));
        fs.copyFromLocalFile(new Path("data/digits/digits-test.csv.gz"), new Path(hdfs + "/data/digits-test.csv.gz"));
        TestSpark.get();
    }

    @AfterAll
    static void stop() {
        if (cluster != null) cluster.shutdown(true);
    }

    @Test
    void trainEvaluateAndArtifactRoundTripOnHdfs() throws Exception {
        String art = hdfs + "/models/digits";
        CliRun t = CliRun.run("train", "--data", "csv:" + hdfs + "/data/digits-train.csv.gz", "--arch", "mlp:16", "--epochs", "2",
                "--normalize", "minmax", "--with-dl4j-zip", "--out", art);
        assertEquals(0, t.code(), t.err());
        assertTrue(fs.exists(new Path(art + "/_SUCCESS")));
        assertEquals(0, fs.listStatus(new Path(hdfs + "/models")).length - 1, "no temporary siblings left");
        Artifact a = Artifact.load(st, art);
        var zip = ModelIO.loadFile(st, new Path(art + "/model.zip"));
        TestModels.assertSameWeights(zip.net(), a.model().net());
        assertEquals(zip.meta(), a.model().meta());
        assertEquals(List.of("train", "--data", "csv:" + hdfs + "/data/digits-train.csv.gz", "--arch", "mlp:16", "--epochs", "2",
                "--normalize", "minmax", "--with-dl4j-zip", "--out", art), a.manifest().command());

        String report = hdfs + "/reports/r.json";
        CliRun e = CliRun.run("evaluate", "--model", art, "--data", "csv:" + hdfs + "/data/digits-test.csv.gz", "--report", report);
        assertEquals(0, e.code(), e.err());
        JsonNode j = new ObjectMapper().readTree(st.readAll(new Path(report), "report"));
        assertEquals(359, j.get("rows").asLong());
        assertEquals(art, j.get("model").asText());

        CliRun again = CliRun.run("train", "--data", "csv:" + hdfs + "/data/digits-train.csv.gz", "--arch", "mlp:16", "--epochs", "1", "--out", art);
        assertEquals(2, again.code());
        assertTrue(again.lastErr().endsWith(art + " exists; pass --overwrite to replace it"), again.lastErr());
        TestModels.assertSameWeights(zip.net(), Artifact.load(st, art).model().net());
        CliRun over = CliRun.run("train", "--data", "csv:" + hdfs + "/data/digits-train.csv.gz", "--arch", "mlp:8", "--epochs", "1", "--out", art, "--overwrite");
        assertEquals(0, over.code(), over.err());
        assertEquals(64 * 8 + 8, Artifact.load(st, art).model().net().getLayer(0).numParams());

        fs.delete(new Path(art + "/_SUCCESS"), false);
        var bad = assertThrows(BadInputException.class, () -> Artifact.load(st, art));
        assertEquals("artifact " + art + " is incomplete: no _SUCCESS", bad.getMessage());
    }

    @Test
    void idxOnHdfs(@TempDir java.nio.file.Path local) throws Exception {
        SparkDataTest.writeIdx(local, "t10k", 30, 5, true);
        fs.copyFromLocalFile(new Path(local.toString()), new Path(hdfs + "/mnist"));
        SparkData.Loaded l = SparkData.read(TestSpark.get(), DataSpec.parse("idx:" + hdfs + "/mnist", Split.TEST, false), 25, "m");
        List<Example> rows = l.rdd().collect();
        assertEquals(30, rows.size());
        for (Example e : rows) assertEquals(((e.id() + 24) % 256) / 255f, e.features()[24], 0f);
    }

    @Test
    void softTargetsDistillAndQuantizeRoundTrip() throws Exception {
        RoundTrips.softTargetsDistillAndQuantize(hdfs, st, fs);
    }
}
