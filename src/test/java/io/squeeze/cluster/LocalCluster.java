package io.squeeze.cluster;

import io.squeeze.storage.TestHdfs;
import org.apache.hadoop.hdfs.MiniDFSCluster;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code jobs/cluster up}: the cluster the tests use, for users to try {@code jobs/submit} on one machine — a Spark
 * standalone Master and Worker (two single-core executors of 1 GB) and an HDFS of two datanodes, all on 127.0.0.1.
 * Writes {@code target/cluster/cluster.env} (the master URL, the HDFS URI, the {@code SPARK_HOME} whose
 * {@code bin/spark-submit} {@code jobs/submit} needs) once everything is up, then runs until it is stopped
 * ({@code jobs/cluster down}), taking the cluster down with it. HDFS is formatted anew at every start.
 *
 * <p>Arguments: the Master's port (7077) and the NameNode's (9000).
 */
public final class LocalCluster {
    private LocalCluster() {}

    public static void main(String[] args) throws Exception {
        int sparkPort = args.length > 0 ? Integer.parseInt(args[0]) : 7077, hdfsPort = args.length > 1 ? Integer.parseInt(args[1]) : 9000;
        Path root = Files.createDirectories(SparkHome.TARGET.resolve("cluster"));
        Path env = root.resolve("cluster.env");
        Files.deleteIfExists(env);
        MiniDFSCluster dfs = TestHdfs.start(root.resolve("hdfs").toFile(), 2, hdfsPort);
        StandaloneCluster spark = new StandaloneCluster(2, sparkPort);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            spark.close();
            dfs.shutdown();
            try {
                Files.deleteIfExists(env);
            } catch (java.io.IOException e) {
                // the next start replaces it
            }
        }));
        Files.writeString(env, String.join("\n", "SPARK_MASTER=" + spark.master(), "HDFS=hdfs://127.0.0.1:" + dfs.getNameNodePort(),
                "SPARK_HOME=" + SparkHome.get().path(), "PID=" + ProcessHandle.current().pid(), ""));
        System.out.println("cluster up: " + spark.master() + ", hdfs://127.0.0.1:" + dfs.getNameNodePort());
        Thread.currentThread().join();
    }
}
