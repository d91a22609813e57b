package io.squeeze.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.squeeze.TestSpark;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.factory.Nd4j;

/**
 * ND4J's BLAS threads follow the task's cores ({@code spark.task.cpus}) inside a task and every core on the driver;
 * libnd4j's OpenMP threads stay at one in every thread that sets them.
 */
class Nd4jThreadsTest {
    @AfterEach
    void restore() {
        Nd4jThreads.all();
    }

    @Test
    void aTaskGetsItsOwnCoresAndTheDriverEveryCore() {
        // the shared test session runs tasks of spark.task.cpus = 1
        List<List<Integer>> inTasks = TestSpark.jsc().parallelize(List.of(1, 2), 2).map(x -> {
            Nd4jThreads.forTask();
            return List.of(Nd4j.factory().blas().getMaxThreads(), omp());
        }).collect();
        assertEquals(List.of(List.of(1, 1), List.of(1, 1)), inTasks); // BLAS threads, OpenMP threads
        Nd4jThreads.all();
        assertEquals(Runtime.getRuntime().availableProcessors(), Nd4j.factory().blas().getMaxThreads());
        assertEquals(1, omp());
        // spark.task.cpus = 2 hands the task's two cores to BLAS through the same call
        Nd4jThreads.set(2);
        assertEquals(2, Nd4j.factory().blas().getMaxThreads());
        Nd4jThreads.set(1);
        assertEquals(1, Nd4j.factory().blas().getMaxThreads());
    }

    @Test
    void openMpIsHeldAtOneThreadInEveryThreadThatAsks() throws Exception {
        Nd4jThreads.all();
        int[] other = new int[2];
        Thread t = new Thread(() -> {
            // a thread's own count, as a Spark task thread may start with (one per core, or OMP_NUM_THREADS)
            org.nd4j.nativeblas.NativeOpsHolder.getInstance().getDeviceNativeOps().setOmpNumThreads(3);
            other[0] = omp();
            Nd4jThreads.all(); // ND4J's BLAS threads are already every core: only OpenMP's count changes
            other[1] = omp();
        });
        t.start();
        t.join();
        assertEquals(List.of(3, 1), List.of(other[0], other[1]));
        assertEquals(1, omp()); // this thread's count is its own
    }

    /** The calling thread's OpenMP thread count in libnd4j. */
    static int omp() {
        return org.nd4j.nativeblas.NativeOpsHolder.getInstance().getDeviceNativeOps().ompGetMaxThreads();
    }
}
