package io.squeeze.cluster;

import java.io.File;
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
 * A Spark standalone cluster on 127.0.0.1 for the tests, from Maven Central jars only: a {@code SPARK_HOME} under
 * {@code target/cluster} holding a {@code RELEASE} file and {@code jars/} (Spark's own dependency tree, resolved by
 * {@code src/test/cluster/spark-distribution.xml}: the Worker builds executor classpaths from it), a Master and a
 * Worker as child processes, and executors in JVMs of their own. Commands run as real {@code spark-submit}s of the
 * built job jar from a driver JVM of their own ({@link #submit}).
 */
public final class StandaloneCluster implements AutoCloseable {
    static final Path BASE = Path.of(System.getProperty("squeeze.basedir", ".")).toAbsolutePath();
    static final Path TARGET = BASE.resolve("target");
    static final String JVM_FLAGS = System.getProperty("squeeze.jvmFlags", "");

    /** One run of a command: exit code and its output. */
    public record Run(int code, String out, String err) {
        public String lastErr() {
            String[] lines = err.strip().split("\n");
            return lines[lines.length - 1];
        }
    }

    private final Path home, logs;
    private final String master;
    private final int executors;
    private final List<Process> processes = new ArrayList<>();

    /** Starts a Master and a Worker offering {@code executors} single-core executors. */
    public StandaloneCluster(int executors) throws IOException, InterruptedException {
        this.executors = executors;
        Path root = TARGET.resolve("cluster");
        home = root.resolve("spark");
        logs = root.resolve("logs");
        Files.createDirectories(home.resolve("jars"));
        Files.createDirectories(logs);
        Files.writeString(home.resolve("RELEASE"), "Spark 3.5.9 built for Hadoop 3.3.4 (jars from Maven Central, for Squeeze's cluster tests)\n");
        // bin/spark-submit as a distribution's bin/spark-class runs it: Spark's launcher builds the driver's command
        // (SPARK_SUBMIT_OPTS, then -Xmx from --driver-memory / spark.driver.memory) and the script runs it
        Path bin = Files.createDirectories(home.resolve("bin"));
        Files.writeString(bin.resolve("spark-submit"), String.join("\n", "#!/usr/bin/env bash",
                "# as Spark's bin/spark-class: the launcher prints a NUL line, then the command, NUL-separated, then its exit code",
                "set +o posix",
                "build_command() {",
                "  \"" + java() + "\" -Xmx128m -cp \"$SPARK_HOME/jars/*\" org.apache.spark.launcher.Main org.apache.spark.deploy.SparkSubmit \"$@\"",
                "  printf '%d\\0' $?",
                "}",
                "CMD=(); DELIM=$'\\n'; STARTED=false",
                "while IFS= read -d \"$DELIM\" -r ARG; do",
                "  if [ \"$STARTED\" = true ]; then CMD+=(\"$ARG\")",
                "  elif [ \"$ARG\" = $'\\0' ]; then DELIM=''; STARTED=true",
                "  elif [ -n \"$ARG\" ]; then echo \"$ARG\"; fi",
                "done < <(build_command \"$@\")",
                "LAST=$((${#CMD[@]} - 1))",
                "[ \"${CMD[$LAST]}\" = 0 ] || exit \"${CMD[$LAST]}\"",
                "exec \"${CMD[@]:0:$LAST}\"", ""));
        bin.resolve("spark-submit").toFile().setExecutable(true);
        for (String jar : distributionClasspath()) {
            Path link = home.resolve("jars").resolve(Path.of(jar).getFileName());
            if (!Files.exists(link, java.nio.file.LinkOption.NOFOLLOW_LINKS)) Files.createSymbolicLink(link, Path.of(jar));
        }
        int port = freePort();
        master = "spark://127.0.0.1:" + port;
        start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", Integer.toString(port),
                "--webui-port", Integer.toString(freePort()));
        start("worker", "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", Integer.toString(executors),
                "--memory", (executors * 2) + "g", "--webui-port", Integer.toString(freePort()), "--work-dir", root.resolve("work").toString(), master);
        await(logs.resolve("worker.log"), "Successfully registered with master", Duration.ofSeconds(90));
    }

    public String master() {
        return master;
    }

    /** Spark's own jars, resolved once per build from the distribution pom. */
    static List<String> distributionClasspath() throws IOException, InterruptedException {
        Path cp = TARGET.resolve("spark-distribution.cp");
        if (!Files.exists(cp)) {
            Process p = new ProcessBuilder("mvn", "-q", "-B", "-f", BASE.resolve("src/test/cluster/spark-distribution.xml").toString(), "generate-resources")
                    .redirectErrorStream(true).redirectOutput(TARGET.resolve("spark-distribution.log").toFile()).start();
            if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0)
                throw new IllegalStateException("resolving Spark's distribution jars failed: see " + TARGET.resolve("spark-distribution.log"));
        }
        return List.of(Files.readString(cp).trim().split(File.pathSeparator));
    }

    private void start(String name, String mainClass, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(java(), "-Xmx512m"));
        cmd.addAll(List.of(JVM_FLAGS.split(" ")));
        cmd.addAll(List.of("-cp", home.resolve("jars") + "/*", mainClass));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(logs.resolve(name + ".log").toFile());
        env(pb.environment());
        processes.add(pb.start());
    }

    private void env(Map<String, String> e) {
        e.put("SPARK_HOME", home.toString());
        e.put("SPARK_SCALA_VERSION", "2.12");
        e.put("SPARK_LOCAL_IP", "127.0.0.1");
    }

    static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
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
     * {@code jobs/submit --master spark://… [conf…] -- args…}, exactly as the README's cluster section runs it:
     * the distribution's {@code spark-submit} (on PATH from this {@code SPARK_HOME}) starts a driver JVM of its own,
     * with the job jar's JVM flags for the driver ({@code SPARK_SUBMIT_OPTS}) and the executors.
     *
     * @param submitOptions further {@code spark-submit} options, e.g. {@code --conf k=v}
     */
    public Run submit(List<String> submitOptions, String... args) throws IOException, InterruptedException {
        String cache = TARGET.resolve("javacpp-cache").toString();
        List<String> cmd = new ArrayList<>(List.of(BASE.resolve("jobs/submit").toString(), "--master", master,
                "--conf", "spark.executor.cores=1", "--conf", "spark.executor.memory=1g", "--conf", "spark.cores.max=" + executors,
                "--conf", "spark.executor.extraJavaOptions=" + JVM_FLAGS + " -Dorg.bytedeco.javacpp.cachedir=" + cache,
                "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.ui.enabled=false"));
        cmd.addAll(submitOptions);
        cmd.add("--");
        cmd.addAll(List.of(args));
        Path out = Files.createTempFile(TARGET, "submit-", ".out"), err = Files.createTempFile(TARGET, "submit-", ".err");
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(BASE.toFile()).redirectOutput(out.toFile()).redirectError(err.toFile());
        env(pb.environment());
        pb.environment().put("PATH", home.resolve("bin") + File.pathSeparator + System.getenv("PATH"));
        pb.environment().put("SPARK_SUBMIT_OPTS", JVM_FLAGS + " -Dorg.bytedeco.javacpp.cachedir=" + cache
                + " -Dlog4j2.configurationFile=" + BASE.resolve("conf/log4j2.properties"));
        Process p = pb.start();
        if (!p.waitFor(10, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new IllegalStateException("jobs/submit " + String.join(" ", args) + " did not finish in 10 minutes");
        }
        Run r = new Run(p.exitValue(), Files.readString(out), Files.readString(err));
        Files.delete(out);
        Files.delete(err);
        return r;
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
