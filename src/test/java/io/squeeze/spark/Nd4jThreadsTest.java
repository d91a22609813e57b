package io.squeeze.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.squeeze.TestSpark;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.factory.Nd4j;

/** ND4J's BLAS threads follow the task's cores ({@code spark.task.cpus}) inside a task and every core on the driver. */
class Nd4jThreadsTest {
    @AfterEach
    void restore() {
        Nd4jThreads.all();
    }

    @Test
    void aTaskGetsItsOwnCoresAndTheDriverEveryCore() {
        // the shared test session runs tasks of spark.task.cpus = 1
        List<Integer> inTasks = TestSpark.jsc().parallelize(List.of(1, 2), 2).map(x -> {
            Nd4jThreads.forTask();
            return Nd4j.factory().blas().getMaxThreads();
        }).collect();
        assertEquals(List.of(1, 1), inTasks);
        Nd4jThreads.all();
        assertEquals(Runtime.getRuntime().availableProcessors(), Nd4j.factory().blas().getMaxThreads());
        // spark.task.cpus = 2 hands the task's two cores to BLAS through the same call
        Nd4jThreads.set(2);
        assertEquals(2, Nd4j.factory().blas().getMaxThreads());
        Nd4jThreads.set(1);
        assertEquals(1, Nd4j.factory().blas().getMaxThreads());
    }
}
