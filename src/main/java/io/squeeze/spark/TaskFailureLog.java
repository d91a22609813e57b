package io.squeeze.spark;

import io.squeeze.core.BadInputException;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.apache.spark.ExceptionFailure;
import org.apache.spark.ExecutorLostFailure;
import org.apache.spark.Success$;
import org.apache.spark.TaskEndReason;
import org.apache.spark.TaskFailedReason;
import org.apache.spark.TaskKilled;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorRemoved;
import org.apache.spark.scheduler.SparkListenerTaskEnd;

/**
 * Makes executor trouble visible at WARN in one line each: a failed task attempt (which Spark retries), a lost
 * executor. Spark's own {@code TaskSetManager} and {@code Executor} loggers are off in {@code conf/log4j2.properties}
 * because they print a whole stack trace per attempt, which buried the one-line error of bad input; this says the
 * same thing in a line, so a lost task or a retry is never hidden. A task that fails on bad input
 * ({@link BadInputException}) is left to the command, which reports it as its one-line error.
 */
public final class TaskFailureLog extends SparkListener {
    private static final Logger LOG = LogManager.getLogger("squeeze");

    @Override
    public void onTaskEnd(SparkListenerTaskEnd end) {
        String line = describe(end.reason(), end.stageId(), end.taskInfo().index(), end.taskInfo().attemptNumber(), end.taskInfo().executorId());
        if (line != null) LOG.warn(line);
    }

    @Override
    public void onExecutorRemoved(SparkListenerExecutorRemoved removed) {
        LOG.warn("executor " + removed.executorId() + " removed: " + removed.reason());
    }

    /** The line for a task that ended with {@code reason}, or null when it succeeded. */
    static String describe(TaskEndReason reason, int stage, int task, int attempt, String executor) {
        if (reason == Success$.MODULE$ || reason instanceof TaskKilled) return null;
        // bad input found inside a task is the command's own one-line error, printed once by squeeze itself
        if (reason instanceof ExceptionFailure f && f.className().equals(BadInputException.class.getName())) return null;
        String why;
        if (reason instanceof ExceptionFailure f) why = f.className() + ": " + f.description();
        else if (reason instanceof ExecutorLostFailure lost) why = "executor " + lost.execId() + " lost (" + lost.toErrorString() + ")";
        else if (reason instanceof TaskFailedReason f) why = f.toErrorString().lines().findFirst().orElse(reason.getClass().getSimpleName());
        else why = reason.toString();
        return "task " + task + " of stage " + stage + " failed on executor " + executor + " (attempt " + (attempt + 1) + "): " + why;
    }
}
