package io.squeeze.spark;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.Function2;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.deeplearning4j.spark.api.TrainingHook;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * Data-parallel training by local SGD with periodic model averaging (McDonald, Hall and Mann 2010; Zinkevich et al.
 * 2010; Lin et al. 2020, "Don't use large mini-batches, use local SGD"). Each partition of the minibatches is one
 * worker. The minibatches are built once, converted to on-heap float arrays ({@link TrainingBatch}) and cached by
 * Spark ({@code MEMORY_AND_DISK}); every epoch each worker fits its own share in an order drawn from (seed, epoch,
 * worker), {@code syncEvery} minibatches a round. After a round the workers' parameters and updater state (Adam's
 * moments) are averaged in worker order, so the same seed, data, master and partitioning give the same weights. Where
 * Spark can run every worker at once ({@link BarrierEpoch#fits}), an epoch is one barrier stage: each worker runs all
 * its rounds in one task, the workers exchange their states through Spark's barrier coordinator after each round and
 * each computes the same mean ({@link BarrierEpoch}); otherwise each round is one Spark job, after which the driver
 * averages and broadcasts the mean. Both give the same weights (tested). An executor keeps each worker's network
 * between rounds and epochs (rebuilt when the configuration is broadcast again, once an epoch, after the driver's
 * end-of-epoch work). What a network's configuration carries trains as it does in
 * process: mask constraints after every update, frozen layers, fake quantization, a KD loss, hint outputs; the
 * listeners and hooks given run around every minibatch on the executors. Adam runs as {@link io.squeeze.model.JavaAdam}
 * on every worker's network (and in process): the same update as DL4J's native op, one step of LeNet-300-100 on one
 * thread 4.0 ms instead of 5.4-5.6 (docs/BENCHMARKS.md).
 *
 * <p>This replaced DL4J's {@code ParameterAveragingTrainingMaster}, which rebuilt each worker's network and re-read the
 * round's exported minibatch files every round, and wrote the whole dataset to the default filesystem first
 * (docs/BENCHMARKS.md, "Training throughput"). A worker's share should fit in its executor's memory; a spilled share
 * is read back from the executor's local disk once a round (once an epoch in a barrier stage).
 */
final class LocalSgd {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger("squeeze");
    /** The network's configuration (either of DL4J's two kinds), Java-serialized. */
    record Shape(byte[] conf, String training, int version) implements Serializable {
        /**
         * The network's configuration, serialized with its iteration and epoch counts at 0: a worker's counts come
         * from the round's {@link State}, so two epochs of an unchanged configuration give the same bytes.
         */
        static byte[] conf(Model net) {
            Serializable conf;
            if (net instanceof ComputationGraph g) {
                var c = g.getConfiguration().clone();
                c.setIterationCount(0);
                c.setEpochCount(0);
                conf = c;
            } else {
                var c = ((MultiLayerNetwork) net).getLayerWiseConfigurations().clone();
                c.setIterationCount(0);
                c.setEpochCount(0);
                conf = c;
            }
            return org.apache.commons.lang3.SerializationUtils.serialize(conf);
        }

        Model build(INDArray params) {
            Object conf = org.apache.commons.lang3.SerializationUtils.deserialize(this.conf);
            if (conf instanceof org.deeplearning4j.nn.conf.ComputationGraphConfiguration c) {
                ComputationGraph g = new ComputationGraph(c);
                g.init(params, true);
                return g;
            }
            MultiLayerNetwork n = new MultiLayerNetwork((org.deeplearning4j.nn.conf.MultiLayerConfiguration) conf);
            n.init(params, true);
            return n;
        }
    }

    /** What every worker starts a round from: the averaged parameters and updater state, and the step counts. */
    record State(float[] params, float[] updater, int iteration, int epoch) implements Serializable {
    }

    /**
     * A worker's parameters and updater state after its round (or epoch), what it fitted, the nanoseconds its fit loop
     * took ({@code fitNanos}) and those it waited for the other workers at the barrier ({@code waitNanos}; -1 where not
     * measured: one Spark job a round).
     */
    record Result(int worker, float[] params, float[] updater, int steps, long rows, long fitNanos, long waitNanos) implements Serializable {
    }

    /** The minibatches each worker (partition) holds, and their rows. */
    record Share(int worker, int batches, long rows) implements Serializable {
    }

    private final JavaSparkContext jsc;
    private final JavaRDD<TrainingBatch> cached;
    private final Model net;
    private final SparkTrainer.Config cfg;
    private final List<TrainingListener> listeners;
    private final List<TrainingHook> hooks;
    final String training = java.util.UUID.randomUUID().toString();
    private int rounds = -1, workers;
    /** The configuration the workers' networks were last built from, and its version (a new one each time it changes). */
    private byte[] conf;
    private int version;
    /** How the rounds must run (tests, or after Spark refused a barrier stage); null: chosen before each epoch. */
    private Sync forced;
    /** How the last epoch's rounds ran. */
    private Sync sync;
    /** How many times an epoch's barrier stage may run: as many as Spark's attempts of a task ({@link #attempts}). */
    private int attempts;
    /**
     * The last epoch's nanoseconds in the workers' fit loops and waiting at the barrier, summed over the workers;
     * {@code waitNanos} is -1 when not measured (one Spark job a round).
     */
    private long fitNanos, waitNanos;

    /** How the workers meet after each round. */
    enum Sync {
        /** One Spark barrier stage an epoch; the workers exchange their states and each averages ({@link BarrierEpoch}). */
        BARRIER,
        /** One Spark job a round; the driver averages and broadcasts the mean. */
        JOBS
    }

    private LocalSgd(JavaSparkContext jsc, JavaRDD<TrainingBatch> data, Model net, SparkTrainer.Config cfg, List<TrainingListener> listeners,
                     List<TrainingHook> hooks) {
        this.jsc = jsc;
        this.cached = data;
        this.net = net;
        this.cfg = cfg;
        this.listeners = listeners;
        this.hooks = hooks;
        this.attempts = attempts(jsc.sc());
    }

    /**
     * Spark's attempts of a task: {@code spark.task.maxFailures} (4 by default) on a cluster, 1 on {@code local[N]},
     * F on {@code local[N,F]}.
     */
    static int attempts(org.apache.spark.SparkContext sc) {
        if (sc.taskScheduler() instanceof org.apache.spark.scheduler.TaskSchedulerImpl t) return t.maxTaskFailures();
        return sc.conf().getInt("spark.task.maxFailures", 4);
    }

    /** As many runs of an epoch's barrier stage as given instead of Spark's attempts of a task (tests). */
    LocalSgd attempts(int n) {
        attempts = n;
        return this;
    }

    /** Training of {@code net} in place on {@code data}, which the caller has persisted (every round reads it). */
    static LocalSgd of(JavaSparkContext jsc, JavaRDD<TrainingBatch> data, Model net, SparkTrainer.Config cfg, List<TrainingListener> listeners,
                       List<TrainingHook> hooks) {
        return new LocalSgd(jsc, data, net, cfg, listeners, hooks);
    }

    /** As {@link #of}, with the rounds run as {@code sync} says, whether or not a barrier stage would fit (tests). */
    static LocalSgd of(JavaSparkContext jsc, JavaRDD<TrainingBatch> data, Model net, SparkTrainer.Config cfg, List<TrainingListener> listeners,
                       List<TrainingHook> hooks, Sync sync) {
        LocalSgd s = new LocalSgd(jsc, data, net, cfg, listeners, hooks);
        s.forced = sync;
        return s;
    }

    /** The workers (partitions of the data), known after the first epoch. */
    int workers() {
        return workers;
    }

    /** How the last epoch's rounds ran. */
    Sync sync() {
        return sync;
    }

    /** The nanoseconds the workers spent in their fit loops in the last epoch, summed over the workers. */
    long fitNanos() {
        return fitNanos;
    }

    /**
     * The nanoseconds the workers spent waiting for each other at the barrier in the last epoch, summed over the workers;
     * -1 when its rounds ran as one Spark job each (the waiting is then Spark's, not measured).
     */
    long waitNanos() {
        return waitNanos;
    }

    /**
     * One epoch (1-based): the first counts each worker's minibatches (and builds the cache); the network's
     * configuration as it is now (the driver may have changed it after the last epoch: a learning rate, re-calibrated
     * ranges) goes to the executors. Returns the rows trained.
     */
    long epoch(int e) {
        if (rounds < 0) {
            List<Share> shares = shares(cached);
            rounds = rounds(shares, cfg.syncEvery());
            workers = shares.size();
        }
        INDArray u = updaterState(net);
        sync = forced != null ? forced
                : BarrierEpoch.fits(jsc.sc(), workers, net.params().length() + (u == null ? 0 : u.length())) ? Sync.BARRIER : Sync.JOBS;
        byte[] now = Shape.conf(net);
        if (!java.util.Arrays.equals(now, conf)) { // the workers keep their networks (and arrays) until it changes
            conf = now;
            version++;
        }
        Broadcast<Shape> shape = jsc.broadcast(new Shape(conf, training, version));
        long rows = 0;
        fitNanos = 0;
        waitNanos = -1;
        try {
            for (int attempt = 1; sync == Sync.BARRIER; attempt++) {
                try {
                    rows = barrierEpoch(shape, e);
                    break;
                } catch (Exception x) {
                    if (refused(x)) {
                        // Spark refused the barrier stage before it ran (the data's lineage, or slots gone since the check)
                        LOG.info("local SGD: one Spark job a round ({})", x.getMessage());
                        sync = forced = Sync.JOBS;
                    } else {
                        // Spark does not rerun a failed barrier result stage: the epoch runs again from its start, as
                        // Spark reruns a failed task, and gives the same weights (the broadcast state is unchanged)
                        if (attempt >= attempts) throw x;
                        String why = String.valueOf(x.getMessage()).lines().findFirst().orElse("");
                        LOG.warn("epoch {}: its barrier stage failed ({}); running the epoch again, attempt {} of {}", e, why, attempt + 1, attempts);
                        if (forced == null && !BarrierEpoch.fits(jsc.sc(), workers, net.params().length() + (u == null ? 0 : u.length())))
                            sync = Sync.JOBS; // slots lost with an executor: this epoch one job a round
                    }
                }
            }
            if (sync == Sync.JOBS) for (int r = 0; r < rounds; r++) rows += round(shape, r, e);
        } finally {
            shape.destroy();
        }
        if (net instanceof ComputationGraph g) g.incrementEpochCount();
        else ((MultiLayerNetwork) net).incrementEpochCount();
        return rows;
    }

    /**
     * Lets go of the workers' networks of this training where this JVM holds them (local mode); an executor of a
     * cluster drops them when its next training's first round arrives.
     */
    void finish() {
        String prefix = training + "/";
        WorkerRound.forget(k -> k.startsWith(prefix));
    }

    /** Builds the cache (the first epoch's data pass) and counts each worker's minibatches. */
    private static List<Share> shares(JavaRDD<TrainingBatch> cached) {
        return cached.mapPartitionsWithIndex((Function2<Integer, Iterator<TrainingBatch>, Iterator<Share>>) (p, it) -> {
            int n = 0;
            long rows = 0;
            while (it.hasNext()) {
                rows += it.next().rows();
                n++;
            }
            return List.of(new Share(p, n, rows)).iterator();
        }, true).collect();
    }

    static int rounds(List<Share> shares, int syncEvery) {
        int most = shares.stream().mapToInt(Share::batches).max().orElse(0);
        return (most + syncEvery - 1) / syncEvery;
    }

    /** Every round of an epoch in one barrier stage ({@link BarrierEpoch}); the driver takes worker 0's final state. */
    private long barrierEpoch(Broadcast<Shape> shape, int epoch) {
        INDArray updater = updaterState(net);
        int[] counts = counts(net);
        Broadcast<State> state = jsc.broadcast(state(updater, counts));
        List<Result> results;
        try {
            results = BarrierEpoch.run(cached, new WorkerRound(shape, state, 0, epoch, cfg.syncEvery(), cfg.seed(), listeners, hooks), rounds);
        } finally {
            state.destroy();
        }
        Result last = results.stream().filter(r -> r.worker() == 0).findFirst().orElseThrow();
        net.setParams(row(last.params()));
        if (updater != null) updater.assign(row(last.updater()));
        setCounts(net, counts[0] + last.steps(), counts[1]);
        fitNanos = results.stream().mapToLong(Result::fitNanos).sum();
        waitNanos = results.stream().mapToLong(Result::waitNanos).sum();
        return results.stream().mapToLong(Result::rows).sum();
    }

    private static boolean refused(Throwable x) {
        for (Throwable t = x; t != null; t = t.getCause()) if (t instanceof org.apache.spark.scheduler.BarrierJobAllocationFailed) return true;
        return false;
    }

    private State state(INDArray updater, int[] counts) {
        return new State(io.squeeze.model.NdRows.toRowMajor(net.params()), updater == null ? null : io.squeeze.model.NdRows.toRowMajor(updater), counts[0], counts[1]);
    }

    /** One round: every worker fits its next {@code syncEvery} minibatches from the averaged state; returns the rows. */
    private long round(Broadcast<Shape> shape, int round, int epoch) {
        INDArray updater = updaterState(net);
        int[] counts = counts(net);
        Broadcast<State> state = jsc.broadcast(state(updater, counts));
        List<Result> results;
        try {
            results = new ArrayList<>(cached.mapPartitionsWithIndex(new WorkerRound(shape, state, round, epoch, cfg.syncEvery(), cfg.seed(),
                    listeners, hooks), true).collect());
        } finally {
            state.destroy();
        }
        if (results.isEmpty()) return 0;
        results.sort(java.util.Comparator.comparingInt(Result::worker));
        net.setParams(row(mean(results, Result::params)));
        if (updater != null) updater.assign(row(mean(results, Result::updater)));
        setCounts(net, counts[0] + results.stream().mapToInt(Result::steps).max().orElse(0), counts[1]);
        fitNanos += results.stream().mapToLong(Result::fitNanos).sum();
        return results.stream().mapToLong(Result::rows).sum();
    }

    /** The network's iteration and epoch counts (Adam's bias correction and schedules read them). */
    private static int[] counts(Model net) {
        if (net instanceof ComputationGraph g) return new int[]{g.getConfiguration().getIterationCount(), g.getConfiguration().getEpochCount()};
        var c = ((MultiLayerNetwork) net).getLayerWiseConfigurations();
        return new int[]{c.getIterationCount(), c.getEpochCount()};
    }

    static void setCounts(Model net, int iteration, int epoch) {
        if (net instanceof ComputationGraph g) {
            g.getConfiguration().setIterationCount(iteration);
            g.getConfiguration().setEpochCount(epoch);
        } else {
            ((MultiLayerNetwork) net).getLayerWiseConfigurations().setIterationCount(iteration);
            ((MultiLayerNetwork) net).getLayerWiseConfigurations().setEpochCount(epoch);
        }
    }

    static INDArray updaterState(Model net) {
        if (net instanceof ComputationGraph g) return g.getUpdater() == null ? null : g.getUpdater().getStateViewArray();
        var u = ((MultiLayerNetwork) net).getUpdater();
        return u == null ? null : u.getStateViewArray();
    }

    /** A flat parameter or updater-state vector as DL4J keeps it: one row, filled in one bulk copy ({@link io.squeeze.model.NdRows}). */
    static INDArray row(float[] values) {
        return io.squeeze.model.NdRows.of(values, 1, values.length);
    }

    /** The element-wise mean of the workers' arrays: the first worker's values, each next one's {@link #add}ed in worker order, then {@link #divide}d. */
    static float[] mean(List<Result> results, java.util.function.Function<Result, float[]> of) {
        float[] sum = of.apply(results.get(0)).clone();
        for (int w = 1; w < results.size(); w++) add(sum, of.apply(results.get(w)), sum.length);
        divide(sum, sum.length, results.size());
        return sum;
    }

    /** {@code sum[i] += a[i]} for the first {@code n} values: one worker's step of the mean (also {@link BarrierEpoch.Exchange}'s). */
    static void add(float[] sum, float[] a, int n) {
        for (int i = 0; i < n; i++) sum[i] += a[i];
    }

    /** {@code sum[i] /= count} for the first {@code n} values: the mean's last step (also {@link BarrierEpoch.Exchange}'s). */
    static void divide(float[] sum, int n, int count) {
        float c = count;
        for (int i = 0; i < n; i++) sum[i] /= c;
    }

    /** The order in which a worker fits its minibatches in an epoch: a permutation drawn from (seed, epoch, worker). */
    static int[] order(int n, long seed, int epoch, int worker) {
        int[] o = new int[n];
        for (int i = 0; i < n; i++) o[i] = i;
        var rnd = new java.util.SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch * 0xBF58476D1CE4E5B9L + worker);
        for (int i = n - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = o[i];
            o[i] = o[j];
            o[j] = t;
        }
        return o;
    }
}
