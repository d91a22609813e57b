package io.squeeze.spark;

import io.squeeze.TestModels;
import io.squeeze.TestSpark;
import io.squeeze.model.NdRows;
import org.apache.spark.SparkConf;
import org.apache.spark.serializer.JavaSerializer;
import org.apache.spark.serializer.KryoSerializer;
import org.apache.spark.serializer.Serializer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.api.TrainingHook;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import scala.reflect.ClassTag$;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * An epoch as one barrier stage trains to the same weights as one Spark job a round; Squeeze picks it only where Spark
 * can run it, falls back when Spark refuses it, and a failing worker fails the epoch instead of leaving the others
 * waiting.
 */
class BarrierEpochTest {
    private static final long SEED = 5;

    /** {@code n} minibatches of 8 rows, 6 Gaussian features and a random one of 3 classes (also EpochStagesTest's). */
    static List<TrainingBatch> batches(int n, long seed) {
        Random r = new Random(seed);
        List<TrainingBatch> out = new ArrayList<>();
        for (int b = 0; b < n; b++) {
            float[] x = new float[8 * 6], y = new float[8 * 3];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            for (int i = 0; i < 8; i++) y[i * 3 + r.nextInt(3)] = 1;
            out.add(TrainingBatch.of(new DataSet(Nd4j.create(x, new long[]{8, 6}, 'c'), Nd4j.create(y, new long[]{8, 3}, 'c'))));
        }
        return out;
    }

    private static LocalSgd.Sync train(MultiLayerNetwork net, org.apache.spark.api.java.JavaRDD<TrainingBatch> rdd, LocalSgd.Sync sync,
                                       int epochs, List<TrainingHook> hooks) {
        var sgd = LocalSgd.of(TestSpark.jsc(), rdd, net, new SparkTrainer.Config(epochs, 8, 3, SEED), List.of(), hooks, sync);
        try {
            for (int e = 1; e <= epochs; e++) assertEquals(rdd.map(TrainingBatch::rows).reduce(Long::sum), sgd.epoch(e));
            return sgd.sync();
        } finally {
            sgd.finish();
        }
    }

    private static float[] updater(MultiLayerNetwork n) {
        return n.getUpdater().getStateViewArray().toFloatVector();
    }

    @Test
    void anEpochAsOneBarrierStageGivesTheWeightsOfOneJobARound() {
        var rdd = TestSpark.jsc().parallelize(batches(17, 1), 2).cache(); // 9 and 8 minibatches: 3 rounds, the last uneven
        MultiLayerNetwork barrier = TestModels.mlp(6, new int[]{5}, 3, 4), jobs = barrier.clone(), auto = barrier.clone();
        long handed = SharedStates.publishes(), gathered = JvmGather.gathers();
        assertEquals(LocalSgd.Sync.BARRIER, train(barrier, rdd, LocalSgd.Sync.BARRIER, 2, List.of()));
        assertEquals(12, SharedStates.publishes() - handed, "both workers of local[2] hand their 3 rounds over in memory, 2 epochs");
        assertEquals(12, JvmGather.gathers() - gathered, "and gather each round's messages in this JVM");
        assertEquals(0, SharedStates.published(), "and remove them when the epoch ends");
        assertEquals(LocalSgd.Sync.JOBS, train(jobs, rdd, LocalSgd.Sync.JOBS, 2, List.of()));
        assertEquals(LocalSgd.Sync.BARRIER, train(auto, rdd, null, 2, List.of()), "two workers on local[2]: a barrier stage");
        assertArrayEquals(jobs.params().toFloatVector(), barrier.params().toFloatVector(), "the same arithmetic");
        assertArrayEquals(updater(jobs), updater(barrier));
        assertArrayEquals(jobs.params().toFloatVector(), auto.params().toFloatVector());
        assertEquals(jobs.getLayerWiseConfigurations().getIterationCount(), barrier.getLayerWiseConfigurations().getIterationCount());
        assertEquals(18, barrier.getLayerWiseConfigurations().getIterationCount(), "3 rounds of 3 steps, 2 epochs");
        assertNotEquals(0f, barrier.params().sub(TestModels.mlp(6, new int[]{5}, 3, 4).params()).norm2Number().floatValue());
        assertTrue(Thread.getAllStackTraces().keySet().stream().noneMatch(t -> !t.isDaemon() && t.getName().startsWith("Barrier task timer")),
                "no non-daemon barrier timer left to keep a local-mode JVM alive after main returns");
        rdd.unpersist(false);
    }

    @Test
    void oneWorkerSendsNothingAndGivesTheWeightsOfOneJobARound() {
        var rdd = TestSpark.jsc().parallelize(batches(8, 2), 1).cache(); // one worker, 3 rounds of 3, 3 and 2 minibatches
        MultiLayerNetwork barrier = TestModels.mlp(6, new int[]{5}, 3, 4), jobs = barrier.clone();
        assertEquals(LocalSgd.Sync.BARRIER, train(barrier, rdd, LocalSgd.Sync.BARRIER, 2, List.of()));
        assertEquals(LocalSgd.Sync.JOBS, train(jobs, rdd, LocalSgd.Sync.JOBS, 2, List.of()));
        assertArrayEquals(jobs.params().toFloatVector(), barrier.params().toFloatVector());
        assertArrayEquals(updater(jobs), updater(barrier));
        assertEquals(16, barrier.getLayerWiseConfigurations().getIterationCount(), "8 steps an epoch, 2 epochs");
        assertEquals(jobs.getLayerWiseConfigurations().getIterationCount(), barrier.getLayerWiseConfigurations().getIterationCount());
        rdd.unpersist(false);
    }

    /** Gaussian values, every {@code big}-th scaled by 10⁶ (parameters); with {@code big} 0, their absolute values (Adam's moments). */
    private static float[] values(Random r, int n, int big) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = big == 0 ? (float) Math.abs(r.nextGaussian()) : (float) r.nextGaussian() * (i % big == 0 ? 1e6f : 1f);
        return v;
    }

    @Test
    void aRoundsExchangeAveragesAsTheDriverDoesStraightIntoTheNetwork() {
        MultiLayerNetwork net = TestModels.mlp(6, new int[]{5}, 3, 4);
        int np = (int) net.numParams(), nu = (int) updater(net).length;
        Random r = new Random(11);
        List<LocalSgd.Result> results = new ArrayList<>();
        String[] messages = new String[4];
        for (int w : new int[]{2, 0, 3}) { // worker 1 fitted nothing this round; the array is in partition order
            float[] p = values(r, np, 7), u = values(r, nu, 0);
            p[w] = w == 3 ? Float.NaN : -0f;
            results.add(new LocalSgd.Result(w, p, u, 5 + w, 0, 0, 0));
            messages[w] = BarrierEpoch.encode(w, 5 + w, NdRows.of(p, 1, np), NdRows.of(u, 1, nu));
        }
        messages[1] = "";
        results.sort(java.util.Comparator.comparingInt(LocalSgd.Result::worker));
        var exchange = new BarrierEpoch.Exchange();
        assertEquals(8, exchange.average(messages, net), "the most steps a worker took");
        assertArrayEquals(Averaging.mean(results, LocalSgd.Result::params), net.params().toFloatVector(), "the driver's floats, in worker order");
        assertArrayEquals(Averaging.mean(results, LocalSgd.Result::updater), updater(net));
        assertTrue(Float.isNaN(net.params().getFloat(3)));
        assertEquals(0, exchange.average(new String[]{"", ""}, net), "nobody fitted: nothing changes");
        assertArrayEquals(Averaging.mean(results, LocalSgd.Result::params), net.params().toFloatVector());
        String[] mixed = {BarrierEpoch.encode(0, 1, NdRows.of(new float[np], 1, np), null), BarrierEpoch.encode(1, 1, NdRows.of(new float[np], 1, np - 1), null)};
        assertThrows(IllegalStateException.class, () -> exchange.average(mixed, net));
    }

    @Test
    void aDoubleNetworkIsAveragedThroughAWholeArrayToTheDriversFloats() {
        MultiLayerNetwork net = TestModels.mlp(6, new int[]{5}, 3, 4).convertDataType(org.nd4j.linalg.api.buffer.DataType.DOUBLE);
        assertEquals(org.nd4j.linalg.api.buffer.DataType.DOUBLE, net.params().dataType());
        assertNull(NdRows.rowMajorView(net.params()), "no float view of the parameters to write into");
        int np = (int) net.numParams(), nu = (int) LocalSgd.updaterState(net).length();
        assertEquals(org.nd4j.linalg.api.buffer.DataType.DOUBLE, LocalSgd.updaterState(net).dataType());
        Random r = new Random(14);
        List<LocalSgd.Result> results = new ArrayList<>();
        String[] messages = new String[2];
        for (int w = 0; w < 2; w++) {
            float[] p = values(r, np, 7), u = values(r, nu, 0);
            results.add(new LocalSgd.Result(w, p, u, 2, 0, 0, 0));
            messages[w] = BarrierEpoch.encode(w, 2, NdRows.of(p, 1, np), NdRows.of(u, 1, nu));
        }
        assertEquals(2, new BarrierEpoch.Exchange().average(messages, net));
        assertArrayEquals(Averaging.mean(results, LocalSgd.Result::params), net.params().toFloatVector(), "the driver's floats, in worker order");
        assertArrayEquals(Averaging.mean(results, LocalSgd.Result::updater), LocalSgd.updaterState(net).toFloatVector());
        // and a double network's own state as a message: cast to floats on the way out
        var back = BarrierEpoch.Message.read(BarrierEpoch.encode(0, 1, net.params(), LocalSgd.updaterState(net)));
        assertArrayEquals(net.params().toFloatVector(), back.paramValues());
        assertArrayEquals(LocalSgd.updaterState(net).toFloatVector(), back.updaterValues());
    }

    @Test
    void aStateOfManyBlocksIsAveragedBlockByBlockToTheDriversFloats() {
        // 10,000 parameters and 20,000 Adam values: blocks of Exchange.BLOCK, the last of each partial
        MultiLayerNetwork net = TestModels.mlp(100, new int[]{90}, 10, 4);
        int np = (int) net.numParams(), nu = (int) updater(net).length;
        assertTrue(np > BarrierEpoch.Exchange.BLOCK && np % BarrierEpoch.Exchange.BLOCK != 0 && nu % BarrierEpoch.Exchange.BLOCK != 0, np + " / " + nu);
        assertNotNull(NdRows.rowMajorView(net.params()), "written straight into the network's parameters");
        Random r = new Random(13);
        List<LocalSgd.Result> results = new ArrayList<>();
        String[] messages = new String[3];
        SharedStates[] shared = {new SharedStates(-8, 0, 0), new SharedStates(-8, 0, 1), new SharedStates(-8, 0, 2)};
        for (int w = 0; w < 3; w++) {
            float[] p = values(r, np, 9), u = values(r, nu, 0);
            p[BarrierEpoch.Exchange.BLOCK + w] = w == 1 ? Float.NaN : -0f;
            results.add(new LocalSgd.Result(w, p, u, 3, 0, 0, 0));
            messages[w] = w == 2 ? BarrierEpoch.encode(w, 3, NdRows.of(p, 1, np), NdRows.of(u, 1, nu))
                    : BarrierEpoch.publish(shared[w], 1, w, 3, NdRows.of(p, 1, np), NdRows.of(u, 1, nu));
        }
        assertEquals(3, new BarrierEpoch.Exchange().average(messages, net, shared[0], 1));
        assertArrayEquals(Averaging.mean(results, LocalSgd.Result::params), net.params().toFloatVector(), "the driver's floats, in worker order");
        assertArrayEquals(Averaging.mean(results, LocalSgd.Result::updater), updater(net));
        assertTrue(Float.isNaN(net.params().getFloat(BarrierEpoch.Exchange.BLOCK + 1)));
        for (SharedStates s : shared) s.close();
    }

    @Test
    void workersOfOneJvmHandTheirStatesOverInMemoryToTheDriversMean() {
        MultiLayerNetwork net = TestModels.mlp(6, new int[]{5}, 3, 4);
        int np = (int) net.numParams(), nu = (int) updater(net).length;
        Random r = new Random(12);
        List<LocalSgd.Result> results = new ArrayList<>();
        String[] messages = new String[3];
        SharedStates[] shared = {new SharedStates(-7, 1, 0), new SharedStates(-7, 1, 1), new SharedStates(-7, 1, 2)};
        int before = SharedStates.published();
        for (int w = 0; w < 3; w++) {
            float[] p = values(r, np, 5), u = values(r, nu, 0);
            results.add(new LocalSgd.Result(w, p, u, 4 + w, 0, 0, 0));
            // worker 1's message carries its floats; 0 and 2 publish theirs in this JVM, their messages are headers
            messages[w] = w == 1 ? BarrierEpoch.encode(w, 4 + w, NdRows.of(p, 1, np), NdRows.of(u, 1, nu))
                    : BarrierEpoch.publish(shared[w], 3, w, 4 + w, NdRows.of(p, 1, np), NdRows.of(u, 1, nu));
        }
        assertEquals(18, messages[0].length(), "a header alone");
        assertEquals(before + 2, SharedStates.published());
        assertEquals(6, new BarrierEpoch.Exchange().average(messages, net, shared[1], 3));
        assertArrayEquals(Averaging.mean(results, LocalSgd.Result::params), net.params().toFloatVector(), "the driver's floats, in worker order");
        assertArrayEquals(Averaging.mean(results, LocalSgd.Result::updater), updater(net));
        assertArrayEquals(results.get(2).params(), BarrierEpoch.Message.read(messages[2], shared[1], 3).paramValues());
        assertThrows(IllegalStateException.class, () -> BarrierEpoch.Message.read(messages[0]), "no states of this JVM to read from");
        assertThrows(IllegalStateException.class, () -> BarrierEpoch.Message.read(messages[0], shared[1], 4), "round 4 not published");
        var a = NdRows.of(new float[np], 1, np);
        BarrierEpoch.publish(shared[0], 4, 0, 1, a, null);
        BarrierEpoch.publish(shared[0], 5, 0, 1, a, null);
        assertThrows(IllegalStateException.class, () -> shared[0].of(3, 0), "round 3's state removed when its array is written again");
        assertEquals(np, shared[1].of(5, 0).capacity());
        for (SharedStates s : shared) s.close();
        assertEquals(before, SharedStates.published());
        assertTrue(SharedStates.oneJvm(new String[]{SharedStates.JVM, SharedStates.JVM}));
        assertFalse(SharedStates.oneJvm(new String[]{SharedStates.JVM, SharedStates.JVM + "x"}));
        assertFalse(SharedStates.oneJvm(new String[0]));
    }

    @Test
    void aMessageFromTheNetworksArraysEqualsOneFromTheirValues() {
        var a = Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 1, 37);
        var u = Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 1, 74);
        var m = BarrierEpoch.Message.read(BarrierEpoch.encode(1, 4, a, u));
        assertEquals(List.of(1, 4, 37, 74), List.of(m.worker(), m.steps(), m.params(), m.updater()));
        assertArrayEquals(a.toFloatVector(), m.paramValues());
        assertArrayEquals(u.toFloatVector(), m.updaterValues());
        var none = BarrierEpoch.Message.read(BarrierEpoch.encode(1, 4, a, null));
        assertEquals(-1, none.updater());
        assertNull(none.updaterValues());
        var f = Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, new int[]{5, 7}, 'f'); // reordered, not copied as is
        var view = Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 6, 9).get(org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 4),
                org.nd4j.linalg.indexing.NDArrayIndex.interval(2, 7));
        var fv = BarrierEpoch.Message.read(BarrierEpoch.encode(0, 1, f, view));
        assertArrayEquals(f.dup('c').data().asFloat(), fv.paramValues(), "an f-order matrix, row-major");
        assertArrayEquals(view.dup('c').data().asFloat(), fv.updaterValues(), "a view, row-major");
        var wrong = BarrierEpoch.encode(0, 1, a, null).getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
        wrong[0] = 1;
        assertThrows(IllegalStateException.class, () -> BarrierEpoch.Message.read(new String(wrong, java.nio.charset.StandardCharsets.ISO_8859_1)));
        float[] x = new float[40];
        for (int i = 0; i < x.length; i++) x[i] = i;
        var target = Nd4j.create(org.nd4j.linalg.api.buffer.DataType.FLOAT, new long[]{5, 7}, 'f');
        io.squeeze.model.NdRows.copyInto(x, 35, target);
        assertArrayEquals(java.util.Arrays.copyOf(x, 35), io.squeeze.model.NdRows.toRowMajor(target), "row-major into an f-order array");
        assertThrows(IllegalArgumentException.class, () -> io.squeeze.model.NdRows.copyInto(x, 36, target));
    }

    @Test
    void moreWorkersThanSlotsOrALineageSparkRefusesTrainOneJobARound() {
        var data = batches(12, 2);
        var three = TestSpark.jsc().parallelize(data, 3).cache();
        MultiLayerNetwork a = TestModels.mlp(6, new int[]{5}, 3, 4), b = a.clone();
        assertEquals(LocalSgd.Sync.JOBS, train(a, three, null, 1, List.of()), "3 workers, 2 slots");
        // a union's partitions come from parents with other partition counts: Spark refuses it as a barrier stage
        var union = TestSpark.jsc().parallelize(data.subList(0, 6), 1).union(TestSpark.jsc().parallelize(data.subList(6, 12), 1));
        MultiLayerNetwork c = TestModels.mlp(6, new int[]{5}, 3, 4), d = c.clone();
        assertEquals(LocalSgd.Sync.JOBS, train(c, union, null, 2, List.of()), "refused, then one job a round");
        train(d, union, LocalSgd.Sync.JOBS, 2, List.of());
        assertArrayEquals(d.params().toFloatVector(), c.params().toFloatVector());
        three.unpersist(false);
    }

    @Test
    void aBarrierStageFitsOnlyWithASlotForEveryWorkerAndRoomForTheGatheredStates() {
        SparkConf conf = new SparkConf(false);
        assertTrue(BarrierEpoch.fits(conf, 2, 2, 800_000));
        assertFalse(BarrierEpoch.fits(conf, 2, 3, 800_000), "more workers than task slots");
        assertFalse(BarrierEpoch.fits(conf.clone().set("spark.dynamicAllocation.enabled", "true"), 8, 2, 800_000));
        assertTrue(BarrierEpoch.fits(conf, 4, 4, 4_000_000), "4 x 16 MB, twice, within 128 MiB");
        assertFalse(BarrierEpoch.fits(conf, 4, 4, 5_000_000), "4 x 20 MB, twice, beyond it");
        assertTrue(BarrierEpoch.fits(conf.clone().set("spark.rpc.message.maxSize", "512"), 4, 4, 5_000_000));
    }

    @Test
    void aWorkerThatFailsFailsTheEpochInsteadOfLeavingTheOthersWaiting() {
        var rdd = TestSpark.jsc().parallelize(batches(12, 3), 2).cache();
        MultiLayerNetwork net = TestModels.mlp(6, new int[]{5}, 3, 4);
        long start = System.nanoTime();
        var e = assertThrows(Exception.class, () -> train(net, rdd, LocalSgd.Sync.BARRIER, 1, List.of(new FailOnWorker1())));
        assertTrue(String.valueOf(e.getMessage()).contains("worker 1 fails"), e.getMessage());
        assertTrue(System.nanoTime() - start < 60_000_000_000L, "the waiting worker was stopped");
        rdd.unpersist(false);
    }

    @Test
    void anEpochWhoseBarrierStageFailsRunsAgainFromItsStartToTheSameWeights() {
        assertEquals(1, LocalSgd.attempts(TestSpark.jsc().sc()), "local[2]: one attempt of a task, as Spark's");
        var rdd = TestSpark.jsc().parallelize(batches(12, 3), 2).cache();
        MultiLayerNetwork failed = TestModels.mlp(6, new int[]{5}, 3, 4), clean = failed.clone();
        train(clean, rdd, LocalSgd.Sync.BARRIER, 2, List.of());
        var sgd = LocalSgd.of(TestSpark.jsc(), rdd, failed, new SparkTrainer.Config(2, 8, 3, SEED), List.of(), List.of(new FailOnce()),
                LocalSgd.Sync.BARRIER).attempts(2);
        try {
            assertEquals(96, sgd.epoch(1));
            FailOnce.armed.set(true);
            assertEquals(96, sgd.epoch(2), "every row once, the failed attempt's not counted");
        } finally {
            sgd.finish();
        }
        assertFalse(FailOnce.armed.get(), "the first attempt of epoch 2 failed");
        assertEquals(LocalSgd.Sync.BARRIER, sgd.sync());
        assertArrayEquals(clean.params().toFloatVector(), failed.params().toFloatVector());
        assertArrayEquals(updater(clean), updater(failed));
        assertEquals(clean.getLayerWiseConfigurations().getIterationCount(), failed.getLayerWiseConfigurations().getIterationCount());
        rdd.unpersist(false);
    }

    @Test
    void anEpochReportsTheWorkersTimeFittingAndWaitingForEachOther() {
        var rdd = TestSpark.jsc().parallelize(batches(12, 3), 2).cache(); // 6 minibatches a worker: 2 rounds of 3
        long slept = 6 * SlowWorker1.MILLIS * 1_000_000L; // worker 1's sleeps, in its fit loop
        MultiLayerNetwork net = TestModels.mlp(6, new int[]{5}, 3, 4);
        var sgd = LocalSgd.of(TestSpark.jsc(), rdd, net, new SparkTrainer.Config(1, 8, 3, SEED), List.of(), List.of(new SlowWorker1()), LocalSgd.Sync.BARRIER);
        long wall;
        try {
            long t0 = System.nanoTime();
            assertEquals(96, sgd.epoch(1));
            wall = System.nanoTime() - t0;
        } finally {
            sgd.finish();
        }
        assertTrue(sgd.fitNanos() >= slept, sgd.fitNanos() + " ns fitting");
        assertTrue(sgd.waitNanos() >= slept / 2, "worker 0 waits for worker 1's sleeps each round: " + sgd.waitNanos() + " ns");
        assertTrue(sgd.fitNanos() + sgd.waitNanos() <= 2 * wall, "no more than two workers' wall time: " + sgd.fitNanos() + " + " + sgd.waitNanos() + " of 2 × " + wall);
        var jobs = LocalSgd.of(TestSpark.jsc(), rdd, net.clone(), new SparkTrainer.Config(1, 8, 3, SEED), List.of(), List.of(new SlowWorker1()), LocalSgd.Sync.JOBS);
        try {
            assertEquals(96, jobs.epoch(1));
        } finally {
            jobs.finish();
        }
        assertTrue(jobs.fitNanos() >= slept, "one job a round: the fit loops of both rounds timed, " + jobs.fitNanos() + " ns");
        assertEquals(-1, jobs.waitNanos(), "one job a round: the waiting is Spark's, not measured");
        // the progress line's shares of the workers' time: summed over the workers, of workers × the epoch's wall time
        assertEquals("; fitting 90 %, waiting 5 %", SparkTrainer.shares(1_800_000_000L, 100_000_000L, 2, 1_000_000_000L));
        assertEquals("; fitting 97 %, waiting 0 %", SparkTrainer.shares(970_000_000L, 0, 1, 1_000_000_000L));
        assertEquals("; fitting 90 %", SparkTrainer.shares(1_800_000_000L, -1, 2, 1_000_000_000L));
        rdd.unpersist(false);
    }

    /** A hook acting before each DataSet minibatch only. */
    abstract static class DataSetHook implements TrainingHook {
        @Override
        public void postUpdate(org.nd4j.linalg.dataset.api.DataSet minibatch, Model model) {
        }

        @Override
        public void preUpdate(MultiDataSet minibatch, Model model) {
        }

        @Override
        public void postUpdate(MultiDataSet minibatch, Model model) {
        }
    }

    /** Sleeps {@value #MILLIS} ms before each of worker 1's minibatches. */
    static final class SlowWorker1 extends DataSetHook {
        static final long MILLIS = 40;

        @Override
        public void preUpdate(org.nd4j.linalg.dataset.api.DataSet minibatch, Model model) {
            if (org.apache.spark.TaskContext.getPartitionId() != 1) return;
            try {
                Thread.sleep(MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Throws once when armed, in worker 1's fourth minibatch (local mode: one JVM holds the flag). */
    static final class FailOnce extends DataSetHook {
        static final java.util.concurrent.atomic.AtomicBoolean armed = new java.util.concurrent.atomic.AtomicBoolean();
        private int seen;

        @Override
        public void preUpdate(org.nd4j.linalg.dataset.api.DataSet minibatch, Model model) {
            if (org.apache.spark.TaskContext.getPartitionId() == 1 && ++seen == 4 && armed.compareAndSet(true, false)) throw new IllegalStateException("worker 1 fails once");
        }
    }

    /** Throws in worker 1's second minibatch, after worker 0 has gone on to the first exchange. */
    static final class FailOnWorker1 extends DataSetHook {
        private int seen;

        @Override
        public void preUpdate(org.nd4j.linalg.dataset.api.DataSet minibatch, Model model) {
            if (org.apache.spark.TaskContext.getPartitionId() == 1 && ++seen == 2) throw new IllegalStateException("worker 1 fails");
        }
    }

    @Test
    void theEpochFunctionAndItsMessagesSurviveKryoAndJavaSerialization() {
        float[] p = {1.5f, -2f, Float.NaN, 0f}, u = {3f, 4f, 5f, 6f, 7f, 8f, 9f, Float.MIN_VALUE};
        String message = BarrierEpoch.encode(3, 7, NdRows.of(p, 1, 4), NdRows.of(u, 1, 8));
        var back = BarrierEpoch.Message.read(message);
        assertEquals(3, back.worker());
        assertEquals(7, back.steps());
        assertArrayEquals(p, back.paramValues());
        assertArrayEquals(u, back.updaterValues());
        var shape = TestSpark.jsc().broadcast(new NetConf(NetConf.conf(TestModels.mlp(6, new int[]{5}, 3, 4)), "t", 1));
        var state = TestSpark.jsc().broadcast(new LocalSgd.State(new float[]{1}, null, 0, 0));
        var fn = new BarrierEpoch(new WorkerRound(shape, state, 0, 2, 3, SEED, List.of(), List.of(new TaskThreadsHook())), 4, 3, false);
        for (Serializer s : List.<Serializer>of(new KryoSerializer(new SparkConf(false).set("spark.kryo.registrator", SqueezeKryoRegistrator.CHAIN)),
                new JavaSerializer(new SparkConf(false)))) {
            var bytes = s.newInstance().serialize(fn, ClassTag$.MODULE$.AnyRef());
            BarrierEpoch r = (BarrierEpoch) s.newInstance().deserialize(bytes, ClassTag$.MODULE$.AnyRef());
            assertEquals(4, r.rounds());
            assertEquals(3, r.epochs());
            assertFalse(r.everyState());
            assertEquals(3, r.round().syncEvery);
            assertEquals(SEED, r.round().seed);
            var mm = (String) s.newInstance().deserialize(s.newInstance().serialize(message, ClassTag$.MODULE$.AnyRef()), ClassTag$.MODULE$.AnyRef());
            assertEquals(message, mm, "a message through the RPC's serializer");
            assertArrayEquals(u, BarrierEpoch.Message.read(mm).updaterValues());
        }
        shape.destroy();
        state.destroy();
    }
}
