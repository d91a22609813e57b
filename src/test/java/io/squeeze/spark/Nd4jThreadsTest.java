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
        int[] other = new int[2];
        Thread t = new Thread(() -> {
            other[0] = omp(); // a new thread's own count: one per core, whatever the others were given
            Nd4jThreads.all();
            other[1] = omp();
        });
        Nd4jThreads.all();
        t.start();
        t.join();
        assertEquals(Runtime.getRuntime().availableProcessors(), other[0]);
        assertEquals(1, other[1]);
        assertEquals(1, omp());
    }

    /** The calling thread's OpenMP thread count in libnd4j. */
    static int omp() {
        return org.nd4j.nativeblas.NativeOpsHolder.getInstance().getDeviceNativeOps().ompGetMaxThreads();
    }
}
