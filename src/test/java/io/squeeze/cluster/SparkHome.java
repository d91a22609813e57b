package io.squeeze.cluster;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A Spark distribution for the cluster tests, from Maven Central jars only: a {@code SPARK_HOME} under
 * {@code target/cluster} holding a {@code RELEASE} file, {@code jars/} (Spark's own dependency tree, resolved by
 * {@code src/test/cluster/spark-distribution.xml}: a standalone Worker builds executor classpaths from it, YARN
 * containers get it as {@code spark.yarn.jars}) and {@code bin/spark-submit}. {@link #submit} runs a command as a
 * real {@code spark-submit} of the built job jar through {@code jobs/submit}, exactly as the README's cluster
 * section does, from a driver JVM of its own.
 */
public final class SparkHome {
    static final Path BASE = Path.of(System.getProperty("squeeze.basedir", ".")).toAbsolutePath();
    static final Path TARGET = BASE.resolve("target");
    static final String JVM_FLAGS = System.getProperty("squeeze.jvmFlags", "");
    /**
     * The test jobs' drivers and executors compile with C1 only: each job is seconds of tiny data in a cold JVM, where
     * C2's compilations cost more CPU than they save (an {@code evaluate} of the digits: 23 s → 16 s of wall time on
     * two cores). Results are the same: Java's floating point is strict, whichever compiler runs it.
     */
    static final String SHORT_JOB_JIT = "-XX:TieredStopAtLevel=1";
    /** Squeeze's logging (WARN, executor failures kept visible) for the tests' drivers and executors. */
    static final String LOG4J = "-Dlog4j2.configurationFile=" + BASE.resolve("conf/log4j2.properties");
    /** The tests' {@code SPARK_CONF_DIR}, empty; see {@link ClassDataSharing}. */
    static final String EMPTY_CONF = "conf.empty";
    private static SparkHome instance;

    /** One run of a command: exit code and its output. */
    public record Run(int code, String out, String err) {
        public String lastErr() {
            String[] lines = err.strip().split("\n");
            return lines[lines.length - 1];
        }
    }

    private final Path home;

    private SparkHome(Path home) {
        this.home = home;
    }

    /** The distribution, assembled on first use. */
    public static synchronized SparkHome get() throws IOException, InterruptedException {
        if (instance == null) instance = assemble(TARGET.resolve("cluster/spark"));
        return instance;
    }

    public Path path() {
        return home;
    }

    private static SparkHome assemble(Path home) throws IOException, InterruptedException {
        Files.createDirectories(home.resolve("jars"));
        Files.writeString(home.resolve("RELEASE"), "Spark 3.5.9 built for Hadoop 3.3.4 (jars from Maven Central, for Squeeze's cluster tests)\n");
        // bin/spark-submit as a distribution's bin/spark-class runs it: Spark's launcher builds the driver's command
        // (SPARK_SUBMIT_OPTS, then -Xmx from --driver-memory / spark.driver.memory) and the script runs it
        Path bin = Files.createDirectories(home.resolve("bin"));
        Files.writeString(bin.resolve("spark-submit"), String.join("\n", "#!/usr/bin/env bash",
                "# as Spark's bin/spark-class: the launcher prints a NUL line, then the command, NUL-separated, then its exit code",
                "set +o posix",
                "# as Spark's bin/spark-submit: SPARK_HOME defaults to the directory above this script",
                "export SPARK_HOME=\"${SPARK_HOME:-$(cd \"$(dirname \"$0\")/..\" && pwd)}\"",
                "export SPARK_SCALA_VERSION=\"${SPARK_SCALA_VERSION:-2.12}\"",
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
        // logging as Squeeze's own (WARN, executor failures kept visible), as a cluster's conf/ would configure it, for
        // a user's spark-submit on jobs/cluster; the tests' JVMs have an empty SPARK_CONF_DIR instead (the JVM archives
        // no class path with a non-empty directory on it: ClassDataSharing) and get the same file as a system property
        Files.createDirectories(home.resolve("conf"));
        Files.copy(BASE.resolve("conf/log4j2.properties"), home.resolve("conf/log4j2.properties"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.createDirectories(home.resolve(EMPTY_CONF));
        for (String jar : distributionClasspath()) {
            Path link = home.resolve("jars").resolve(Path.of(jar).getFileName());
            if (!Files.exists(link, java.nio.file.LinkOption.NOFOLLOW_LINKS)) Files.createSymbolicLink(link, Path.of(jar));
        }
        return new SparkHome(home);
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

    /** A process of the distribution (a Master, a Worker) as its scripts would start it. */
    Process daemon(Path log, String mainClass, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(java(), "-Xmx512m"));
        cmd.addAll(List.of(JVM_FLAGS.split(" ")));
        // a stopped application's executor directories (logs, and a 183 MB copy of the job jar each) go after two
        // minutes, checked every minute: the suites run some sixty applications (Spark keeps them, by default)
        if (mainClass.endsWith(".Worker"))
            cmd.addAll(List.of("-Dspark.worker.cleanup.enabled=true", "-Dspark.worker.cleanup.interval=60", "-Dspark.worker.cleanup.appDataTtl=120"));
        cmd.addAll(List.of("-cp", home.resolve("jars") + "/*", mainClass));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        env(pb.environment());
        // a Worker puts it on the class path of the executors it launches
        pb.environment().put("SPARK_CONF_DIR", home.resolve(EMPTY_CONF).toString());
        return pb.start();
    }

    void env(Map<String, String> e) {
        e.put("SPARK_HOME", home.toString());
        e.put("SPARK_SCALA_VERSION", "2.12");
        e.put("SPARK_LOCAL_IP", "127.0.0.1");
    }

    static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    /**
     * {@code jobs/submit --master MASTER [options…] -- args…}: the distribution's {@code spark-submit} (on PATH from
     * this {@code SPARK_HOME}) starts a driver JVM of its own; {@code jobs/submit} gives it and the executors the job
     * jar's JVM flags; here they also get {@code driverProperties} ({@code SPARK_SUBMIT_OPTS}) and
     * {@code executorProperties} (e.g. {@code -Dsqueeze.pause=…} to stop at a {@code FaultPoint}). Does not wait.
     *
     * @param env further environment (e.g. {@code HADOOP_CONF_DIR})
     */
    public Submission submit(String master, Map<String, String> env, List<String> submitOptions, String driverProperties, String executorProperties,
                             String... args) throws IOException {
        String cache = TARGET.resolve("javacpp-cache").toString(), log4j = " " + LOG4J;
        boolean standalone = master.startsWith("spark://");
        String driverCds = standalone ? ClassDataSharing.driver() : "", executorCds = standalone ? ClassDataSharing.executor() : "";
        List<String> cmd = new ArrayList<>(List.of(BASE.resolve("jobs/submit").toString(), "--master", master,
                "--conf", "spark.executor.extraJavaOptions=" + SHORT_JOB_JIT + " -Dorg.bytedeco.javacpp.cachedir=" + cache + log4j + " " + executorCds
                        + " " + executorProperties,
                "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.ui.enabled=false"));
        cmd.addAll(submitOptions);
        cmd.add("--");
        cmd.addAll(List.of(args));
        Path out = Files.createTempFile(TARGET, "submit-", ".out"), err = Files.createTempFile(TARGET, "submit-", ".err");
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(BASE.toFile()).redirectOutput(out.toFile()).redirectError(err.toFile());
        env(pb.environment());
        pb.environment().putAll(env);
        pb.environment().put("PATH", home.resolve("bin") + File.pathSeparator + System.getenv("PATH"));
        if (standalone) pb.environment().put("SPARK_CONF_DIR", home.resolve(EMPTY_CONF).toString());
        pb.environment().put("SPARK_SUBMIT_OPTS", SHORT_JOB_JIT + " -Dorg.bytedeco.javacpp.cachedir=" + cache + log4j + " " + driverCds + " " + driverProperties);
        return new Submission(pb.start(), String.join(" ", args), out, err, System.nanoTime());
    }

    /**
     * A {@code jobs/submit} running. Its process is the driver JVM itself: {@code jobs/submit} and the distribution's
     * {@code spark-submit} both {@code exec} it.
     */
    public record Submission(Process process, String what, Path out, Path err, long started) {
        /** Waits for the end (at most 30 minutes: a batch runs many jobs). */
        public Run await() throws IOException, InterruptedException {
            if (!process.waitFor(30, TimeUnit.MINUTES)) {
                process.destroyForcibly();
                throw new IllegalStateException("jobs/submit " + what + " did not finish in 30 minutes");
            }
            return finish();
        }

        /** Waits until the driver prints {@code line} on stderr; false if it ended or {@code timeout} passed first. */
        public boolean awaitLine(String line, Duration timeout) throws IOException, InterruptedException {
            long until = System.nanoTime() + timeout.toNanos();
            while (!Files.readString(err).contains(line)) {
                if (!process.isAlive() || System.nanoTime() > until) return false;
                Thread.sleep(100);
            }
            return true;
        }

        /** Waits until the driver prints {@code line} on stderr, then kills it with SIGKILL (exit code 137). */
        public Run killAt(String line) throws IOException, InterruptedException {
            if (!awaitLine(line, Duration.ofMinutes(5))) {
                process.destroyForcibly();
                throw new IllegalStateException("jobs/submit " + what + " never printed '" + line + "':\n" + Files.readString(err));
            }
            process.destroyForcibly();
            process.waitFor();
            return finish();
        }

        private Run finish() throws IOException {
            Run r = new Run(process.exitValue(), Files.readString(out), Files.readString(err));
            System.err.printf("cluster-it: %.1f s  jobs/submit %s%n", (System.nanoTime() - started) / 1e9, what.length() > 90 ? what.substring(0, 90) : what);
            Files.delete(out);
            Files.delete(err);
            return r;
        }
    }
}
