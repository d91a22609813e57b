package io.squeeze.cli;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Version;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;
import java.util.List;

/**
 * {@code squeeze <command>}: exit 0 on success, 2 on bad usage or bad input (one line naming the thing and the
 * value), 1 on any other failure, 3 when {@code squeeze run}'s final model misses the recipe's accuracy gate. Set
 * {@code SQUEEZE_DEBUG=1} for stack traces.
 */
@Command(name = "squeeze", mixinStandardHelpOptions = true, versionProvider = Main.VersionProvider.class,
        description = "Compresses trained Deeplearning4j networks on Apache Spark.",
        subcommands = {TrainCommand.class, EvaluateCommand.class, PruneCommand.class, LotteryCommand.class, FactorizeCommand.class, LoraCommand.class, QuantizeCommand.class, SoftTargetsCommand.class, DistillCommand.class, AugmentCommand.class, InspectCommand.class, WeightsCommand.class, ExportCommand.class, PredictCommand.class,
                RunCommand.class, SensitivityCommand.class, RerunCommand.class, BatchCommand.class, QuickstartCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    public static final int OK = 0, FAILURE = 1, BAD_INPUT = 2;
    private static final ThreadLocal<List<String>> ARGS = ThreadLocal.withInitial(List::of);

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a command is required");
    }

    /** The command line being run, for provenance. */
    static List<String> args() {
        return ARGS.get();
    }

    public static void main(String[] args) {
        int code = execute(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
        io.squeeze.core.FaultPoint.reach(io.squeeze.core.FaultPoint.DONE);
        SparkSession.getActiveSession().foreach(s -> {
            s.stop();
            return null;
        });
        if (onYarnInClusterMode()) {
            // the driver is a thread of YARN's application master, which reports the application's final status when
            // main returns or throws; System.exit would end it first, report a failure and make YARN retry
            if (code != OK) throw new IllegalStateException("squeeze exited with code " + code + " (the reason is on the driver's stderr)");
            return;
        }
        System.exit(code);
    }

    static boolean onYarnInClusterMode() {
        return "yarn".equals(System.getProperty("spark.master")) && "cluster".equals(System.getProperty("spark.submit.deployMode"));
    }

    /** The command line's parser, as {@link #execute} configures it. */
    static CommandLine commandLine() {
        return new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true).setExpandAtFiles(false);
    }

    /** Runs one command in this process (also used by the tests). */
    public static int execute(PrintWriter out, PrintWriter err, String... args) {
        io.squeeze.model.Dl4jHelpers.enable();
        ARGS.set(List.of(args));
        CommandLine cl = commandLine().setOut(out).setErr(err);
        cl.setParameterExceptionHandler((ex, a) -> {
            err.println("squeeze: " + ex.getMessage().strip() + " (see '" + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help')");
            err.flush();
            return BAD_INPUT;
        });
        cl.setExecutionExceptionHandler((ex, c, parsed) -> {
            BadInputException bad = BadInputException.find(ex);
            if (System.getenv("SQUEEZE_DEBUG") != null) ex.printStackTrace(err);
            if (bad != null) {
                err.println("squeeze: " + bad.getMessage());
                err.flush();
                return BAD_INPUT;
            }
            return failed(err, ex);
        });
        io.squeeze.core.Orphans.markRunStart();
        try {
            return cl.execute(args);
        } catch (Error e) { // e.g. Hadoop's FSError for a full local disk, which picocli does not catch
            if (System.getenv("SQUEEZE_DEBUG") != null) e.printStackTrace(err);
            return failed(err, e);
        } finally {
            out.flush();
            err.flush();
        }
    }

    /**
     * Reports a failure that is not bad input in one line: the first message that names a file (a storage error), else
     * the root cause.
     */
    private static int failed(PrintWriter err, Throwable ex) {
        String line = null;
        for (Throwable t = ex; t != null && line == null; t = t.getCause() == t ? null : t.getCause())
            if (t instanceof java.io.UncheckedIOException && t.getMessage() != null) line = t.getMessage();
        if (line == null) {
            Throwable root = ex;
            while (root.getCause() != null && root.getCause() != root) root = root.getCause();
            line = root.getClass().getSimpleName() + ": " + root.getMessage();
        }
        err.println("squeeze: failed: " + line.strip().replace('\n', ' ')
                + (System.getenv("SQUEEZE_DEBUG") == null ? " (SQUEEZE_DEBUG=1 shows the stack trace)" : ""));
        err.flush();
        return FAILURE;
    }

    static final class VersionProvider implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[]{"squeeze " + Version.version() + " (" + Version.gitCommit() + ")"};
        }
    }
}
