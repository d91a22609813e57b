package io.squeeze.core;

import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * The hidden siblings an output is written through, and the removal of those a killed run left behind.
 *
 * <p>{@link Storage#publish} writes {@code out} as {@code .NAME.tmp-UUID} and renames it into place; an existing
 * output is first moved aside as {@code .NAME.old-UUID} and deleted once the new one is in place. A process killed
 * between those steps leaves such a sibling. Before it writes, a run removes the siblings of <em>its own</em> output
 * whose name has exactly that shape and whose newest file is older than the run's start ({@link #markRunStart()}),
 * and logs each at WARN; nothing else is ever removed. An {@code .old-} sibling whose output is missing (killed
 * between the two renames) is the last complete output: it is renamed back into place rather than removed.
 */
public final class Orphans {
    static final String TMP = "tmp", OLD = "old";
    private static final Logger LOG = LogManager.getLogger(Orphans.class);
    private static volatile long runStart = java.lang.management.ManagementFactory.getRuntimeMXBean().getStartTime();

    private Orphans() {}

    /** Marks the start of a command: siblings last written before it belong to runs that are over. */
    public static void markRunStart() {
        runStart = System.currentTimeMillis();
    }

    static Path sibling(Path out, String kind) {
        return new Path(out.getParent(), "." + out.getName() + "." + kind + "-" + UUID.randomUUID());
    }

    /** Removes (or, for a lone {@code .old-}, restores) the stale hidden siblings of {@code out}; returns how many. */
    public static int clean(Storage st, Path out) {
        return clean(st, out, true);
    }

    /**
     * Restores a stale {@code .old-} sibling when {@code out} is missing, removing nothing: called before the work, so
     * that an output a killed run moved aside counts as existing.
     */
    public static void restore(Storage st, Path out) {
        if (!st.exists(out)) clean(st, out, false);
    }

    private static int clean(Storage st, Path out, boolean remove) {
        Path parent = out.getParent();
        if (parent == null || !st.exists(parent)) return 0;
        Pattern ours = Pattern.compile("\\." + Pattern.quote(out.getName()) + "\\.(tmp|old)-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}");
        int n = 0;
        for (FileStatus f : st.list(parent)) {
            var m = ours.matcher(f.getPath().getName());
            if (!m.matches() || newest(st, f) >= runStart) continue;
            if (m.group(1).equals(OLD) && !st.exists(out)) {
                if (st.rename(f.getPath(), out)) {
                    LOG.warn("restored {} from {}, left by an interrupted run", out, f.getPath().getName());
                    n++;
                    continue;
                }
            }
            if (!remove) continue;
            st.delete(f.getPath());
            LOG.warn("removed {}, left beside {} by an interrupted run", f.getPath().getName(), out);
            n++;
        }
        return n;
    }

    /** The newest modification time of a file or of anything under a directory. */
    private static long newest(Storage st, FileStatus f) {
        long t = f.getModificationTime();
        if (!f.isDirectory()) return t;
        try {
            RemoteIterator<LocatedFileStatus> it = st.fs(f.getPath()).listFiles(f.getPath(), true);
            while (it.hasNext()) t = Math.max(t, it.next().getModificationTime());
            return t;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
