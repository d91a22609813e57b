package io.squeeze.core;

/**
 * Input the user can fix: a missing or corrupt file, a flag value out of range, data that does not fit the model.
 * The CLI prints its message as one line and exits with status 2; nothing is written.
 */
public final class BadInputException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public BadInputException(String message) {
        super(message);
    }

    public BadInputException(String message, Throwable cause) {
        super(message, cause);
    }

    /** The first {@code BadInputException} in a cause chain (Spark wraps task failures), or null. */
    public static BadInputException find(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof BadInputException b) return b;
            for (Throwable s : c.getSuppressed()) {
                BadInputException b = find(s);
                if (b != null) return b;
            }
        }
        return null;
    }

    /** Throws when {@code ok} is false. */
    public static void require(boolean ok, String message) {
        if (!ok) throw new BadInputException(message);
    }
}
