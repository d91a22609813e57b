package io.squeeze.storage;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.core.BadInputException;
import io.squeeze.TestModels;
import io.squeeze.TestSpark;
import io.squeeze.artifact.Artifact;
import io.squeeze.core.Storage;
import io.squeeze.cli.CliRun;
import io.squeeze.model.ModelIO;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.net.URI;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Artifacts, datasets and reports over the real S3 protocol: s3proxy (filesystem blobstore) as a child process on
 * 127.0.0.1, reached through Hadoop's S3A exactly as a cluster reaches S3.
 */
class S3Test {
    static final String BUCKET = TestS3.BUCKET;
    static TestS3 server;
    static Storage st;
    static FileSystem fs;

    @BeforeAll
    static void start() throws Exception {
        server = TestS3.start();
        Configuration conf = TestSpark.get().sparkContext().hadoopConfiguration();
        for (var e : server.s3a().entrySet()) {
            conf.set(e.getKey(), e.getValue());
            System.setProperty("spark.hadoop." + e.getKey(), e.getValue()); // for commands that read files without Spark
        }
        st = new Storage(conf);
        fs = FileSystem.get(URI.create("s3a://" + BUCKET + "/"), conf);
        fs.copyFromLocalFile(new Path(new File("data/digits/digits-train.csv.gz").getAbsoluteFile().toURI()), new Path("s3a://" + BUCKET + "/data/digits-train.csv.gz"));
        fs.copyFromLocalFile(new Path(new File("data/digits/digits-test.csv.gz").getAbsoluteFile().toURI()), new Path("s3a://" + BUCKET + "/data/digits-test.csv.gz"));
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) server.close();
    }

    @Test
    void aKilledWriteLeavesADirectoryWithoutSuccessThatIsRefusedAndReplacedOnlyWithOverwrite() throws Exception {
        String s3 = "s3a://" + BUCKET, art = s3 + "/killed/art";
        CliRun first = CliRun.run("train", "--data", "csv:" + s3 + "/data/digits-test.csv.gz", "--arch", "mlp:4", "--epochs", "1", "--out", art);
        assertEquals(0, first.code(), first.err());
        st.delete(new Path(art + "/_SUCCESS")); // what a write killed before its last file leaves on S3
        CliRun read = CliRun.run("inspect", "--model", art);
        assertEquals(2, read.code());
        assertTrue(read.lastErr().endsWith("is incomplete: no _SUCCESS"), read.lastErr());
        CliRun again = CliRun.run("prune", "--model", s3 + "/killed/none.zip", "--method", "l1", "--amount", "0.5", "--out", art);
        assertEquals(2, again.code());
        String[] rerun = {"train", "--data", "csv:" + s3 + "/data/digits-test.csv.gz", "--arch", "mlp:4", "--epochs", "1", "--out", art};
        CliRun noOverwrite = CliRun.run(rerun);
        assertEquals(2, noOverwrite.code());
        assertTrue(noOverwrite.lastErr().endsWith("exists; pass --overwrite to replace it"), noOverwrite.lastErr());
        String[] withOverwrite = java.util.Arrays.copyOf(rerun, rerun.length + 1);
        withOverwrite[rerun.length] = "--overwrite";
        assertEquals(0, CliRun.run(withOverwrite).code());
        Artifact.load(art);
    }

    @Test
    void missingOrWrongCredentialsAreOneLineBeforeAnyWork() {
        Configuration conf = TestSpark.get().sparkContext().hadoopConfiguration();
        for (String[] kv : new String[][]{{"fs.s3a.bucket.nocreds.access.key", ""}, {"fs.s3a.bucket.nocreds.secret.key", ""},
                {"fs.s3a.bucket.wrongcreds.access.key", "somebody-else"}, {"fs.s3a.bucket.wrongcreds.secret.key", "not-the-secret"}}) {
            conf.set(kv[0], kv[1]);
            System.setProperty("spark.hadoop." + kv[0], kv[1]);
        }
        CliRun none = CliRun.run("evaluate", "--model", "s3a://nocreds/m", "--data", "csv:data/digits/digits-test.csv.gz");
        assertEquals(2, none.code(), none.err());
        assertEquals("squeeze: cannot access s3a://nocreds/m: no S3 credentials; set fs.s3a.access.key and fs.s3a.secret.key"
                + " (spark-submit: --conf spark.hadoop.fs.s3a.access.key=...) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", none.err().strip());
        CliRun wrong = CliRun.run("train", "--data", "csv:s3a://wrongcreds/data.csv", "--arch", "mlp:4", "--epochs", "1", "--out", "s3a://wrongcreds/out");
        assertEquals(2, wrong.code(), wrong.err());
        assertTrue(wrong.err().strip().matches("squeeze: cannot access s3a://wrongcreds/\\S+: permission denied \\(.+\\)"), wrong.err());
        assertFalse(wrong.err().strip().contains("\n"), "one line: " + wrong.err());
    }

    @Test
    void trainEvaluateInspectAndRoundTripOnS3() throws Exception {
        String s3 = "s3a://" + BUCKET;
        String art = s3 + "/models/digits";
        CliRun t = CliRun.run("train", "--data", "csv:" + s3 + "/data/digits-train.csv.gz", "--arch", "mlp:16", "--epochs", "2",
                "--normalize", "standard", "--with-dl4j-zip", "--out", art);
        assertEquals(0, t.code(), t.err());
        Artifact a = Artifact.load(art); // the library API, with spark.hadoop.* settings
        var zip = ModelIO.loadFile(st, new Path(art + "/model.zip"));
        TestModels.assertSameWeights(zip.net(), a.model().net());
        assertEquals("STANDARD", a.manifest().config().get("normalize")); // the config is TrainJob.Config
        assertEquals(Storage.withSparkDefaults().conf().get("fs.s3a.endpoint"), st.conf().get("fs.s3a.endpoint"));

        CliRun i = CliRun.run("inspect", "--model", art, "--json");
        assertEquals(0, i.code(), i.err());
        assertEquals(64 * 16 + 16, new ObjectMapper().readTree(i.out()).get("layers").get(0).get("params").asLong());

        String report = s3 + "/reports/r.json";
        CliRun e = CliRun.run("evaluate", "--model", art, "--data", "csv:" + s3 + "/data/digits-test.csv.gz", "--report", report,
                "--baseline", art + "/model.zip");
        assertEquals(0, e.code(), e.err());
        JsonNode j = new ObjectMapper().readTree(st.readAll(new Path(report), "report"));
        assertEquals(359, j.get("rows").asLong());
        assertEquals(1.0, j.get("baseline").get("agreement").asDouble());

        CliRun again = CliRun.run("train", "--data", "csv:" + s3 + "/data/digits-train.csv.gz", "--arch", "mlp:4", "--epochs", "1", "--out", art);
        assertEquals(2, again.code());
        TestModels.assertSameWeights(zip.net(), Artifact.load(art).model().net());
        CliRun over = CliRun.run("train", "--data", "csv:" + s3 + "/data/digits-train.csv.gz", "--arch", "mlp:4", "--epochs", "1", "--out", art, "--overwrite");
        assertEquals(0, over.code(), over.err());
        assertEquals(64 * 4 + 4, Artifact.load(art).model().net().getLayer(0).numParams());

        Path blob = new Path(art + "/packed/tensors.bin");
        byte[] b = st.readAll(blob, "blob");
        b[0] ^= 1;
        fs.delete(blob, false);
        st.write(blob, b);
        var bad = assertThrows(BadInputException.class, () -> Artifact.load(art));
        assertEquals("artifact " + art + " is corrupt: packed/tensors.bin does not match its size/sha256 in the manifest", bad.getMessage());
        fs.delete(new Path(art + "/_SUCCESS"), false);
        assertEquals("artifact " + art + " is incomplete: no _SUCCESS", assertThrows(BadInputException.class, () -> Artifact.load(art)).getMessage());
    }

    @Test
    void softTargetsDistillAndQuantizeRoundTrip() throws Exception {
        RoundTrips.softTargetsDistillAndQuantize("s3a://" + BUCKET, st, fs);
    }
}
