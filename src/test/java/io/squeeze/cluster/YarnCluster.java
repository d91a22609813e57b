package io.squeeze.cluster;

import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A YARN cluster on 127.0.0.1 for the tests: Hadoop's {@code MiniYARNCluster} (a ResourceManager and one
 * NodeManager in this JVM; every container — the application master, the executors, in cluster mode the driver —
 * is a JVM of its own launched by the NodeManager). Commands run as real {@code spark-submit --master yarn} of the
 * built job jar ({@link #submit}), with {@code HADOOP_CONF_DIR} pointing at the cluster's {@code yarn-site.xml} and
 * Spark's jars taken from the {@link SparkHome} on the node ({@code spark.yarn.jars=local:…}) instead of uploaded
 * with every application.
 */
public final class YarnCluster implements AutoCloseable {
    private final MiniYARNCluster yarn;
    private final SparkHome spark;
    private final Path confDir;

    /** Starts a ResourceManager and a NodeManager with room for an application master and two 1-core executors. */
    public YarnCluster() throws IOException, InterruptedException {
        spark = SparkHome.get();
        YarnConfiguration conf = new YarnConfiguration();
        // one queue, first come first served: the capacity scheduler's queue file is not on this classpath
        conf.set(YarnConfiguration.RM_SCHEDULER, org.apache.hadoop.yarn.server.resourcemanager.scheduler.fifo.FifoScheduler.class.getName());
        conf.setInt(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, 256);
        conf.setInt(YarnConfiguration.NM_PMEM_MB, 8192);
        conf.setInt(YarnConfiguration.NM_VCORES, 4);
        // ND4J's native memory lives outside the heap YARN sizes containers by; a real cluster raises
        // spark.executor.memoryOverhead instead, this one does not police memory at all
        conf.setBoolean(YarnConfiguration.NM_PMEM_CHECK_ENABLED, false);
        conf.setBoolean(YarnConfiguration.NM_VMEM_CHECK_ENABLED, false);
        // a nearly full disk must not mark the only node unhealthy
        conf.setFloat(YarnConfiguration.NM_MAX_PER_DISK_UTILIZATION_PERCENTAGE, 100.0f);
        conf.set(YarnConfiguration.RM_HOSTNAME, "127.0.0.1");
        conf.set("yarn.nodemanager.hostname", "127.0.0.1");
        yarn = new MiniYARNCluster("squeeze-it", 1, 1, 1);
        yarn.init(conf);
        yarn.start();
        long until = System.nanoTime() + 60_000_000_000L;
        while (yarn.getResourceManager().getRMContext().getRMNodes().isEmpty()) {
            if (System.nanoTime() > until) throw new IllegalStateException("no NodeManager registered with the ResourceManager");
            Thread.sleep(200);
        }
        confDir = Files.createDirectories(SparkHome.TARGET.resolve("cluster/yarn-conf"));
        try (OutputStream out = Files.newOutputStream(confDir.resolve("yarn-site.xml"))) {
            yarn.getConfig().writeXml(out);
        }
    }

    /**
     * {@code jobs/submit --master yarn [options…] -- args…} (client mode unless the options say
     * {@code --deploy-mode cluster}), two single-core executors of 1 GB, waiting for its end.
     */
    public SparkHome.Run submit(List<String> submitOptions, String... args) throws IOException, InterruptedException {
        List<String> options = new ArrayList<>(List.of("--num-executors", "2", "--executor-cores", "1", "--executor-memory", "1g",
                "--driver-memory", "1g", "--conf", "spark.yarn.jars=local:" + spark.path().resolve("jars") + "/*",
                "--conf", "spark.yarn.am.memory=512m",
                // ND4J's native libraries unpacked once for every container, not once per container
                "--conf", "spark.driver.extraJavaOptions=" + SparkHome.SHORT_JOB_JIT + " -Dorg.bytedeco.javacpp.cachedir=" + SparkHome.TARGET.resolve("javacpp-cache"),
                "--conf", "spark.yarn.am.extraJavaOptions=" + SparkHome.SHORT_JOB_JIT));
        options.addAll(submitOptions);
        return spark.submit("yarn", Map.of("HADOOP_CONF_DIR", confDir.toString(), "YARN_CONF_DIR", confDir.toString()), options, "", "", args).await();
    }

    /** How many applications finished (their final state as the ResourceManager saw it), e.g. {@code SUCCEEDED}. */
    public List<String> finalStates() {
        return yarn.getResourceManager().getRMContext().getRMApps().values().stream()
                .map(a -> a.getName() + " " + a.getFinalApplicationStatus()).toList();
    }

    @Override
    public void close() {
        yarn.stop();
    }
}
