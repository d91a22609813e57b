package io.squeeze.spark;

import io.squeeze.TestModels;
import io.squeeze.TestSpark;
import io.squeeze.data.Example;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.BiConsumer;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Several epochs as one barrier stage train to the weights of one stage an epoch, give each epoch its own rows, loss
 * and state, and are chosen only for hooks that merely read the network.
 */
class EpochStagesTest {
    private static final long SEED = 9;

    private static float[] state(MultiLayerNetwork n) {
        float[] p = n.params().toFloatVector(), u = n.getUpdater().getStateViewArray().toFloatVector();
        float[] all = java.util.Arrays.copyOf(p, p.length + u.length);
        System.arraycopy(u, 0, all, p.length, u.length);
        return all;
    }

    @Test
    void epochsInOneStageGiveEachEpochTheStateAndLossOfOneStageAnEpoch() {
        var jsc = TestSpark.jsc();
        var rdd = jsc.parallelize(BarrierEpochTest.batches(17, 3), 2).cache(); // 9 and 8 minibatches: 3 rounds of 3, the last uneven
        MultiLayerNetwork single = TestModels.mlp(6, new int[]{5}, 3, 4), grouped = single.clone();
        var cfg = new SparkTrainer.Config(4, 8, 3, SEED);
        var hooks = List.<org.deeplearning4j.spark.api.TrainingHook>of(new TaskThreadsHook(), new DropoutSeedHook(SEED));
        EpochLoss lossA = new EpochLoss(jsc), lossB = new EpochLoss(jsc);
        var a = LocalSgd.of(jsc, rdd, single, cfg, List.of(lossA), hooks, LocalSgd.Sync.BARRIER);
        var b = LocalSgd.of(jsc, rdd, grouped, cfg, List.of(lossB), hooks, LocalSgd.Sync.BARRIER);
        List<float[]> states = new ArrayList<>();
        List<Double> losses = new ArrayList<>();
        List<Long> rows = new ArrayList<>();
        try {
            for (int e = 1; e <= 4; e++) {
                rows.add(a.epoch(e));
                states.add(state(single));
                losses.add(lossA.take());
            }
            var first = b.epochs(1, 1);
            assertEquals(1, first.size());
            b.apply(first.get(0));
            assertArrayEquals(states.get(0), state(grouped));
            var rest = b.epochs(2, 3);
            assertEquals(List.of(2, 3, 4), rest.stream().map(LocalSgd.Epoch::epoch).toList(), "one stage, three epochs");
            assertEquals(LocalSgd.Sync.BARRIER, b.sync());
            for (int i = 0; i < 3; i++) {
                LocalSgd.Epoch d = rest.get(i);
                b.apply(d);
                assertArrayEquals(states.get(i + 1), state(grouped), "epoch " + d.epoch() + "'s parameters and Adam's moments");
                assertEquals(rows.get(i + 1), d.rows());
                assertEquals(17, d.lossCount(), "every minibatch of the epoch, 9 of one worker and 8 of the other");
                assertEquals(losses.get(i + 1), d.lossSum() / d.lossCount(), 1e-12, "epoch " + d.epoch() + "'s mean loss");
                assertTrue(d.nanos() > 0 && d.fitNanos() > 0 && d.waitNanos() >= 0, d.toString());
            }
            assertEquals(single.getLayerWiseConfigurations().getIterationCount(), grouped.getLayerWiseConfigurations().getIterationCount());
            assertEquals(single.getLayerWiseConfigurations().getEpochCount(), grouped.getLayerWiseConfigurations().getEpochCount());
            assertEquals(4, grouped.getLayerWiseConfigurations().getEpochCount());
            assertEquals(0, SharedStates.published(), "the shared states of all twelve rounds removed");
        } finally {
            a.finish();
            b.finish();
            rdd.unpersist(false);
        }
    }

    @Test
    void withoutEveryStateOnlyTheStagesLastEpochCarriesItsStateWithTheSameWeightsAndCounts() {
        var jsc = TestSpark.jsc();
        var rdd = jsc.parallelize(BarrierEpochTest.batches(17, 3), 2).cache();
        MultiLayerNetwork single = TestModels.mlp(6, new int[]{5}, 3, 4), grouped = single.clone();
        var cfg = new SparkTrainer.Config(4, 8, 3, SEED);
        var hooks = List.<org.deeplearning4j.spark.api.TrainingHook>of(new TaskThreadsHook());
        var a = LocalSgd.of(jsc, rdd, single, cfg, List.of(), hooks, LocalSgd.Sync.BARRIER);
        var b = LocalSgd.of(jsc, rdd, grouped, cfg, List.of(), hooks, LocalSgd.Sync.BARRIER);
        List<Integer> iterations = new ArrayList<>();
        try {
            for (int e = 1; e <= 4; e++) {
                a.epoch(e);
                iterations.add(single.getLayerWiseConfigurations().getIterationCount());
            }
            b.apply(b.epochs(1, 1, false).get(0));
            float[] start = state(grouped);
            var rest = b.epochs(2, 3, false);
            assertEquals(List.of(2, 3, 4), rest.stream().map(LocalSgd.Epoch::epoch).toList());
            for (int i = 0; i < 3; i++) {
                LocalSgd.Epoch d = rest.get(i);
                assertEquals(i == 2, d.params() != null, "epoch " + d.epoch() + " carries a state");
                assertEquals(i == 2, d.updater() != null, "epoch " + d.epoch() + " carries Adam's moments");
                assertEquals(iterations.get(i + 1) - iterations.get(i), d.steps(), "3 rounds of at most 3 minibatches a worker");
                b.apply(d);
                if (i < 2) assertArrayEquals(start, state(grouped), "the driver keeps the stage's start until its last epoch");
                assertEquals(iterations.get(i + 1), grouped.getLayerWiseConfigurations().getIterationCount(), "epoch " + d.epoch() + "'s steps");
                assertEquals(i + 2, grouped.getLayerWiseConfigurations().getEpochCount());
            }
            assertArrayEquals(state(single), state(grouped), "the last epoch's parameters and Adam's moments");
        } finally {
            a.finish();
            b.finish();
            rdd.unpersist(false);
        }
    }

    @Test
    void aWatcherThroughAViewTakesTheViewOnlyWhenItReadsTheNetwork() {
        List<String> seen = new ArrayList<>();
        double[] seconds = new double[3];
        EpochWatcher<String> reading = new EpochWatcher<>() {
            @Override
            public void seconds(int epoch, double s) {
                seconds[epoch] = s;
            }

            @Override
            public void accept(Integer e, String n) {
                seen.add(e + ":" + n);
            }
        };
        var through = EpochWatcher.<String, Integer>through(reading, n -> "view of " + n);
        EpochWatcher<Integer> w = assertInstanceOf(EpochWatcher.class, through);
        assertTrue(w.readsNetwork());
        w.seconds(1, 2.5);
        w.accept(1, 7);
        assertEquals(List.of("1:view of 7"), seen);
        assertEquals(2.5, seconds[1]);
        var none = EpochWatcher.<String, Integer>through(EpochWatcher.none(), n -> {
            throw new AssertionError("a view taken for a watcher that does not read the network");
        });
        EpochWatcher<Integer> n = assertInstanceOf(EpochWatcher.class, none);
        assertFalse(n.readsNetwork());
        n.accept(2, 8);
        BiConsumer<Integer, String> plain = (e, x) -> seen.add(e + ":" + x);
        var changing = EpochWatcher.<String, Integer>through(plain, x -> "view of " + x);
        assertFalse(changing instanceof EpochWatcher, "a hook that may change the network stays one");
        changing.accept(3, 9);
        assertEquals(List.of("1:view of 7", "3:view of 9"), seen);
    }

    private static List<Example> rows(int n) {
        Random r = new Random(2);
        List<Example> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            float[] f = new float[6];
            int y = r.nextInt(3);
            for (int j = 0; j < 6; j++) f[j] = (float) r.nextGaussian() + (j % 3 == y ? 1.5f : 0);
            rows.add(new Example(i, f, y));
        }
        return rows;
    }

    /** Trains 4 epochs with {@code after}; returns the progress and each epoch's parameters as {@code after} saw them. */
    private static String train(MultiLayerNetwork net, boolean observer, List<float[]> seen, double[] seconds) {
        return train(net, observer, true, seen, seconds);
    }

    /** As above; an observer that does not read the network ({@code reads} false) records the epochs it was called for. */
    private static String train(MultiLayerNetwork net, boolean observer, boolean reads, List<float[]> seen, double[] seconds) {
        StringWriter out = new StringWriter();
        BiConsumer<Integer, MultiLayerNetwork> record = (e, n) -> {
            assertEquals(seen.size() + 1, e);
            seen.add(reads ? n.params().toFloatVector() : new float[0]);
        };
        BiConsumer<Integer, MultiLayerNetwork> after = !observer ? record : new EpochWatcher<>() {
            @Override
            public void seconds(int epoch, double s) {
                seconds[epoch] = s;
            }

            @Override
            public boolean readsNetwork() {
                return reads;
            }

            @Override
            public void accept(Integer e, MultiLayerNetwork n) {
                record.accept(e, n);
            }
        };
        SparkTrainer.train(TestSpark.jsc(), TestSpark.jsc().parallelize(rows(320), 2), net, 6, 3, new SparkTrainer.Config(4, 16, 3, SEED),
                "stages-test", new PrintWriter(out), after);
        return out.toString();
    }

    @Test
    void aHookThatOnlyReadsTheNetworkLetsShortEpochsShareAStageWithTheSameWeights() {
        MultiLayerNetwork plain = TestModels.mlp(6, new int[]{5}, 3, 4), observed = plain.clone();
        List<float[]> plainSeen = new ArrayList<>(), observedSeen = new ArrayList<>();
        double[] seconds = new double[5];
        String p = train(plain, false, plainSeen, new double[5]), o = train(observed, true, observedSeen, seconds);
        assertFalse(p.contains("for epochs"), "a hook that may change the network: one stage an epoch\n" + p);
        // the first epoch builds the cache alone; the next three, a few ms each, fit in one stage of about 10 s
        assertTrue(o.contains("train: epoch 1/4 ") && o.contains("(2 workers, one barrier stage; fitting "), o);
        assertEquals(3, o.lines().filter(l -> l.contains("(2 workers, one barrier stage for epochs 2-4; fitting ")).count(), o);
        assertEquals(4, observedSeen.size());
        for (int e = 0; e < 4; e++) assertArrayEquals(plainSeen.get(e), observedSeen.get(e), "epoch " + (e + 1) + " as the hook saw it");
        assertArrayEquals(plain.params().toFloatVector(), observed.params().toFloatVector());
        for (int e = 1; e <= 4; e++) assertTrue(seconds[e] > 0, "epoch " + e + "'s seconds");
        // the progress lines' losses agree to their four decimals
        assertEquals(p.lines().filter(l -> l.startsWith("train: epoch")).map(l -> l.split("\\s+")[4]).toList(),
                o.lines().filter(l -> l.startsWith("train: epoch")).map(l -> l.split("\\s+")[4]).toList(), p + o);
    }

    @Test
    void aWatcherThatDoesNotReadTheNetworkGetsTheSameWeightsFromStagesThatReturnOnlyTheirLastState() {
        MultiLayerNetwork plain = TestModels.mlp(6, new int[]{5}, 3, 4), timed = plain.clone();
        List<float[]> seen = new ArrayList<>();
        double[] seconds = new double[5];
        String p = train(plain, false, new ArrayList<>(), new double[5]), t = train(timed, true, false, seen, seconds);
        assertEquals(3, t.lines().filter(l -> l.contains("(2 workers, one barrier stage for epochs 2-4; fitting ")).count(), t);
        assertEquals(4, seen.size(), "called after every epoch");
        for (int e = 1; e <= 4; e++) assertTrue(seconds[e] > 0, "epoch " + e + "'s seconds");
        assertArrayEquals(plain.params().toFloatVector(), timed.params().toFloatVector());
        assertArrayEquals(plain.getUpdater().getStateViewArray().toFloatVector(), timed.getUpdater().getStateViewArray().toFloatVector());
        assertEquals(plain.getLayerWiseConfigurations().getIterationCount(), timed.getLayerWiseConfigurations().getIterationCount());
        assertEquals(4, timed.getLayerWiseConfigurations().getEpochCount());
        assertEquals(p.lines().filter(l -> l.startsWith("train: epoch")).map(l -> l.split("\\s+")[4]).toList(),
                t.lines().filter(l -> l.startsWith("train: epoch")).map(l -> l.split("\\s+")[4]).toList(), p + t);
    }

    @Test
    void aStageRunsAboutTenSecondsOfEpochsWithinTheStatesItMayHold() {
        assertEquals(50, LocalSgd.epochsPerStage(0.01, 50, 0), "one state a stage: no limit from the states");
        assertEquals(1, LocalSgd.epochsPerStage(Double.NaN, 5, 100), "no epoch timed yet");
        assertEquals(5, LocalSgd.epochsPerStage(2.0, 10, 100));
        assertEquals(3, LocalSgd.epochsPerStage(0.01, 3, 100), "no more than are left");
        assertEquals(1, LocalSgd.epochsPerStage(0.01, 1, 100));
        assertEquals(1, LocalSgd.epochsPerStage(20, 5, 100), "a long epoch alone");
        assertEquals(3, LocalSgd.epochsPerStage(0.01, 50, 10_000_000), "3 states of 40 MB within 128 MB");
        assertEquals(1, LocalSgd.epochsPerStage(0.01, 50, 100_000_000), "one state above the limit still runs, alone");
        assertEquals(3, LocalSgd.epochsPerStage(2.5, 5, 100), "4 a stage at most: 5 left as 3 and 2");
        assertEquals(5, LocalSgd.epochsPerStage(1.9, 9, 100), "5 a stage at most: 9 left as 5 and 4");
    }
}
