package io.squeeze.cli;

import picocli.CommandLine.Option;

/** Where a compressing command writes its artifact, and whether it may replace one. */
final class ArtifactOutput {
    @Option(names = "--out", required = true, paramLabel = "ARTIFACT", description = "the artifact directory (file:, hdfs:// or s3a://)")
    String out;

    @Option(names = "--overwrite", description = "replace an existing artifact")
    boolean overwrite;
}
