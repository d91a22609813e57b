package io.squeeze.storage;

import io.squeeze.TestSpark;
import io.squeeze.artifact.Artifact;
import io.squeeze.core.Storage;
import io.squeeze.cli.CliRun;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import static org.junit.jupiter.api.Assertions.*;

/** The same user journeys on any Hadoop filesystem: each storage test runs them against its server. */
final class RoundTrips {
    private RoundTrips() {}

    /** train → soft-targets (Parquet) → distill, and quantize, with digits under {@code root}/data. */
    static void softTargetsDistillAndQuantize(String root, Storage st, FileSystem fs) throws Exception {
        String teacher = root + "/kd/teacher", soft = root + "/kd/soft", student = root + "/kd/student", q = root + "/kd/int8";
        String train = "csv:" + root + "/data/digits-train.csv.gz", test = "csv:" + root + "/data/digits-test.csv.gz";
        CliRun t = CliRun.run("train", "--data", train, "--arch", "mlp:16", "--epochs", "2", "--normalize", "minmax", "--out", teacher);
        assertEquals(0, t.code(), t.err());
        CliRun s = CliRun.run("soft-targets", "--teacher", teacher, "--data", train, "--out", soft);
        assertEquals(0, s.code(), s.err());
        assertTrue(st.exists(new Path(soft + "/_SUCCESS")) && st.exists(new Path(soft + "/part-00000.parquet")));
        assertEquals(1438, TestSpark.get().read().parquet(soft).count());
        CliRun again = CliRun.run("soft-targets", "--teacher", teacher, "--data", train, "--out", soft);
        assertEquals(2, again.code(), "not overwritten without --overwrite");
        CliRun d = CliRun.run("distill", "--soft-targets", soft, "--data", train, "--student", "mlp:8", "--normalize", "minmax", "--epochs", "2",
                "--eval-data", test, "--out", student);
        assertEquals(0, d.code(), d.err());
        assertTrue(Artifact.load(student).model().net().numParams() < Artifact.load(teacher).model().net().numParams());
        CliRun qz = CliRun.run("quantize", "--model", teacher, "--calib-data", train, "--eval-data", test, "--out", q);
        assertEquals(0, qz.code(), qz.err());
        assertNotNull(Artifact.load(q).quant());
        // soft targets without _SUCCESS are refused
        fs.delete(new Path(soft + "/_SUCCESS"), false);
        CliRun refused = CliRun.run("distill", "--soft-targets", soft, "--data", train, "--student", "mlp:8", "--out", root + "/kd/never");
        assertEquals(2, refused.code());
        assertTrue(refused.lastErr().contains("are incomplete: no _SUCCESS"), refused.lastErr());
    }
}
