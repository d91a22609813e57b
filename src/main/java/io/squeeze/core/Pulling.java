package io.squeeze.core;

import java.util.Iterator;
import java.util.function.Function;

/**
 * A streaming iterator over a source iterator: each {@code next()} hands the source to a function that takes what
 * one output element needs from it (one element, or a minibatch of them); it has a next element while the source has
 * one. Partitions are turned into minibatches this way without holding more than one batch.
 */
public final class Pulling<T, R> implements Iterator<R> {
    private final Iterator<T> src;
    private final Function<Iterator<T>, R> next;

    private Pulling(Iterator<T> src, Function<Iterator<T>, R> next) {
        this.src = src;
        this.next = next;
    }

    public static <T, R> Iterator<R> of(Iterator<T> src, Function<Iterator<T>, R> next) {
        return new Pulling<>(src, next);
    }

    @Override
    public boolean hasNext() {
        return src.hasNext();
    }

    @Override
    public R next() {
        if (!src.hasNext()) throw new java.util.NoSuchElementException();
        return next.apply(src);
    }
}
