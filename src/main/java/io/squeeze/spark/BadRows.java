package io.squeeze.spark;

import io.squeeze.core.BadInputException;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.util.CollectionAccumulator;

import java.util.Comparator;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * Bad input met while Spark writes files (a malformed row in the data being turned into soft targets or augmented
 * rows): the writing task ends its partition early and reports the row instead of failing, so Spark's writer does
 * not log the failure as an ERROR with its stack trace; once the write is over, {@link #check()} raises the row's
 * one-line message (and the caller's half-written output is discarded).
 */
public final class BadRows implements java.io.Serializable {
    private final CollectionAccumulator<String> seen;

    public BadRows(JavaSparkContext jsc) {
        this.seen = jsc.sc().collectionAccumulator("squeeze: bad input");
    }

    /** {@code it}, ending at the first row that is bad input (met in its {@code hasNext} or its {@code next}). */
    public <T> Iterator<T> guard(Iterator<T> it) {
        CollectionAccumulator<String> acc = seen;
        return new Iterator<>() {
            boolean stopped, ready;
            T next;

            @Override
            public boolean hasNext() {
                if (ready) return true;
                if (stopped) return false;
                try {
                    if (!it.hasNext()) return false;
                    next = it.next();
                    ready = true;
                    return true;
                } catch (BadInputException e) {
                    stopped = true;
                    acc.add(e.getMessage());
                    return false;
                }
            }

            @Override
            public T next() {
                if (!hasNext()) throw new NoSuchElementException();
                ready = false;
                T n = next;
                next = null;
                return n;
            }
        };
    }

    /** Raises the first bad row reported (shortest message first, so the lowest row number of a file). */
    public void check() {
        seen.value().stream().min(Comparator.comparingInt(String::length).thenComparing(Comparator.naturalOrder()))
                .ifPresent(m -> {
                    throw new BadInputException(m);
                });
    }
}
