package io.squeeze.spark;

import org.apache.spark.TaskContext;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.nativeblas.NativeOpsHolder;

/**
 * ND4J's thread count. Spark already runs one task per core, so inside a task ND4J gets only the task's own
 * cores ({@code spark.task.cpus}, default 1) instead of every core of the machine: otherwise k concurrent tasks
 * each start k BLAS threads and oversubscribe the executor. Driver-side work gets every core back.
 *
 * <p>libnd4j's OpenMP runtime (oneDNN's convolutions and pooling, some of libnd4j's own loops) is a second thread pool
 * beside OpenBLAS's. OpenMP keeps its thread count per thread: ND4J gives the thread that loads it 4 on this 2-core
 * machine, every other thread (a Spark task's) starts with one per core, and {@link #set} used to leave both so. It
 * now holds OpenMP at one thread in every thread that calls it: with OpenBLAS's and OpenMP's threads both waiting for
 * work on the same cores, one DL4J {@code fit()} of LeNet-300-100 ran at 3,300 rows/s (2 BLAS + 2 OpenMP threads),
 * 7,800 (2 + 4) and 10,500 (1 + 1); docs/BENCHMARKS.md (session 29) has what it changed for training on Spark.
 * Parallelism comes from the tasks.
 */
public final class Nd4jThreads {
    private static volatile int current = -1;
    private static boolean warmed;
    /** libnd4j's OpenMP threads, whatever {@link #set} is given (see the class comment). */
    static final int OMP_THREADS = 1;

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

    /**
     * Exactly {@code n} threads (e.g. 1, to measure what one Spark task gets). The first time in a JVM, one GEMM large
     * enough to run on OpenBLAS's threads goes first: ND4J 1.0.0-M2's OpenBLAS limited to one thread before its
     * thread server ever ran stays about 3× slower for good (a 256×1024 · 1024×1024 SGEMM on this repository's AVX2
     * machine: 12 GFLOP/s, against 34 GFLOP/s on one thread after a 512³ GEMM on two; docs/BENCHMARKS.md).
     */
    public static synchronized void set(int n) {
        // OpenMP's thread count is the calling thread's own (a Spark task thread starts with one per core): every call
        Nd4j.getEnvironment(); // ND4J's backend is loaded before its native ops are asked for
        NativeOpsHolder.getInstance().getDeviceNativeOps().setOmpNumThreads(OMP_THREADS);
        if (current == n) return;
        int all = Runtime.getRuntime().availableProcessors();
        if (!warmed && n < all) { // the first lowering, whatever was set before it
            warmed = true;
            Nd4j.factory().blas().setMaxThreads(all);
            Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 512, 512).mmul(Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 512, 512));
        }
        Nd4j.factory().blas().setMaxThreads(n);
        Nd4j.getEnvironment().setMaxThreads(n);
        Nd4j.getEnvironment().setMaxMasterThreads(n);
        current = n;
    }
}
