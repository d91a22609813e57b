package io.squeeze.spark;

import java.util.concurrent.ConcurrentHashMap;

/**
 * A round's gather among the workers of one {@link BarrierEpoch} stage that all run in this JVM (what
 * {@link SharedStates} finds out once a stage): each worker leaves its message in the round's slot and waits on it
 * until every worker has left one, then takes them all in worker order, as {@link BarrierEpoch.Gather} does through
 * the driver's barrier coordinator. The messages and their order are the same, so the workers average the same
 * states; what goes away is the round trip through the driver's RPC endpoint, which the worker arriving last waited
 * for at every round (0.5–3 ms on {@code local[2]}, docs/BENCHMARKS.md, session 55).
 *
 * <p>A waiting worker wakes every 50 ms to run {@code killCheck} ({@code BarrierTaskContext.killTaskIfInterrupted}):
 * when a task of the stage fails, Spark fails the stage and kills the others, which then leave. Slots a failed
 * attempt left behind are removed by {@link #close}; the stage attempt is part of every slot's name.
 */
final class JvmGather implements AutoCloseable {
    private static final ConcurrentHashMap<String, Slot> SLOTS = new ConcurrentHashMap<>();
    private static final java.util.concurrent.atomic.AtomicLong GATHERS = new java.util.concurrent.atomic.AtomicLong();

    private final String stage;
    private final int workers, worker;
    private final Runnable killCheck;
    private long waited;

    /** One round's messages, and how many workers have left theirs and how many have taken them. */
    private static final class Slot {
        final String[] messages;
        int arrived, left;

        Slot(int workers) {
            messages = new String[workers];
        }
    }

    /** The gathers of {@code worker}, one of {@code workers}, in one attempt of one barrier stage. */
    JvmGather(int stageId, int stageAttempt, int workers, int worker, Runnable killCheck) {
        if (worker < 0 || worker >= workers) throw new IllegalArgumentException("worker " + worker + " of " + workers);
        this.stage = "jvm-gather/" + stageId + "/" + stageAttempt + "/";
        this.workers = workers;
        this.worker = worker;
        this.killCheck = killCheck;
    }

    /** Every worker's message of {@code round}, in worker order, once all have left theirs. */
    String[] all(int round, String message) {
        String key = stage + round;
        Slot s = SLOTS.computeIfAbsent(key, k -> new Slot(workers));
        long start = System.nanoTime();
        synchronized (s) {
            if (s.messages[worker] != null) throw new IllegalStateException("local SGD: worker " + worker + " gathered round " + round + " twice");
            s.messages[worker] = message;
            if (++s.arrived == workers) s.notifyAll();
            while (s.arrived < workers) {
                try {
                    s.wait(50);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    killCheck.run();
                    throw new IllegalStateException("interrupted in a local SGD gather", e);
                }
                killCheck.run();
            }
            if (++s.left == workers) SLOTS.remove(key);
            waited += System.nanoTime() - start;
            GATHERS.incrementAndGet();
            return s.messages.clone();
        }
    }

    /** The nanoseconds this worker has waited for the others so far. */
    long waited() {
        return waited;
    }

    /** How many gathers workers of this JVM have completed since it started (tests). */
    static long gathers() {
        return GATHERS.get();
    }

    /** How many rounds' slots are open in this JVM (tests). */
    static int open() {
        return SLOTS.size();
    }

    /** Removes whatever slots of this stage attempt are left (a worker failed); others' are theirs to remove. */
    @Override
    public void close() {
        SLOTS.keySet().removeIf(k -> k.startsWith(stage));
    }
}
