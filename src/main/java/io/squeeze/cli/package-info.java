/**
 * The {@code squeeze} command (picocli): each subcommand parses and validates its options into the job's config
 * before any Spark work, runs the job from {@code io.squeeze.spark}, writes the artifact and prints a summary.
 * {@link io.squeeze.cli.Main} maps a {@link io.squeeze.core.BadInputException} to one line on stderr and exit 2.
 */
package io.squeeze.cli;
