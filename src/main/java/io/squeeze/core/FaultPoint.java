package io.squeeze.core;

/**
 * Named points in the write path where the fault-injection tests stop a process to kill it ({@code kill -9})
 * at a known moment. A point is inert unless the JVM was started with {@code -Dsqueeze.pause=NAME}; then reaching
 * it prints {@code squeeze: paused at NAME} on stderr and blocks until the process is killed.
 */
public final class FaultPoint {
    /** Work done, nothing of the output written yet. */
    public static final String BEFORE_WRITE = "before-write";
    /** Part of the output's files written (to its hidden sibling). */
    public static final String MID_WRITE = "mid-write";
    /** Every file written, the output not yet renamed into place. */
    public static final String BEFORE_RENAME = "before-rename";
    /** The output renamed into place; the old output (if any) not yet deleted. */
    public static final String AFTER_PUBLISH = "after-publish";
    /**
     * The command finished (exit code known, output published), its Spark session not yet stopped: the cluster
     * tests' class-data sharing warm-up archives the driver's and the executors' loaded classes here.
     */
    public static final String DONE = "done";
    /**
     * Inside an executor's task (teacher inference, a training worker's minibatch). Reached through
     * {@link #reachOnce}: only the first task of the machine to get there stops, so a test can kill that executor
     * mid-task and the retried attempt runs through.
     */
    public static final String IN_TASK = "in-task";

    private FaultPoint() {}

    /**
     * As {@link #reach}, for code that runs in many tasks and JVMs: only the first caller on this machine stops, the
     * one that creates the file {@code -Dsqueeze.pause.once=PATH} (inert without it).
     */
    public static void reachOnce(String name) {
        if (!name.equals(System.getProperty("squeeze.pause"))) return;
        String marker = System.getProperty("squeeze.pause.once");
        try {
            if (marker != null && new java.io.File(marker).createNewFile()) reach(name);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    public static void reach(String name) {
        if (!name.equals(System.getProperty("squeeze.pause"))) return;
        System.err.println("squeeze: paused at " + name);
        System.err.flush();
        while (true) {
            try {
                Thread.sleep(60_000);
            } catch (InterruptedException e) {
                // only a kill ends the pause
            }
        }
    }
}
