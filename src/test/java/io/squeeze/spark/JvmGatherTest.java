package io.squeeze.spark;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

class JvmGatherTest {
    @Test
    void everyWorkerGetsEveryMessageOfEachRoundInWorkerOrder() throws Exception {
        int workers = 3, rounds = 200;
        String[][][] got = new String[workers][rounds][];
        AtomicReference<Throwable> failed = new AtomicReference<>();
        List<Thread> ts = new ArrayList<>();
        for (int w = 0; w < workers; w++) {
            int me = w;
            Thread t = new Thread(() -> {
                try (JvmGather g = new JvmGather(7, 0, workers, me, () -> {})) {
                    for (int r = 0; r < rounds; r++) {
                        if ((r + me) % 5 == 0) Thread.sleep(1); // arrive in changing orders
                        got[me][r] = g.all(r, me == 1 && r % 7 == 0 ? "" : "w" + me + "r" + r);
                    }
                } catch (Throwable e) {
                    failed.set(e);
                }
            });
            ts.add(t);
            t.start();
        }
        for (Thread t : ts) t.join(60_000);
        assertNull(failed.get());
        for (int w = 0; w < workers; w++)
            for (int r = 0; r < rounds; r++)
                assertArrayEquals(new String[]{"w0r" + r, r % 7 == 0 ? "" : "w1r" + r, "w2r" + r}, got[w][r], "worker " + w + " round " + r);
        assertEquals(0, JvmGather.open(), "every round's slot removed by the last worker to take it");
    }

    @Test
    void aWaitingWorkerLeavesWhenItsTaskIsKilledAndCloseRemovesWhatIsLeft() throws Exception {
        AtomicBoolean killed = new AtomicBoolean();
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        JvmGather lone = new JvmGather(8, 1, 2, 0, () -> {
            if (killed.get()) throw new IllegalStateException("killed");
        });
        Thread t = new Thread(() -> {
            try {
                lone.all(0, "only me"); // the other worker never comes
            } catch (Throwable e) {
                thrown.set(e);
            }
        });
        t.start();
        Thread.sleep(120);
        assertTrue(t.isAlive(), "waits for the other worker");
        killed.set(true);
        t.join(5_000);
        assertFalse(t.isAlive());
        assertEquals("killed", thrown.get().getMessage());
        assertEquals(1, JvmGather.open());
        new JvmGather(8, 2, 2, 0, () -> {}).close(); // another attempt's close leaves this one's slot
        assertEquals(1, JvmGather.open());
        lone.close();
        assertEquals(0, JvmGather.open());
    }

    @Test
    void aRoundGatheredTwiceByOneWorkerFailsAndWorkersAreChecked() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> new JvmGather(9, 0, 2, 2, () -> {}));
        JvmGather first = new JvmGather(9, 0, 2, 0, () -> {}), again = new JvmGather(9, 0, 2, 0, () -> {}), other = new JvmGather(9, 0, 2, 1, () -> {});
        AtomicReference<String[]> got = new AtomicReference<>();
        Thread t = new Thread(() -> got.set(first.all(0, "a")));
        t.start();
        while (JvmGather.open() == 0) Thread.sleep(1);
        Thread.sleep(20);
        var e = assertThrows(IllegalStateException.class, () -> again.all(0, "b"));
        assertTrue(e.getMessage().contains("worker 0 gathered round 0 twice"), e.getMessage());
        assertArrayEquals(new String[]{"a", "c"}, other.all(0, "c"));
        t.join(5_000);
        assertArrayEquals(new String[]{"a", "c"}, got.get());
        assertEquals(0, JvmGather.open());
    }
}
