package io.squeeze.prune;

import io.squeeze.core.BadInputException;

import java.io.Serializable;

/**
 * How much to prune: a fraction of the remaining (not yet pruned) entries, counted as PyTorch does —
 * round-half-to-even of {@code fraction × remaining} — or an absolute count.
 *
 * @param fraction the fraction in [0, 1], or NaN for a count
 * @param count    the absolute count, or -1 for a fraction
 */
public record Amount(double fraction, long count) implements Serializable {
    public Amount {
        if (count < 0 && !(fraction >= 0 && fraction <= 1))
            throw new BadInputException("prune.amount must be in [0,1], got " + fraction);
    }

    public static Amount fraction(double f) {
        return new Amount(f, -1);
    }

    public static Amount count(long n) {
        if (n < 0) throw new BadInputException("prune.amount must be a fraction in [0,1] or a count >= 0, got " + n);
        return new Amount(Double.NaN, n);
    }

    /** "0.3" is a fraction, "30" a count (PyTorch's rule: a float is a fraction, an int a count); {@link #toString} reads back. */
    @com.fasterxml.jackson.annotation.JsonCreator
    public static Amount parse(String s) {
        String t = s.trim();
        try {
            if (t.matches("[0-9]+")) return count(Long.parseLong(t));
            return fraction(Double.parseDouble(t));
        } catch (NumberFormatException e) {
            throw new BadInputException("prune.amount must be a fraction in [0,1] or a count, got '" + s + "'");
        }
    }

    /** Entries to prune out of {@code remaining}; a count above it is bad input naming {@code what}. */
    public long of(long remaining, String what) {
        if (count >= 0) {
            if (count > remaining)
                throw new BadInputException("prune.amount " + count + " is more than the " + remaining + " remaining entries of " + what);
            return count;
        }
        return (long) Math.rint(fraction * remaining);
    }

    @com.fasterxml.jackson.annotation.JsonValue
    @Override
    public String toString() {
        return count >= 0 ? Long.toString(count) : Double.toString(fraction);
    }
}
