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
 * averages and broadcasts the mean. Both give the same weights (tested). Short epochs may run several to a barrier
 * stage ({@link #epochs}, {@link #epochsPerStage}) when the driver changes nothing between them, with the weights of
 * one stage an epoch (tested); when it does not read them either, the stage returns only its last epoch's state. An
 * executor keeps each worker's network between rounds and epochs (rebuilt when the configuration is broadcast again,
 * once a stage, after the driver's end-of-epoch work). What a network's configuration carries trains as it does in
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
    /** About how long a barrier stage of several epochs should last ({@link #epochsPerStage}): progress comes at least this often. */
    static final double STAGE_SECONDS = 10;
    /** At most the bytes of worker 0's states that a barrier stage of several epochs returns. */
    static final long STAGE_STATES_BYTES = 128L << 20;
    /** What every worker starts a round from: the averaged parameters and updater state, and the step counts. */
    record State(float[] params, float[] updater, int iteration, int epoch) implements Serializable {
    }

    /**
     * A worker's parameters and updater state after its round (or epoch), what it fitted, the nanoseconds its fit loop
     * took ({@code fitNanos}) and those it waited for the other workers at the barrier ({@code waitNanos}; -1 where not
     * measured: one Spark job a round). From a barrier stage also the epoch, the nanoseconds the worker spent on it and
     * the sum and count of its minibatches' losses ({@code lossCount} -1: not measured, one Spark job a round).
     */
    record Result(int worker, float[] params, float[] updater, int steps, long rows, long fitNanos, long waitNanos, int epoch, long nanos,
                  double lossSum, long lossCount) implements Serializable {
        /** A round's result of one Spark job a round. */
        Result(int worker, float[] params, float[] updater, int steps, long rows, long fitNanos, long waitNanos) {
            this(worker, params, updater, steps, rows, fitNanos, waitNanos, 0, -1, 0, -1);
        }
    }

    /**
     * An epoch as the driver takes it ({@link #epochs}, then {@link #apply}): its rows, the workers' fitting and waiting
     * nanoseconds summed ({@code waitNanos} -1: one Spark job a round), worker 0's nanoseconds on it ({@code nanos}, -1
     * when not measured), its minibatches' losses ({@code lossCount} -1: in the loss accumulator instead), and from a
     * barrier stage the state it ended in and the steps it took (null params: the driver's network already holds it).
     */
    record Epoch(int epoch, long rows, long fitNanos, long waitNanos, long nanos, double lossSum, long lossCount, float[] params,
                 float[] updater, int steps) {
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
     * One epoch (1-based), its state taken into the network ({@link #epochs} of one, then {@link #apply}). Returns the
     * rows trained.
     */
    long epoch(int e) {
        Epoch d = epochs(e, 1).get(0);
        apply(d);
        return d.rows();
    }

    /** {@link #epochs(int, int, boolean)} with every epoch's state. */
    List<Epoch> epochs(int e, int k) {
        return epochs(e, k, true);
    }

    /**
     * Epochs {@code e} to {@code e + k - 1} (1-based), in one barrier stage when the rounds run as one ({@link Sync#BARRIER});
     * with one Spark job a round only epoch {@code e}. The first epoch counts each worker's minibatches (and builds the
     * cache); the network's configuration and state as they are now (the driver may have changed them after the last
     * epoch: a learning rate, re-calibrated ranges) go to the executors. The driver's network takes each epoch's state
     * from {@link #apply}, in order, before the next call. Without {@code everyState} only the stage's last epoch
     * carries its state (the others' {@link Epoch#params} are null, their steps counted): the driver's network holds
     * the weights of the stage's start until the last epoch is applied.
     */
    List<Epoch> epochs(int e, int k, boolean everyState) {
        if (rounds < 0) {
            List<Share> shares = shares(cached);
            rounds = rounds(shares, cfg.syncEvery());
            workers = shares.size();
        }
        sync = forced != null ? forced : BarrierEpoch.fits(jsc.sc(), workers, stateFloats()) ? Sync.BARRIER : Sync.JOBS;
        byte[] now = NetConf.conf(net);
        if (!java.util.Arrays.equals(now, conf)) { // the workers keep their networks (and arrays) until it changes
            conf = now;
            version++;
        }
        Broadcast<NetConf> shape = jsc.broadcast(new NetConf(conf, training, version));
        List<Epoch> out = null;
        try {
            for (int attempt = 1; sync == Sync.BARRIER; attempt++) {
                try {
                    out = barrierEpochs(shape, e, k, everyState);
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
                        if (k == 1) LOG.warn("epoch {}: its barrier stage failed ({}); running the epoch again, attempt {} of {}", e, why, attempt + 1, attempts);
                        else LOG.warn("epochs {}-{}: their barrier stage failed ({}); running the epochs again, attempt {} of {}", e, e + k - 1, why,
                                attempt + 1, attempts);
                        if (forced == null && !BarrierEpoch.fits(jsc.sc(), workers, stateFloats()))
                            sync = Sync.JOBS; // slots lost with an executor: this epoch one job a round
                    }
                }
            }
            if (sync == Sync.JOBS) {
                long rows = 0, fit = 0;
                for (int r = 0; r < rounds; r++) {
                    long[] done = round(shape, r, e);
                    rows += done[0];
                    fit += done[1];
                }
                out = List.of(new Epoch(e, rows, fit, -1, -1, 0, -1, null, null, 0));
            }
        } finally {
            shape.destroy();
        }
        return out;
    }

    /**
     * Takes epoch {@code d}'s state (if it carries one: the network does not hold it yet) and steps into the driver's
     * network, and counts the epoch.
     */
    void apply(Epoch d) {
        int[] counts = counts(net);
        if (d.params() != null) {
            net.setParams(row(d.params()));
            INDArray updater = updaterState(net);
            if (updater != null) updater.assign(row(d.updater()));
        }
        if (d.steps() > 0) setCounts(net, counts[0] + d.steps(), counts[1]);
        fitNanos = d.fitNanos();
        waitNanos = d.waitNanos();
        if (net instanceof ComputationGraph g) g.incrementEpochCount();
        else ((MultiLayerNetwork) net).incrementEpochCount();
    }

    /**
     * How many epochs the next barrier stage runs: as many as last about {@link #STAGE_SECONDS} at {@code secondsPerEpoch}
     * (what the last ones took), and, when worker 0 returns {@code everyState}, keep its states of them within
     * {@link #STAGE_STATES_BYTES} (the network's parameters and updater values each), at least one; the {@code left}
     * epochs spread evenly over the fewest stages of that many (5 left, 4 a stage: 3 then 2).
     */
    int epochsPerStage(double secondsPerEpoch, int left, boolean everyState) {
        return epochsPerStage(secondsPerEpoch, left, everyState ? stateFloats() : 0);
    }

    /** How many floats a worker's state holds: the network's parameters and its updater's values. */
    private long stateFloats() {
        INDArray u = updaterState(net);
        return net.params().length() + (u == null ? 0 : u.length());
    }

    /** {@link #epochsPerStage(double, int, boolean)} for states of {@code floats} floats returned an epoch (0: one a stage). */
    static int epochsPerStage(double secondsPerEpoch, int left, long floats) {
        if (!(secondsPerEpoch > 0) || left <= 1) return 1;
        long fit = (long) Math.floor(STAGE_SECONDS / secondsPerEpoch), held = floats == 0 ? left : STAGE_STATES_BYTES / (4 * floats);
        long most = Math.max(1, Math.min(left, Math.min(fit, held)));
        long stages = (left + most - 1) / most;
        return (int) ((left + stages - 1) / stages);
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

    /**
     * Every round of epochs {@code epoch} to {@code epoch + k - 1} in one barrier stage ({@link BarrierEpoch}); each
     * epoch ends in worker 0's state of it ({@code everyState}), or only the last does.
     */
    private List<Epoch> barrierEpochs(Broadcast<NetConf> shape, int epoch, int k, boolean everyState) {
        Broadcast<State> state = jsc.broadcast(state(updaterState(net), counts(net)));
        List<Result> results;
        try {
            results = BarrierEpoch.run(cached, new WorkerRound(shape, state, 0, epoch, cfg.syncEvery(), cfg.seed(), listeners, hooks), rounds, k, everyState);
        } finally {
            state.destroy();
        }
        List<Epoch> out = new ArrayList<>();
        for (int e = epoch; e < epoch + k; e++) {
            int at = e;
            List<Result> of = results.stream().filter(r -> r.epoch() == at).toList();
            Result last = of.stream().filter(r -> r.worker() == 0).findFirst().orElseThrow();
            out.add(new Epoch(e, of.stream().mapToLong(Result::rows).sum(), of.stream().mapToLong(Result::fitNanos).sum(),
                    of.stream().mapToLong(Result::waitNanos).sum(), last.nanos(), of.stream().mapToDouble(Result::lossSum).sum(),
                    of.stream().anyMatch(r -> r.lossCount() < 0) ? -1 : of.stream().mapToLong(Result::lossCount).sum(), last.params(),
                    last.updater(), last.steps()));
        }
        return out;
    }

    private static boolean refused(Throwable x) {
        for (Throwable t = x; t != null; t = t.getCause()) if (t instanceof org.apache.spark.scheduler.BarrierJobAllocationFailed) return true;
        return false;
    }

    private State state(INDArray updater, int[] counts) {
        return new State(io.squeeze.model.NdRows.toRowMajor(net.params()), updater == null ? null : io.squeeze.model.NdRows.toRowMajor(updater), counts[0], counts[1]);
    }

    /**
     * One round: every worker fits its next {@code syncEvery} minibatches from the averaged state, which the driver's
     * network takes; returns the rows and the workers' fitting nanoseconds.
     */
    private long[] round(Broadcast<NetConf> shape, int round, int epoch) {
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
        if (results.isEmpty()) return new long[2];
        results.sort(java.util.Comparator.comparingInt(Result::worker));
        net.setParams(row(Averaging.mean(results, Result::params)));
        if (updater != null) updater.assign(row(Averaging.mean(results, Result::updater)));
        setCounts(net, counts[0] + results.stream().mapToInt(Result::steps).max().orElse(0), counts[1]);
        return new long[]{results.stream().mapToLong(Result::rows).sum(), results.stream().mapToLong(Result::fitNanos).sum()};
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
}
