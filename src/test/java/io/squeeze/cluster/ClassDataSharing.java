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
     * Makes the archives once per build, from a recipe that trains on the executors (pruning with a fine-tuning epoch),
     * calibrates, quantizes and evaluates, so that most of what later jobs load is in them. The executor's archive
     * first, from a run with one executor: an executor writes its archive when the Worker stops it, and the Worker
     * kills it 10 s later, so it must not share the two cores with another executor's or the driver's dump (measured:
     * under load the dumps were cut short). Then the driver's, whose own exit writes it. Each archive is kept only if a
     * JVM with the same class path maps it ({@code -Xshare:on}); each gets a second try. Failing here only costs time:
     * a failure is reported and the suite goes on without that archive.
     */
    static void warmUp(StandaloneCluster cluster) throws IOException, InterruptedException {
        if (Files.exists(DRIVER) && Files.exists(EXECUTOR)) return;
        long start = System.nanoTime();
        Path dump = Files.createDirectories(DIR.resolve("dump"));
        for (int attempt = 0; attempt < 2 && !Files.exists(EXECUTOR); attempt++) {
            Path e = dump.resolve("executor-" + attempt + ".jsa");
            // one executor: {{EXECUTOR_ID}} would be 0, but a retry gets a file of its own
            SparkHome.Run r = run(cluster, List.of("--conf", "spark.cores.max=1"), "", "-XX:ArchiveClassesAtExit=" + e);
            long until = System.nanoTime() + 60_000_000_000L;
            while (executorsArchiving() && System.nanoTime() < until) Thread.sleep(200);
            keepIfMapped(r, e, EXECUTOR);
        }
        for (int attempt = 0; attempt < 2 && !Files.exists(DRIVER); attempt++) {
            Path d = dump.resolve("driver-" + attempt + ".jsa");
            keepIfMapped(run(cluster, List.of(), "-XX:ArchiveClassesAtExit=" + d, ""), d, DRIVER);
        }
        StandaloneCluster.deleteTree(dump);
        System.err.printf("cluster tests: class-data sharing archives %s in %.0f s%n",
                Files.exists(DRIVER) && Files.exists(EXECUTOR) ? "made" : "NOT all made (jobs load those classes as usual)", (System.nanoTime() - start) / 1e9);
    }

    private static SparkHome.Run run(StandaloneCluster cluster, List<String> options, String driver, String executor) throws IOException, InterruptedException {
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
        SparkHome.Run r = cluster.start(options, driver, executor, "run", recipe.toString(), "--out", out.toString()).await();
        StandaloneCluster.deleteTree(out);
        return r;
    }

    /** Moves {@code archive} to {@code to} if the warm-up succeeded and a JVM of the tests' class path maps it whole. */
    private static void keepIfMapped(SparkHome.Run warmUp, Path archive, Path to) throws IOException, InterruptedException {
        if (warmUp.code() != 0) {
            System.err.println("cluster tests: the class-data sharing warm-up failed (exit " + warmUp.code() + ")\n" + warmUp.err());
            return;
        }
        if (!Files.exists(archive)) return;
        Path home = SparkHome.get().path();
        Process p = new ProcessBuilder(SparkHome.java(), "-XX:SharedArchiveFile=" + archive, "-Xshare:on",
                "-cp", home.resolve(SparkHome.EMPTY_CONF) + "/:" + home.resolve("jars") + "/*", "-version").redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (p.waitFor() == 0) Files.move(archive, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private static boolean executorsArchiving() {
        return ProcessHandle.allProcesses().anyMatch(h -> StandaloneCluster.commandLine(h)
                .map(c -> c.contains("CoarseGrainedExecutorBackend") && c.contains("ArchiveClassesAtExit")).orElse(false));
    }
}
