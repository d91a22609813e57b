package io.squeeze.spark;

import org.apache.spark.api.java.function.Function2;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.deeplearning4j.spark.api.TrainingHook;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One worker's round of {@link LocalSgd}'s local SGD (Lin et al. 2020), on an executor: the worker's network set to
 * the round's averaged state ({@link #network}, kept in this JVM between rounds and epochs of the same training and
 * configuration), then {@code syncEvery} minibatches of its share fitted in the epoch's order drawn from (seed, epoch,
 * worker) ({@link Averaging#order}), with the listeners and hooks around each; returns its parameters, updater state,
 * steps, rows and the time its fit loop took, for the driver's average. {@link BarrierEpoch} runs a whole epoch's rounds with the same network and
 * fit loop in one barrier task.
 */
final class WorkerRound implements Function2<Integer, Iterator<TrainingBatch>, Iterator<LocalSgd.Result>> {
    private static final long serialVersionUID = 1L;
    /** Each worker's network of the current training and configuration, kept between rounds and epochs in this JVM. */
    static final ConcurrentHashMap<String, Model> NETS = new ConcurrentHashMap<>();
    /** Each kept network's minibatch arrays ({@link TrainingBatch#dataSet(io.squeeze.model.NdRows.Buffers)}), under the same keys. */
    static final ConcurrentHashMap<String, io.squeeze.model.NdRows.Buffers> INPUTS = new ConcurrentHashMap<>();

    /** Lets go of the kept networks and their arrays whose keys {@code drop} accepts. */
    static void forget(java.util.function.Predicate<String> drop) {
        NETS.keySet().removeIf(drop);
        INPUTS.keySet().removeIf(drop);
    }

    private final Broadcast<NetConf> shape;
    final Broadcast<LocalSgd.State> state;
    final int round, epoch, syncEvery;
    final long seed;
    private final List<TrainingListener> listeners;
    private final List<TrainingHook> hooks;

    WorkerRound(Broadcast<NetConf> shape, Broadcast<LocalSgd.State> state, int round, int epoch, int syncEvery, long seed,
                List<TrainingListener> listeners, List<TrainingHook> hooks) {
        this.shape = shape;
        this.state = state;
        this.round = round;
        this.epoch = epoch;
        this.syncEvery = syncEvery;
        this.seed = seed;
        this.listeners = listeners;
        this.hooks = hooks;
    }

    @Override
    public Iterator<LocalSgd.Result> call(Integer worker, Iterator<TrainingBatch> it) {
        List<TrainingBatch> share = share(it);
        int from = round * syncEvery, to = Math.min(share.size(), from + syncEvery);
        if (from >= to) return Collections.emptyIterator();
        Model net = network(worker);
        long start = System.nanoTime();
        long rows = fit(worker, net, share, Averaging.order(share.size(), seed, epoch, worker), from, to);
        long fitting = System.nanoTime() - start;
        INDArray u = LocalSgd.updaterState(net);
        return List.of(new LocalSgd.Result(worker, io.squeeze.model.NdRows.toRowMajor(net.params()), u == null ? null : io.squeeze.model.NdRows.toRowMajor(u),
                to - from, rows, fitting, -1)).iterator();
    }

    /** The listener that adds up the epoch's loss, among those this worker's network runs; null when none does. */
    EpochLoss loss() {
        for (TrainingListener l : listeners) if (l instanceof EpochLoss x) return x;
        return null;
    }

    static List<TrainingBatch> share(Iterator<TrainingBatch> it) {
        List<TrainingBatch> share = new ArrayList<>();
        it.forEachRemaining(share::add);
        return share;
    }

    /** Fits minibatches {@code from} to {@code to} (exclusive) of the epoch's order, with the hooks around each; returns the rows. */
    long fit(int worker, Model net, List<TrainingBatch> share, int[] order, int from, int to) {
        long rows = 0;
        var kept = INPUTS.computeIfAbsent(key(worker), k -> new io.squeeze.model.NdRows.Buffers());
        for (int i = from; i < to; i++) {
            TrainingBatch b = share.get(order[i]);
            rows += b.rows();
            if (net instanceof ComputationGraph g) {
                var m = b.multi(kept);
                for (TrainingHook h : hooks) h.preUpdate(m, g);
                g.fit(m);
                for (TrainingHook h : hooks) h.postUpdate(m, g);
            } else {
                var n = (MultiLayerNetwork) net;
                var d = b.dataSet(kept);
                for (TrainingHook h : hooks) h.preUpdate(d, n);
                n.fit(d);
                for (TrainingHook h : hooks) h.postUpdate(d, n);
            }
        }
        Nd4j.getExecutioner().commit();
        return rows;
    }

    /** Where this JVM keeps {@code worker}'s network (and its minibatch arrays) of this training and configuration. */
    String key(int worker) {
        return prefix() + worker;
    }

    /** The keys' start for this training and configuration: what {@link #network} keeps, dropping every other. */
    private String prefix() {
        NetConf s = shape.value();
        return s.training() + "/" + s.version() + "/";
    }

    /** This worker's network, set to the round's averaged state. */
    Model network(int worker) {
        NetConf s = shape.value();
        LocalSgd.State st = state.value();
        String prefix = prefix();
        forget(k -> !k.startsWith(prefix));
        Model net = NETS.get(key(worker));
        if (net == null) {
            net = s.build(LocalSgd.row(st.params()));
            io.squeeze.model.TrainingKernels.install(net); // a worker's network only trains
            NETS.put(key(worker), net);
        } else {
            net.params().assign(LocalSgd.row(st.params()));
        }
        INDArray u = LocalSgd.updaterState(net);
        if (u != null && st.updater() != null) u.assign(LocalSgd.row(st.updater()));
        LocalSgd.setCounts(net, st.iteration(), st.epoch());
        net.setListeners(listeners);
        return net;
    }
}
