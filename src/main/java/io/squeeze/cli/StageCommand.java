package io.squeeze.cli;

/**
 * A command a recipe stage can run: {@link #check} validates the parsed options exactly as the command does before
 * any Spark work (its job record's constructor), so that {@code squeeze run} refuses a bad recipe before its first
 * stage runs.
 */
interface StageCommand {
    /** Throws {@link io.squeeze.core.BadInputException} naming the bad option and value. */
    void check();
}
