package io.squeeze.cluster;

import io.squeeze.core.FaultPoint;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Class-data sharing for the cluster tests' short jobs (JEP 350, dynamic CDS archives): one warm-up job on a
 * standalone cluster archives the classes its driver and one of its executors loaded; every later driver and
 * executor JVM of a {@code spark://} submission maps them instead of reading, parsing and verifying them again. On
 * two cores an {@code evaluate} of the digits as an application of its own takes 26–28 s instead of 34–38 s
 * (measured 2026-12-05). Results cannot change: only how classes are loaded does.
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
    /** Lets {@code jcmd} archive a running JVM's classes. */
    private static final String RECORD = "-XX:+RecordDynamicDumpInfo";

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
     * calibrates, quantizes and evaluates, so that most of what later jobs load is in them. The warm-up's driver stops
     * when its command is done, before its Spark session ends ({@code -Dsqueeze.pause=done}); then {@code jcmd … VM.cds
     * dynamic_dump} archives what the driver and an executor loaded, each JVM alive and idle ({@code
     * -XX:+RecordDynamicDumpInfo}), and the driver is killed. (Archiving at exit, {@code -XX:ArchiveClassesAtExit},
     * failed for the executors: the Worker kills an executor 10 s after asking it to stop, and on two slow cores its
     * dump took longer, every time.) Each archive is kept only if a JVM with the same class path maps it
     * ({@code -Xshare:on}); the warm-up gets a second try. Failing here only costs time: a failure is reported and the
     * suite goes on without that archive.
     */
    static void warmUp(StandaloneCluster cluster) throws IOException, InterruptedException {
        if (Files.exists(DRIVER) && Files.exists(EXECUTOR)) return;
        long start = System.nanoTime();
        Path dump = Files.createDirectories(DIR.resolve("dump"));
        for (int attempt = 0; attempt < 2 && !(Files.exists(DRIVER) && Files.exists(EXECUTOR)); attempt++) {
            Path out = DIR.resolve("warm-up");
            StandaloneCluster.deleteTree(out);
            String paused = "squeeze: paused at " + FaultPoint.DONE;
            SparkHome.Submission s = cluster.start(List.of(), RECORD + " -Dsqueeze.pause=" + FaultPoint.DONE, RECORD, "run", recipe().toString(), "--out", out.toString());
            if (!s.awaitLine(paused, java.time.Duration.ofMinutes(10))) {
                s.process().destroyForcibly(); // timed out: not left running (an ended driver is unaffected)
                SparkHome.Run r = s.await();
                System.err.println("cluster tests: the class-data sharing warm-up failed (exit " + r.code() + ")\n" + r.err());
                continue;
            }
            Optional<ProcessHandle> executor = ProcessHandle.allProcesses().filter(h -> StandaloneCluster.commandLine(h)
                    .map(c -> c.contains("CoarseGrainedExecutorBackend") && c.contains(RECORD)).orElse(false)).findFirst();
            if (!Files.exists(EXECUTOR) && executor.isPresent()) archive(executor.get().pid(), dump.resolve("executor.jsa"), EXECUTOR);
            if (!Files.exists(DRIVER)) archive(s.process().pid(), dump.resolve("driver.jsa"), DRIVER);
            s.killAt(paused);
            StandaloneCluster.deleteTree(out);
        }
        StandaloneCluster.deleteTree(dump);
        System.err.printf("cluster tests: class-data sharing archives %s in %.0f s%n",
                Files.exists(DRIVER) && Files.exists(EXECUTOR) ? "made" : "NOT all made (jobs load those classes as usual)", (System.nanoTime() - start) / 1e9);
    }

    private static Path recipe() throws IOException {
        Path digits = SparkHome.BASE.resolve("data/digits");
        return Files.writeString(DIR.resolve("warm-up.yaml"), """
                model: %s
                data: {train: "csv:%s", eval: "csv:%s"}
                stages:
                  - prune: {method: global, amount: 0.5, fine-tune-epochs: 1, sync-every: 5}
                  - quantize: {mode: static, bits: 8}
                """.formatted(SparkHome.BASE.resolve("src/test/resources/fixtures/artifacts-v1/dense"), digits.resolve("digits-train.csv.gz"),
                digits.resolve("digits-test.csv.gz")));
    }

    /** {@code jcmd PID VM.cds dynamic_dump}, then {@link #keepIfMapped}. */
    private static void archive(long pid, Path archive, Path to) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(), Long.toString(pid), "VM.cds", "dynamic_dump",
                archive.toString()).redirectErrorStream(true).start();
        String said = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0 || !Files.exists(archive)) {
            p.destroyForcibly();
            System.err.println("cluster tests: jcmd did not archive " + archive.getFileName() + ":\n" + said.strip());
            return;
        }
        keepIfMapped(archive, to);
    }

    /** Moves {@code archive} to {@code to} if a JVM of the tests' class path maps it whole. */
    private static void keepIfMapped(Path archive, Path to) throws IOException, InterruptedException {
        Path home = SparkHome.get().path();
        Process p = new ProcessBuilder(SparkHome.java(), "-XX:SharedArchiveFile=" + archive, "-Xshare:on",
                "-cp", home.resolve(SparkHome.EMPTY_CONF) + "/:" + home.resolve("jars") + "/*", "-version").redirectErrorStream(true).start();
        String said = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() == 0) Files.move(archive, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        else System.err.println("cluster tests: a JVM of the tests' class path does not map " + archive.getFileName() + ":\n" + said.strip());
    }
}
