package io.squeeze.cluster;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A Spark standalone cluster on 127.0.0.1 for the tests, from the {@link SparkHome} distribution: a Master and a
 * Worker as child processes, and executors in JVMs of their own. Commands run as real {@code spark-submit}s of the
 * built job jar from a driver JVM of their own ({@link #submit}).
 */
public final class StandaloneCluster implements AutoCloseable {
    static final Path BASE = SparkHome.BASE;
    static final Path TARGET = SparkHome.TARGET;

    private final SparkHome spark;
    private final Path logs;
    private final String master;
    private final int executors;
    private final List<Process> processes = new ArrayList<>();
    private final java.util.Set<Path> killed = new java.util.HashSet<>();

    /**
     * Starts a Master and a Worker offering {@code executors} single-core executors, and makes the class-data sharing
     * archives the test jobs use if this build has none yet ({@link ClassDataSharing}).
     */
    public StandaloneCluster(int executors) throws IOException, InterruptedException {
        this(executors, freePort());
        ClassDataSharing.warmUp(this);
    }

    /** As above, the Master on {@code port} of 127.0.0.1, without the archives (the cluster {@code jobs/cluster} starts). */
    public StandaloneCluster(int executors, int port) throws IOException, InterruptedException {
        this.executors = executors;
        Path root = TARGET.resolve("cluster");
        spark = SparkHome.get();
        // the executors' directories of earlier runs: killExecutorAt reads the ones of this cluster only
        deleteTree(root.resolve("work"));
        logs = Files.createDirectories(root.resolve("logs"));
        master = "spark://127.0.0.1:" + port;
        // every daemon's port chosen here, distinct from the Master's: a Worker left to pick its own port once took the
        // Master's before the Master bound it (the Master moved to the next port, the Worker never found it)
        int[] ports = freePorts(3, port);
        start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", Integer.toString(port),
                "--webui-port", Integer.toString(ports[0]));
        await(logs.resolve("master.log"), "Successfully started service 'sparkMaster' on port " + port, Duration.ofSeconds(90));
        start("worker", "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--port", Integer.toString(ports[1]), "--cores",
                Integer.toString(executors), "--memory", (executors * 2) + "g", "--webui-port", Integer.toString(ports[2]), "--work-dir",
                root.resolve("work").toString(), master);
        await(logs.resolve("worker.log"), "Successfully registered with master", Duration.ofSeconds(90));
    }

    private StandaloneCluster(SparkHome spark, String master, int executors) {
        this.spark = spark;
        this.master = master;
        this.executors = executors;
        this.logs = TARGET.resolve("cluster/logs");
    }

    /**
     * A cluster started elsewhere ({@code jobs/cluster up}), on this machine: closing it leaves it running. Makes the
     * archives if this build has none yet.
     */
    public static StandaloneCluster attach(String master, int executors) throws IOException, InterruptedException {
        StandaloneCluster cluster = new StandaloneCluster(SparkHome.get(), master, executors);
        ClassDataSharing.warmUp(cluster);
        return cluster;
    }

    public String master() {
        return master;
    }

    private void start(String name, String mainClass, String... args) throws IOException {
        processes.add(spark.daemon(logs.resolve(name + ".log"), mainClass, args));
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }

    /** {@code n} ports free now, distinct from each other and from {@code taken} (held open together while chosen). */
    static int[] freePorts(int n, int taken) throws IOException {
        List<ServerSocket> held = new ArrayList<>();
        try {
            int[] out = new int[n];
            for (int i = 0; i < n; ) {
                ServerSocket s = new ServerSocket(0);
                held.add(s);
                if (s.getLocalPort() != taken) out[i++] = s.getLocalPort();
            }
            return out;
        } finally {
            for (ServerSocket s : held) s.close();
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    static void await(Path log, String line, Duration timeout) throws IOException, InterruptedException {
        long until = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < until) {
            if (Files.exists(log) && Files.readString(log, StandardCharsets.UTF_8).contains(line)) return;
            Thread.sleep(200);
        }
        throw new IllegalStateException("no '" + line + "' in " + log + " after " + timeout);
    }

    /**
     * {@code jobs/submit --master spark://… [options…] -- args…} on this cluster (two single-core executors of 1 GB
     * unless the options say otherwise), waiting for its end.
     */
    public SparkHome.Run submit(List<String> submitOptions, String... args) throws IOException, InterruptedException {
        return start(submitOptions, "", "", args).await();
    }

    /** As {@link #submit}, without waiting, with further system properties for the driver and the executors. */
    public SparkHome.Submission start(List<String> submitOptions, String driverProperties, String executorProperties, String... args) throws IOException {
        List<String> options = new ArrayList<>(List.of("--conf", "spark.executor.cores=1", "--conf", "spark.executor.memory=1g",
                "--conf", "spark.cores.max=" + executors));
        options.addAll(submitOptions);
        return spark.submit(master, Map.of(), options, driverProperties, executorProperties, args);
    }

    /**
     * Waits until an executor prints {@code line} on its stderr (in the Worker's work directory), then kills that
     * executor JVM with SIGKILL; returns its {@code app-…/N} directory name.
     */
    public String killExecutorAt(String line, Duration timeout) throws IOException, InterruptedException {
        Path work = TARGET.resolve("cluster/work");
        long until = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < until) {
            List<Path> hits = List.of();
            if (Files.exists(work)) {
                try (var s = Files.walk(work, 3)) {
                    hits = s.filter(p -> p.getFileName().toString().equals("stderr") && !killed.contains(p)).filter(p -> {
                        try {
                            return Files.readString(p).contains(line);
                        } catch (IOException e) {
                            return false;
                        }
                    }).toList();
                } catch (java.io.UncheckedIOException e) {
                    // a finished application's directory removed by the Worker while it was walked: look again
                    if (!(e.getCause() instanceof java.nio.file.NoSuchFileException)) throw e;
                }
            }
            for (Path hit : hits) {
                Path dir = hit.getParent();
                String app = dir.getParent().getFileName().toString(), id = dir.getFileName().toString();
                // the executor JVM that wrote it, if it still runs (a stopped application's executors are gone)
                var jvm = ProcessHandle.allProcesses().filter(h -> commandLine(h).map(c ->
                        c.contains("CoarseGrainedExecutorBackend") && c.contains("--app-id " + app) && c.contains("--executor-id " + id + " ")).orElse(false)).findFirst();
                killed.add(hit);
                if (jvm.isEmpty()) continue;
                jvm.get().destroyForcibly();
                return app + "/" + id;
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException("no executor printed '" + line + "' in " + timeout);
    }

    /**
     * A process's whole command line, from {@code /proc}. {@code ProcessHandle.Info.commandLine()} reads one page of
     * it on Linux, which an executor's (the JVM flags thrice over, then Spark's arguments) outgrows.
     */
    static java.util.Optional<String> commandLine(ProcessHandle h) {
        try {
            return java.util.Optional.of(new String(Files.readAllBytes(Path.of("/proc", Long.toString(h.pid()), "cmdline")), StandardCharsets.UTF_8).replace('\0', ' '));
        } catch (IOException | RuntimeException e) {
            return java.util.Optional.empty(); // gone, or not ours to read
        }
    }

    /** The Master's log so far (applications register there by name). */
    public String masterLog() throws IOException {
        return Files.readString(logs.resolve("master.log"));
    }

    /** How many executor JVMs the Worker launched for applications so far (their stderr files). */
    public long executorLaunches() throws IOException {
        Path work = TARGET.resolve("cluster/work");
        if (!Files.exists(work)) return 0;
        try (var s = Files.walk(work)) {
            return s.filter(p -> p.getFileName().toString().equals("stderr")).count();
        }
    }

    @Override
    public void close() {
        for (int i = processes.size() - 1; i >= 0; i--) {
            Process p = processes.get(i);
            p.destroy();
            try {
                if (!p.waitFor(20, TimeUnit.SECONDS)) p.destroyForcibly();
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}
