package io.squeeze.cluster;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * Class-data sharing for the cluster tests' short jobs (JEP 350, dynamic CDS archives): one warm-up job on a
 * standalone cluster archives the classes its driver and one of its executors loaded; every later driver and
 * executor JVM of a {@code spark://} submission maps them instead of reading, parsing and verifying them again. On
 * two cores a job's fixed cost falls from about 16 s to 9 s (an {@code evaluate} of the digits), and the suites run
 * some fifty jobs. Results cannot change: only how classes are loaded does.
 *
 * <p>The JVM archives a class path only without non-empty directories on it, hence the distribution's empty
 * {@code conf/} ({@link SparkHome}). A JVM whose class path does not match (a YARN container, a client-mode driver
 * with {@code HADOOP_CONF_DIR} on it) or that finds no archive runs as it would without, and its CDS warnings are
 * silenced: they would go to the job's stdout. The archives live under {@code target/cluster/cds} and are made again
 * after {@code mvn clean}; a class of the job jar whose bytes changed since is not taken from them (the JVM compares
 * each archived class file's size and CRC).
 */
final class ClassDataSharing {
    static final Path DIR = SparkHome.TARGET.resolve("cluster/cds");
    static final Path DRIVER = DIR.resolve("driver.jsa"), EXECUTOR = DIR.resolve("executor.jsa");
    private static final String QUIET = " -Xlog:cds=off -Xlog:cds+dynamic=off";

    private ClassDataSharing() {}

    /** JVM options that map the driver's archive, or none before the warm-up. */
    static String driver() {
        return Files.exists(DRIVER) ? "-XX:SharedArchiveFile=" + DRIVER + QUIET : "";
    }

    /** JVM options that map the executors' archive, or none before the warm-up. */
    static String executor() {
        return Files.exists(EXECUTOR) ? "-XX:SharedArchiveFile=" + EXECUTOR + QUIET : "";
    }

    /**
     * Makes the archives once per build: a recipe that trains on the executors (pruning with a fine-tuning epoch),
     * calibrates, quantizes and evaluates, so that most of what later jobs load is in them. The driver archives its
     * classes when it exits; the executors when the Worker stops them, after that: this waits for those too. Failing
     * here only costs time, so a failure is reported and the suite goes on without archives.
     */
    static void warmUp(StandaloneCluster cluster) throws IOException, InterruptedException {
        if (Files.exists(DRIVER) && Files.exists(EXECUTOR)) return;
        Path dump = Files.createDirectories(DIR.resolve("dump"));
        Path digits = SparkHome.BASE.resolve("data/digits"), out = DIR.resolve("warm-up");
        StandaloneCluster.deleteTree(out);
        Path recipe = Files.writeString(DIR.resolve("warm-up.yaml"), """
                model: %s
                data: {train: "csv:%s", eval: "csv:%s"}
                stages:
                  - prune: {method: global, amount: 0.5, fine-tune-epochs: 1, sync-every: 5}
                  - quantize: {mode: static, bits: 8}
                """.formatted(SparkHome.BASE.resolve("src/test/resources/fixtures/artifacts-v1/dense"), digits.resolve("digits-train.csv.gz"),
                digits.resolve("digits-test.csv.gz")));
        long start = System.nanoTime();
        SparkHome.Run r = cluster.start(List.of(), "-XX:ArchiveClassesAtExit=" + dump.resolve("driver.jsa"),
                "-XX:ArchiveClassesAtExit=" + dump.resolve("executor-{{EXECUTOR_ID}}.jsa"), "run", recipe.toString(), "--out", out.toString()).await();
        long until = System.nanoTime() + 90_000_000_000L;
        while (executorsArchiving() && System.nanoTime() < until) Thread.sleep(200);
        Path d = dump.resolve("driver.jsa"), e = dump.resolve("executor-0.jsa");
        if (r.code() != 0 || !Files.exists(d) || !Files.exists(e) || executorsArchiving()) {
            System.err.println("cluster tests: no class-data sharing archives (warm-up exit " + r.code() + "), the jobs load their classes as usual\n" + r.err());
            return;
        }
        Files.move(e, EXECUTOR, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        Files.move(d, DRIVER, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        StandaloneCluster.deleteTree(dump);
        StandaloneCluster.deleteTree(out);
        System.err.printf("cluster tests: class-data sharing archives made in %.0f s%n", (System.nanoTime() - start) / 1e9);
    }

    private static boolean executorsArchiving() {
        return ProcessHandle.allProcesses().anyMatch(h -> StandaloneCluster.commandLine(h)
                .map(c -> c.contains("CoarseGrainedExecutorBackend") && c.contains("ArchiveClassesAtExit")).orElse(false));
    }
}
