package io.squeeze.cluster;

import io.squeeze.TestArtifacts;
import io.squeeze.TestSpark;
import io.squeeze.artifact.Artifact;
import io.squeeze.artifact.Manifest;
import io.squeeze.core.FaultPoint;
import io.squeeze.core.Storage;
import io.squeeze.storage.TestS3;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The cluster suite on real storage, on the cluster {@code jobs/cluster up} starts for users (a standalone Master
 * and Worker with two executor JVMs, and HDFS of two datanodes): with HDFS as the default filesystem, and with S3
 * (s3proxy) and no HDFS at all. Executors are killed with
 * {@code kill -9} in the middle of a task (teacher inference, a training round) and the driver in the middle of
 * publishing; every output equals a clean run's.
 */
class HdfsAndS3ClusterIT {
    static final java.nio.file.Path BASE = StandaloneCluster.BASE;
    static final java.nio.file.Path FIXTURES = BASE.resolve("src/test/resources/fixtures/artifacts-v1");
    static final String PAUSED = "squeeze: paused at ";
    static StandaloneCluster cluster;
    static TestS3 s3;
    static String hdfs;
    static Storage st;
    static Configuration conf;
    @TempDir
    static java.nio.file.Path dir;

    @BeforeAll
    static void start() throws Exception {
        SparkHome.Run up = jobsCluster("up", Integer.toString(StandaloneCluster.freePort()), Integer.toString(StandaloneCluster.freePort()));
        assertEquals(0, up.code(), up.err());
        Map<String, String> env = new HashMap<>();
        for (String line : Files.readAllLines(BASE.resolve("target/cluster/cluster.env"))) env.put(line.split("=", 2)[0], line.split("=", 2)[1]);
        assertEquals(jobsCluster("status").out(), up.out());
        assertTrue(up.out().contains("master      " + env.get("SPARK_MASTER")) && up.out().contains("hdfs        " + env.get("HDFS")), up.out());
        cluster = StandaloneCluster.attach(env.get("SPARK_MASTER"), 2);
        hdfs = env.get("HDFS");
        s3 = TestS3.start();
        conf = new Configuration();
        s3.s3a().forEach(conf::set);
        // this JVM reads the outputs back through Spark too (the soft targets' Parquet)
        s3.s3a().forEach(TestSpark.get().sparkContext().hadoopConfiguration()::set);
        st = new Storage(conf);
        for (String f : new String[]{"digits-train.csv.gz", "digits-test.csv.gz"}) {
            Path local = new Path(BASE.resolve("data/digits").resolve(f).toUri());
            FileSystem.get(URI.create(hdfs), conf).copyFromLocalFile(local, new Path(hdfs + "/data/" + f));
            FileSystem.get(URI.create(s3.bucket() + "/"), conf).copyFromLocalFile(local, new Path(s3.bucket() + "/data/" + f));
        }
    }

    @AfterAll
    static void stop() throws Exception {
        if (s3 != null) s3.close();
        assertEquals(0, jobsCluster("down").code());
        SparkHome.Run status = jobsCluster("status");
        assertEquals(1, status.code());
        assertEquals("jobs/cluster: down", status.out().strip());
    }

    /** {@code jobs/cluster ARGS…}, as a user runs it. */
    static SparkHome.Run jobsCluster(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(BASE.resolve("jobs/cluster").toString()));
        cmd.addAll(List.of(args));
        java.nio.file.Path out = Files.createTempFile(dir, "cluster", ".out"), err = Files.createTempFile(dir, "cluster", ".err");
        Process p = new ProcessBuilder(cmd).directory(BASE.toFile()).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        assertTrue(p.waitFor(10, java.util.concurrent.TimeUnit.MINUTES), "jobs/cluster " + String.join(" ", args));
        return new SparkHome.Run(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    /** HDFS is the cluster's default filesystem (as on a Hadoop cluster): {@code spark.hadoop.fs.defaultFS}. */
    static List<String> onHdfs() {
        return List.of("--conf", "spark.hadoop.fs.defaultFS=" + hdfs);
    }

    /** S3 only: the default filesystem stays the local disk, data and outputs are {@code s3a://}. */
    static List<String> onS3() {
        List<String> c = new ArrayList<>();
        s3.s3a().forEach((k, v) -> c.addAll(List.of("--conf", "spark.hadoop." + k + "=" + v)));
        return c;
    }

    static SparkHome.Run submit(List<String> options, String... args) throws Exception {
        SparkHome.Run r = cluster.submit(options, args);
        assertEquals(0, r.code(), "spark-submit " + String.join(" ", args) + "\n" + r.err());
        return r;
    }

    /**
     * Submits with one executor stopping in its first task ({@link FaultPoint#IN_TASK}), kills that executor with
     * {@code kill -9}, and returns the run, which must still succeed.
     */
    static SparkHome.Run submitKillingAnExecutor(List<String> options, String... args) throws Exception {
        String marker = dir.resolve("pause-" + System.nanoTime()).toString();
        SparkHome.Submission s = cluster.start(options, "", "-Dsqueeze.pause=" + FaultPoint.IN_TASK + " -Dsqueeze.pause.once=" + marker, args);
        String killed;
        try {
            killed = cluster.killExecutorAt(PAUSED + FaultPoint.IN_TASK, Duration.ofMinutes(5));
        } catch (RuntimeException | Error e) {
            s.process().destroyForcibly(); // not left running into the next test
            throw e;
        }
        SparkHome.Run r = s.await();
        assertEquals(0, r.code(), "after killing executor " + killed + ": " + String.join(" ", args) + "\n" + r.err());
        // the lost executor is reported, not hidden
        assertTrue(r.err().contains("WARN") && r.err().contains("executor " + killed.substring(killed.indexOf('/') + 1) + " removed"), r.err());
        return r;
    }

    static List<String> hidden(String out) {
        Path o = st.path(out);
        return Arrays.stream(st.list(o.getParent())).map(FileStatus::getPath).map(Path::getName).filter(n -> n.startsWith(".")).toList();
    }

    @Test
    void onHdfsAsTheDefaultFilesystemCommandsGiveTheLocalResultsThroughExecutorAndDriverKills() throws Exception {
        String train = "csv:" + hdfs + "/data/digits-train.csv.gz", test = "csv:" + hdfs + "/data/digits-test.csv.gz";
        // paths without a scheme are on the default filesystem, HDFS: local files are file:
        String localTrain = "csv:" + BASE.resolve("data/digits/digits-train.csv.gz"), localTest = "csv:" + BASE.resolve("data/digits/digits-test.csv.gz");

        // training with HDFS as the default filesystem: data read from HDFS, the minibatches cached on the executors
        String model = hdfs + "/models/trained", afterKill = hdfs + "/models/trained-after-kill";
        String[] job = {"train", "--data", train, "--arch", "mlp:32", "--epochs", "3", "--normalize", "minmax",
                "--lr", "0.01", "--batch", "32", "--sync-every", "5", "--seed", "7", "--eval-data", test};
        // with it, a deterministic job on HDFS (below: the same packed files as locally), in one application
        String dense = "file:" + FIXTURES.resolve("dense"), q = hdfs + "/models/int8", ql = dir.resolve("int8-local").toString();
        SparkHome.Run t = StandaloneClusterIT.batch(cluster, onHdfs(), append(job, "--out", model),
                new String[]{"quantize", "--model", dense, "--mode", "static", "--bits", "8", "--calib-data", train, "--eval-data", test, "--out", q});
        assertTrue(t.err().contains("epoch 3/3") && t.err().contains(" workers, one barrier stage for epochs 2-3; fitting "), t.err());
        Manifest trained = Artifact.load(st, model).manifest();
        assertTrue((Double) trained.metrics().get("accuracy") > 0.8, "a trained model");
        // the same training on local[2]: test accuracy within the suites' tolerance
        String[] localJob = job.clone();
        localJob[2] = localTrain;
        localJob[localJob.length - 1] = localTest;
        StandaloneClusterIT.local(append(localJob, "--out", dir.resolve("trained-local").toString()));
        double localAccuracy = (Double) Artifact.load(st, dir.resolve("trained-local").toString()).manifest().metrics().get("accuracy");
        assertEquals(localAccuracy, (Double) trained.metrics().get("accuracy"), 0.1, "train on HDFS vs local[2]");
        // kill -9 of an executor in the middle of a round: its cached minibatches are rebuilt and the round runs again, same weights
        SparkHome.Run k = submitKillingAnExecutor(onHdfs(), append(job, "--out", afterKill));
        assertTrue(k.err().contains("epoch 3/3"), k.err());
        assertTrue(k.err().contains("barrier stage failed") && k.err().contains(" again, attempt 2 of 4"), k.err());
        assertEquals(Artifact.modelSha256(trained), Artifact.modelSha256(Artifact.load(st, afterKill).manifest()), "the same weights after the kill");
        assertEquals(List.of(), leftovers(new Path(hdfs + "/")), "no training files left on HDFS");

        // the deterministic job on HDFS: the same packed files as locally
        StandaloneClusterIT.local("quantize", "--model", dense, "--mode", "static", "--bits", "8", "--calib-data", localTrain, "--eval-data", localTest, "--out", ql);
        assertEquals(TestArtifacts.packed(ql), TestArtifacts.packed(Artifact.load(st, q).manifest()));

        // soft targets with an executor killed mid-task: the same logits as a local run
        String soft = hdfs + "/soft/dense", softLocal = dir.resolve("soft-local").toString();
        submitKillingAnExecutor(onHdfs(), "soft-targets", "--teacher", dense, "--data", train, "--out", soft);
        StandaloneClusterIT.local("soft-targets", "--teacher", dense, "--data", localTrain, "--out", softLocal);
        Map<Long, List<Object>> expected = logits(softLocal);
        assertEquals(1438, expected.size());
        assertEquals(expected, logits(soft));

        // the driver killed after the executors wrote their parts, before the output is renamed into place: nothing
        // appears at the output; the rerun removes the crashed run's hidden sibling and publishes
        String again = hdfs + "/soft/again";
        SparkHome.Run killed = cluster.start(onHdfs(), "-Dsqueeze.pause=" + FaultPoint.BEFORE_RENAME, "",
                "soft-targets", "--teacher", dense, "--data", train, "--out", again).killAt(PAUSED + FaultPoint.BEFORE_RENAME);
        assertEquals(137, killed.code());
        assertFalse(st.exists(st.path(again)), "nothing at the output path");
        assertEquals(1, hidden(again).size(), "the crashed run's parts: " + hidden(again));
        submit(onHdfs(), "soft-targets", "--teacher", dense, "--data", train, "--out", again);
        assertEquals(List.of(), hidden(again), "the rerun removed the leftovers");
        assertEquals(expected, logits(again));
    }

    @Test
    void withS3AndNoHdfsTrainingAndFineTuningRunAndAKilledExecutorChangesNothing() throws Exception {
        String train = "csv:" + s3.bucket() + "/data/digits-train.csv.gz", test = "csv:" + s3.bucket() + "/data/digits-test.csv.gz";
        String[] job = {"train", "--data", train, "--arch", "mlp:32", "--epochs", "2", "--normalize", "minmax", "--lr", "0.01", "--batch", "32",
                "--sync-every", "5", "--seed", "7", "--eval-data", test};
        String clean = s3.bucket() + "/models/clean", afterKill = s3.bucket() + "/models/after-kill";
        // in one application: training, fine-tuning after pruning S3 to S3, and a Keras functional graph (an add, a
        // concatenation, BN) quantized into a graph artifact on S3, read back and evaluated from S3 in the executors
        String pruned = s3.bucket() + "/models/pruned";
        String keras = "file:" + BASE.resolve("src/test/resources/keras/functional-residual.h5");
        var ref = new com.fasterxml.jackson.databind.ObjectMapper().readTree(java.nio.file.Files.readAllBytes(BASE.resolve("src/test/resources/keras/functional-residual-expected.json")));
        String rows = "csv:file:" + java.nio.file.Files.writeString(dir.resolve("residual-in.csv"), io.squeeze.model.KerasImportTest.labelledCsv(ref));
        String gq = s3.bucket() + "/models/residual-int8", gql = dir.resolve("residual-int8-local").toString();
        java.nio.file.Path ec = dir.resolve("residual-int8-eval-s3.json"), el = dir.resolve("residual-int8-eval-local.json");
        StandaloneClusterIT.batch(cluster, onS3(), append(job, "--out", clean),
                new String[]{"prune", "--model", clean, "--method", "global", "--amount", "0.5", "--fine-tune-data", train, "--fine-tune-epochs", "2",
                        "--fine-tune-lr", "0.005", "--sync-every", "5", "--eval-data", test, "--out", pruned},
                new String[]{"quantize", "--model", keras, "--mode", "static", "--calib-data", rows, "--out", gq},
                new String[]{"evaluate", "--model", gq, "--data", rows, "--report", "file:" + ec});
        // kill -9 of an executor in the middle of a training epoch: the epoch's barrier stage runs again, same weights
        SparkHome.Run r = submitKillingAnExecutor(onS3(), append(job, "--out", afterKill));
        assertTrue(r.err().contains("epoch 2/2"), r.err());
        assertTrue(r.err().contains("barrier stage failed") && r.err().contains(" again, attempt 2 of 4"), r.err());
        Manifest a = Artifact.load(st, clean).manifest(), b = Artifact.load(st, afterKill).manifest();
        assertEquals(Artifact.modelSha256(a), Artifact.modelSha256(b), "the same weights");
        double accuracy = (Double) a.metrics().get("accuracy");
        assertTrue(accuracy > 0.8, "a trained model: " + accuracy);
        assertEquals(accuracy, b.metrics().get("accuracy"));

        // fine-tuning after pruning, S3 to S3
        Manifest p = Artifact.load(st, pruned).manifest();
        assertTrue((Double) p.metrics().get("accuracy") > accuracy - 0.1, "fine-tuned: " + p.metrics());
        assertEquals(List.of(), leftovers(new Path(s3.bucket() + "/")), "no training files left on S3");

        // the Keras graph: the same integers as a local run's, evaluated from S3 in the executors as locally
        StandaloneClusterIT.local("quantize", "--model", keras, "--mode", "static", "--calib-data", rows, "--out", gql);
        Artifact onS3 = Artifact.load(st, gq);
        assertTrue(onS3.model().isGraph() && onS3.manifest().formatVersion() == 3, onS3.manifest().toString());
        io.squeeze.quantize.GraphQuantTest.assertSameQuantization(Artifact.load(st, gql).quant(), onS3.quant());
        StandaloneClusterIT.local("evaluate", "--model", gql, "--data", rows, "--report", el.toString());
        var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
        com.fasterxml.jackson.databind.JsonNode es = mapper.readTree(java.nio.file.Files.readAllBytes(ec)), eloc = mapper.readTree(java.nio.file.Files.readAllBytes(el));
        assertEquals("integer", es.get("accuracy_path").asText());
        assertEquals(eloc.get("accuracy"), es.get("accuracy"));
        assertEquals(eloc.get("loss").asDouble(), es.get("loss").asDouble(), 1e-9);
    }

    /** Training's temporary files (the exported minibatches of DL4J's training before session 28, {@code squeeze-train-*}) anywhere under {@code root}. */
    static List<String> leftovers(Path root) throws Exception {
        List<String> out = new ArrayList<>();
        var it = root.getFileSystem(conf).listFiles(root, true);
        while (it.hasNext()) {
            String p = it.next().getPath().toString();
            if (p.contains("squeeze-train-") || p.contains("/dl4j/")) out.add(p);
        }
        return out;
    }

    static Map<Long, List<Object>> logits(String path) {
        return StandaloneClusterIT.logits(path);
    }

    static String[] append(String[] a, String... more) {
        return StandaloneClusterIT.append(a, more);
    }
}
