package io.squeeze.cli;

import picocli.CommandLine.Option;

/** Where a compressing command writes its artifact, and whether it may replace one. */
final class ArtifactOutput {
    @Option(names = "--out", required = true, paramLabel = "ARTIFACT", description = "the artifact directory (file:, hdfs:// or s3a://)")
    String out;

    @Option(names = "--overwrite", description = "replace an existing artifact")
    boolean overwrite;

    @Option(names = "--with-dl4j-zip", description = "also write model.zip, the network as a plain DL4J zip (packed/ alone rebuilds it; "
            + "squeeze export --format dl4j makes one later)")
    boolean dl4jZip;
}
