package io.squeeze.spark;

import org.apache.spark.BarrierTaskContext;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaRDD;
import org.deeplearning4j.nn.api.Model;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * A whole epoch of {@link LocalSgd} as one Spark barrier stage (Spark's barrier execution mode, SPARK-24374), instead
 * of one Spark job a round. Each worker (partition) runs every round of its epoch in one task: it fits its next
 * {@code syncEvery} minibatches, sends its parameters, updater state and step count to the others with
 * {@link BarrierTaskContext#allGather} (one message a worker, bytes carried as an ISO-8859-1 string, version 2:
 * {@code version, worker, steps, params, updater length, 1, floats little-endian}; when all workers run in one JVM,
 * {@code …, 0} and the floats handed over in memory by {@link SharedStates}, the messages gathered in memory too by
 * {@link JvmGather}), and every worker computes the same
 * mean in worker order ({@link Exchange}, with {@link Averaging#mean}'s arithmetic) of the workers that fitted in that round. The arithmetic is the
 * driver's of the per-round path, so both give the same weights (tested); what goes away is a Spark job, a broadcast and
 * a task result each round. Worker 0 returns the epoch's final state to the driver; every worker returns its rows, the
 * time its fit loops took and the time it waited for the others' messages (the epoch's progress line gives their shares).
 *
 * <p>One stage may run several consecutive epochs ({@code epochs}; {@link LocalSgd#epochs}): each worker goes on from
 * the state it averaged last, exactly what the next epoch's stage would have broadcast to it, with the next epoch's
 * order and counts, so the weights are those of one stage an epoch (tested); each worker returns a result an epoch,
 * worker 0's with that epoch's state (or, when the driver reads only the stage's last state, with the last epoch's
 * alone: each state is a copy of the parameters and updater state that the driver deserializes), and the loss of that
 * epoch's minibatches ({@link EpochLoss}'s partial sums).
 *
 * <p>Spark runs a barrier stage only when every task can start at once, so {@link #fits} checks slots, dynamic
 * allocation and the size of the gathered messages (each worker receives all of them through the driver's RPC, limited
 * by {@code spark.rpc.message.maxSize}) before an epoch; otherwise {@link LocalSgd} keeps one job a round. If a task
 * fails or its executor is lost, the stage fails (Spark does not rerun a barrier result stage) and {@link LocalSgd}
 * runs the epoch again from the state broadcast at its start, up to Spark's attempts of a task.
 */
final class BarrierEpoch extends scala.runtime.AbstractFunction1<scala.collection.Iterator<TrainingBatch>, scala.collection.Iterator<LocalSgd.Result>>
        implements Serializable {
    private static final long serialVersionUID = 1L;
    static final byte VERSION = 2;
    private static final int HEADER = 1 + 4 * 4 + 1;

    private final WorkerRound round;
    private final int rounds, epochs;
    /** Whether worker 0 returns every epoch's state, or only the last epoch's (the driver reads no other). */
    private final boolean everyState;

    /** One epoch of {@code rounds} rounds. */
    BarrierEpoch(WorkerRound round, int rounds) {
        this(round, rounds, 1, true);
    }

    /**
     * {@code epochs} epochs from {@code round.epoch} on, of {@code rounds} rounds each; worker 0 returns the state of
     * each ({@code everyState}) or of the last only.
     */
    BarrierEpoch(WorkerRound round, int rounds, int epochs, boolean everyState) {
        if (epochs < 1) throw new IllegalArgumentException("a barrier stage of " + epochs + " epochs");
        this.round = round;
        this.rounds = rounds;
        this.epochs = epochs;
        this.everyState = everyState;
    }

    WorkerRound round() {
        return round;
    }

    int rounds() {
        return rounds;
    }

    int epochs() {
        return epochs;
    }

    boolean everyState() {
        return everyState;
    }

    /**
     * Runs {@code epochs} epochs as one barrier stage; returns each worker's result of each epoch (worker 0's carry the
     * states: of every epoch with {@code everyState}, otherwise of the last only).
     */
    static List<LocalSgd.Result> run(JavaRDD<TrainingBatch> cached, WorkerRound round, int rounds, int epochs, boolean everyState) {
        var out = cached.rdd().barrier().mapPartitions(new BarrierEpoch(round, rounds, epochs, everyState), true,
                scala.reflect.ClassTag$.MODULE$.apply(LocalSgd.Result.class));
        return new ArrayList<>(out.toJavaRDD().collect());
    }

    /**
     * Whether an epoch of {@code workers} partitions, each exchanging {@code floats} parameters and updater values, can
     * run as a barrier stage here: no dynamic allocation, a slot for every worker at once, and every worker's gathered
     * reply (all the messages, up to 2 bytes a character in Java serialization) within {@code spark.rpc.message.maxSize}.
     */
    static boolean fits(SparkContext sc, int workers, long floats) {
        return fits(sc.conf(), sc.maxNumConcurrentTasks(sc.resourceProfileManager().defaultResourceProfile()), workers, floats);
    }

    /** {@link #fits(SparkContext, int, long)} with the cluster's task slots given. */
    static boolean fits(org.apache.spark.SparkConf conf, int slots, int workers, long floats) {
        if (conf.getBoolean("spark.dynamicAllocation.enabled", false) || workers > slots) return false;
        long reply = 2L * workers * (HEADER + 4L * floats);
        return reply <= conf.getInt("spark.rpc.message.maxSize", 128) * 1024L * 1024L;
    }

    @Override
    public scala.collection.Iterator<LocalSgd.Result> apply(scala.collection.Iterator<TrainingBatch> it) {
        // not BarrierTaskContext.get(): that initializes its companion object, whose java.util.Timer in Spark 3.5 is a
        // non-daemon thread that keeps a local-mode JVM alive after main returns (Gather makes no timed barrier calls)
        BarrierTaskContext ctx = (BarrierTaskContext) org.apache.spark.TaskContext.get();
        int worker = ctx.partitionId();
        Gather gather = new Gather(ctx);
        List<TrainingBatch> share = WorkerRound.share(scala.collection.JavaConverters.asJavaIteratorConverter(it).asJava());
        Model net = round.network(worker);
        LocalSgd.State start = round.state.value();
        EpochLoss loss = round.loss();
        int iteration = start.iteration();
        boolean alone = ctx.numPartitions() == 1;
        Exchange exchange = new Exchange();
        // workers that all run in this JVM hand their states over through memory; one more gather first asks whether they do
        SharedStates shared = alone || !SharedStates.oneJvm(gather.all(SharedStates.JVM)) ? null
                : new SharedStates(ctx.stageId(), ctx.stageAttemptNumber(), worker);
        // and gather each round's messages in this JVM too, without the round trip through the driver
        JvmGather local = shared == null ? null
                : new JvmGather(ctx.stageId(), ctx.stageAttemptNumber(), ctx.numPartitions(), worker, ctx::killTaskIfInterrupted);
        List<LocalSgd.Result> out = new ArrayList<>();
        try {
            for (int g = 0; g < epochs; g++) {
                int epoch = round.epoch + g, epochCount = start.epoch() + g, before = iteration;
                if (g > 0) LocalSgd.setCounts(net, iteration, epochCount); // as the next epoch's broadcast state would set them
                int[] order = Averaging.order(share.size(), round.seed, epoch, worker);
                long began = System.nanoTime(), waited = waited(gather, local), fitting = 0, rows = 0;
                double lossSum = loss == null ? 0 : loss.partialSum();
                long lossCount = loss == null ? 0 : loss.partialCount();
                for (int r = 0; r < rounds; r++) {
                    int from = r * round.syncEvery, to = Math.min(share.size(), from + round.syncEvery);
                    long t = System.nanoTime();
                    if (from < to) rows += round.fit(worker, net, share, order, from, to);
                    fitting += System.nanoTime() - t;
                    int steps;
                    if (alone) { // the mean of one worker's state is that state (x / 1f is x): nothing to send or average
                        steps = to - from;
                    } else {
                        int id = g * rounds + r; // the round's number in this stage names its shared states
                        String mine = from >= to ? "" : shared != null ? publish(shared, id, worker, to - from, net.params(), LocalSgd.updaterState(net))
                                : encode(worker, to - from, net.params(), LocalSgd.updaterState(net));
                        steps = exchange.average(local != null ? local.all(id, mine) : gather.all(mine), net, shared, id);
                    }
                    if (steps <= 0) continue;
                    iteration += steps;
                    LocalSgd.setCounts(net, iteration, epochCount);
                }
                double epochLoss = loss == null ? 0 : loss.partialSum() - lossSum;
                long losses = loss == null ? -1 : loss.partialCount() - lossCount;
                float[] p = null, u = null;
                if (worker == 0 && (everyState || g == epochs - 1)) {
                    INDArray us = LocalSgd.updaterState(net);
                    p = io.squeeze.model.NdRows.toRowMajor(net.params());
                    u = us == null ? null : io.squeeze.model.NdRows.toRowMajor(us);
                }
                out.add(new LocalSgd.Result(worker, p, u, worker == 0 ? iteration - before : 0, rows, fitting, waited(gather, local) - waited, epoch,
                        System.nanoTime() - began, epochLoss, losses));
            }
            if (shared != null) gather.all(""); // every worker has read the last round's states before they are removed
        } finally {
            if (shared != null) shared.close();
            if (local != null) local.close();
        }
        return scala.collection.JavaConverters.asScalaIteratorConverter(out.iterator()).asScala();
    }

    /** The nanoseconds a worker has waited for the others so far, through the driver and in this JVM. */
    private static long waited(Gather gather, JvmGather local) {
        return gather.waited() + (local == null ? 0 : local.waited());
    }

    /**
     * {@link BarrierTaskContext#allGather}'s request to the driver's barrier coordinator, waited for as it completes:
     * Spark's own call checks its reply once a second ({@code Thread.sleep(1000)} between checks, so every round would
     * take at least a second). Also checks every 50 ms whether Spark killed the task (the stage failed elsewhere).
     * The coordinator counts the barrier calls of each task attempt; this task makes no other.
     */
    static final class Gather {
        private static final scala.reflect.ClassTag<String[]> REPLY = scala.reflect.ClassTag$.MODULE$.apply(String[].class);
        private final BarrierTaskContext ctx;
        private final org.apache.spark.rpc.RpcEndpointRef coordinator;
        private int calls;
        private long waited;

        Gather(BarrierTaskContext ctx) {
            this.ctx = ctx;
            var env = org.apache.spark.SparkEnv.get();
            this.coordinator = org.apache.spark.util.RpcUtils.makeDriverRef("barrierSync", env.conf(), env.rpcEnv());
        }

        /** The nanoseconds this task has waited for the others' messages so far. */
        long waited() {
            return waited;
        }

        /** Every task's message, in partition order, once all have sent theirs. */
        String[] all(String message) {
            var request = new org.apache.spark.RequestToSync(ctx.numPartitions(), ctx.stageId(), ctx.stageAttemptNumber(), ctx.taskAttemptId(),
                    calls, ctx.partitionId(), message, org.apache.spark.RequestMethod$.MODULE$.ALL_GATHER());
            var reply = coordinator.ask(request, new org.apache.spark.rpc.RpcTimeout(
                    scala.concurrent.duration.Duration.create(365, java.util.concurrent.TimeUnit.DAYS), "barrierTimeout"), REPLY);
            var poll = scala.concurrent.duration.Duration.create(50, java.util.concurrent.TimeUnit.MILLISECONDS);
            long start = System.nanoTime();
            while (true) {
                try {
                    String[] all = scala.concurrent.Await.result(reply, poll);
                    calls++;
                    waited += System.nanoTime() - start;
                    return all;
                } catch (java.util.concurrent.TimeoutException e) {
                    ctx.killTaskIfInterrupted();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    ctx.killTaskIfInterrupted();
                    throw new IllegalStateException("interrupted in a local SGD barrier", e);
                } catch (RuntimeException e) {
                    throw e;
                } catch (Exception e) {
                    throw new IllegalStateException("local SGD barrier: " + e.getMessage(), e);
                }
            }
        }
    }

    /** A worker's round as one message, copied from the network's own arrays (see the class comment for the layout). */
    static String encode(int worker, int steps, INDArray params, INDArray updater) {
        long np = params.length(), nu = updater == null ? -1 : updater.length();
        byte[] b = new byte[Math.toIntExact(HEADER + 4 * (np + Math.max(nu, 0)))];
        ByteBuffer bb = header(ByteBuffer.wrap(b), worker, steps, np, nu, true);
        io.squeeze.model.NdRows.copyRowMajor(params, bb.asFloatBuffer());
        if (updater != null) io.squeeze.model.NdRows.copyRowMajor(updater, bb.position(Math.toIntExact(HEADER + 4 * np)).asFloatBuffer());
        return new String(b, StandardCharsets.ISO_8859_1);
    }

    /** A worker's round published in {@code shared} for the workers of this JVM: the message is the header alone. */
    static String publish(SharedStates shared, int round, int worker, int steps, INDArray params, INDArray updater) {
        shared.publish(round, params, updater);
        byte[] b = new byte[HEADER];
        header(ByteBuffer.wrap(b), worker, steps, params.length(), updater == null ? -1 : updater.length(), false);
        return new String(b, StandardCharsets.ISO_8859_1);
    }

    private static ByteBuffer header(ByteBuffer b, int worker, int steps, long np, long nu, boolean floats) {
        return b.order(ByteOrder.LITTLE_ENDIAN).put(VERSION).putInt(worker).putInt(steps).putInt(Math.toIntExact(np)).putInt(Math.toIntExact(nu))
                .put((byte) (floats ? 1 : 0));
    }

    /** A message read back: its header (version checked) and its floats, from its bytes or from {@link SharedStates}. */
    record Message(int worker, int steps, int params, int updater, FloatBuffer values) {
        static Message read(String message) {
            return read(message, null, -1);
        }

        /** Reads {@code message} of {@code round}; one that carries no floats names a state published in {@code shared}. */
        static Message read(String message, SharedStates shared, int round) {
            ByteBuffer b = ByteBuffer.wrap(message.getBytes(StandardCharsets.ISO_8859_1)).order(ByteOrder.LITTLE_ENDIAN);
            byte v = b.get();
            if (v != VERSION) throw new IllegalStateException("local SGD message version " + v + ", this build reads " + VERSION);
            int worker = b.getInt(), steps = b.getInt(), params = b.getInt(), updater = b.getInt();
            FloatBuffer values;
            if (b.get() != 0) values = b.slice().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
            else if (shared == null) throw new IllegalStateException("local SGD: worker " + worker + "'s state is in another JVM's memory");
            else values = shared.of(round, worker);
            if (values.capacity() != params + Math.max(updater, 0))
                throw new IllegalStateException("local SGD message of worker " + worker + ": " + values.capacity() + " values for " + params + " + " + updater);
            return new Message(worker, steps, params, updater, values);
        }

        /** Puts {@code n} values, from value {@code from} on (the parameters start at 0, the updater state at {@link #params}), into {@code dst}. */
        void floats(int from, float[] dst, int n) {
            values.get(from, dst, 0, n);
        }

        float[] paramValues() {
            float[] p = new float[params];
            floats(0, p, params);
            return p;
        }

        /** The updater state's values; null when the message has none. */
        float[] updaterValues() {
            if (updater < 0) return null;
            float[] u = new float[updater];
            floats(params, u, updater);
            return u;
        }
    }

    /**
     * A round's averaging on a worker, reusing its arrays from round to round: the messages' parameters (then updater
     * state) summed in worker order and divided by their count with {@link Averaging#mean}'s own steps
     * ({@link Averaging#add}, {@link Averaging#divide}: the driver's floats), then copied into the network's arrays; a
     * block of {@value #BLOCK} values at a time, written straight into an array that is one run of its buffer, so the
     * sums stay in the core's cache (each message is read once and the network's array written once).
     */
    static final class Exchange {
        static final int BLOCK = 8_192;
        private float[] sum = new float[0];
        private final float[] blockSum = new float[BLOCK], blockNext = new float[BLOCK];

        /** Averages the non-empty {@code messages} into {@code net}; the most steps a worker took, 0 when none fitted. */
        int average(String[] messages, Model net) {
            return average(messages, net, null, -1);
        }

        /** {@link #average(String[], Model)} of {@code round}, whose messages without floats name states in {@code shared}. */
        int average(String[] messages, Model net, SharedStates shared, int round) {
            List<Message> in = new ArrayList<>();
            int steps = 0;
            for (String m : messages) {
                if (m.isEmpty()) continue;
                Message x = Message.read(m, shared, round);
                if (!in.isEmpty() && (x.params() != in.get(0).params() || x.updater() != in.get(0).updater()))
                    throw new IllegalStateException("local SGD messages of different sizes: " + in.get(0).params() + "/" + in.get(0).updater()
                            + " and " + x.params() + "/" + x.updater());
                in.add(x);
                steps = Math.max(steps, x.steps());
            }
            if (in.isEmpty()) return 0;
            in.sort(Comparator.comparingInt(Message::worker));
            int np = in.get(0).params(), nu = in.get(0).updater();
            meanInto(in, 0, np, net.params());
            INDArray u = LocalSgd.updaterState(net);
            if (u != null && nu >= 0) meanInto(in, np, nu, u);
            return steps;
        }

        private void meanInto(List<Message> in, int from, int n, INDArray target) {
            // straight into the target's buffer when it is one run of it, otherwise into a whole array copied in after
            FloatBuffer out = target.length() == n ? io.squeeze.model.NdRows.rowMajorView(target) : null;
            if (out == null && sum.length < n) sum = new float[n];
            for (int b = 0; b < n; b += BLOCK) {
                int len = Math.min(BLOCK, n - b);
                in.get(0).floats(from + b, blockSum, len);
                for (int w = 1; w < in.size(); w++) {
                    in.get(w).floats(from + b, blockNext, len);
                    Averaging.add(blockSum, blockNext, len);
                }
                Averaging.divide(blockSum, len, in.size());
                if (out != null) out.put(b, blockSum, 0, len);
                else System.arraycopy(blockSum, 0, sum, b, len);
            }
            if (out == null) io.squeeze.model.NdRows.copyInto(sum, n, target);
        }
    }
}
