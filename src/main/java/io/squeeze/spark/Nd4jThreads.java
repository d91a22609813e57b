package io.squeeze.spark;

import org.apache.spark.TaskContext;
import org.nd4j.linalg.factory.Nd4j;

/**
 * ND4J's thread count. Spark already runs one task per core, so inside a task ND4J gets only the task's own
 * cores ({@code spark.task.cpus}, default 1) instead of every core of the machine: otherwise k concurrent tasks
 * each start k BLAS threads and oversubscribe the executor. Driver-side work gets every core back.
 */
public final class Nd4jThreads {
    private static volatile int current = -1;

    private Nd4jThreads() {}

    /** Inside a task: as many threads as the task has cores. */
    public static void forTask() {
        TaskContext tc = TaskContext.get();
        set(tc == null ? Runtime.getRuntime().availableProcessors() : Math.max(1, tc.cpus()));
    }

    /** On the driver: every core. */
    public static void all() {
        set(Runtime.getRuntime().availableProcessors());
    }

    /** Exactly {@code n} threads (e.g. 1, to measure what one Spark task gets). */
    public static synchronized void set(int n) {
        if (current == n) return;
        Nd4j.factory().blas().setMaxThreads(n);
        Nd4j.getEnvironment().setMaxThreads(n);
        Nd4j.getEnvironment().setMaxMasterThreads(n);
        current = n;
    }
}
