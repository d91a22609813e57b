package io.squeeze.cli;

import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.core.Storage;
import org.apache.hadoop.fs.Path;
import picocli.CommandLine.Option;

/** Where a compressing command writes its artifact, and whether it may replace one. */
final class ArtifactOutput {
    @Option(names = "--out", required = true, paramLabel = "ARTIFACT", description = "the artifact directory (file:, hdfs:// or s3a://); a graph's result may instead be a DL4J zip (a path ending in .zip)")
    String out;

    @Option(names = "--overwrite", description = "replace an existing artifact")
    boolean overwrite;

    @Option(names = "--with-dl4j-zip", description = "also write model.zip, the network as a plain DL4J zip (packed/ alone rebuilds it; "
            + "squeeze export --format dl4j makes one later)")
    boolean dl4jZip;

    /** Whether a graph's result goes to a DL4J zip ({@code --out} ending in .zip) rather than an artifact directory. */
    boolean graphZip() {
        return io.squeeze.model.Graphs.zipOutput(out, dl4jZip);
    }

    /**
     * Writes a graph's result to {@code target} (checked before the job): its DL4J zip when {@code --out} ends in .zip,
     * else an artifact directory holding {@code c}. Returns the bytes written.
     */
    long writeGraph(Storage st, Path target, ArtifactWriter.GraphContent c) {
        if (graphZip()) {
            io.squeeze.model.ModelIO.writeZip(st, target, c.graph(), c.meta(), overwrite);
        } else {
            ArtifactWriter.writeGraph(st, out, overwrite, c, dl4jZip);
        }
        return st.totalBytes(target);
    }
}
