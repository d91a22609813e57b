package io.squeeze.artifact;

import java.util.List;
import java.util.Map;

/**
 * {@code manifest.json}: the provenance and contents of an artifact (Tribuo-style: enough to know exactly what
 * produced it and to verify every byte).
 *
 * @param formatVersion  artifact format version ({@link #FORMAT_VERSION})
 * @param squeezeVersion Squeeze version that wrote it
 * @param gitCommit      git commit Squeeze was built from
 * @param created        ISO-8601 creation time (UTC)
 * @param sourceModel    the model path it was made from
 * @param sourceSha256   sha256 of that model file
 * @param command        the full command line
 * @param config         the job configuration, resolved (defaults filled in)
 * @param layers         per layer: what was done and its figures
 * @param metrics        evaluation metrics when run (may be empty)
 * @param files          every other file of the artifact: size and sha256, by relative path
 * @param lineage        for {@code squeeze run}'s final (and best) artifact: every stage that led to it, in order
 *                       (technique, command, config, input and output sha256, metrics, seconds); absent otherwise
 */
public record Manifest(int formatVersion, String squeezeVersion, String gitCommit, String created, String sourceModel,
                       String sourceSha256, List<String> command, Map<String, Object> config, List<LayerRecord> layers,
                       Map<String, Object> metrics, Map<String, FileRecord> files,
                       @com.fasterxml.jackson.annotation.JsonInclude(com.fasterxml.jackson.annotation.JsonInclude.Include.NON_NULL)
                       List<Map<String, Object>> lineage) {

    /**
     * The newest format this Squeeze reads and writes. 3: {@code packed/} may hold a branching graph (written as 3; a
     * layer stack's artifact is still written as 2, which earlier versions read); 2: {@code model.zip} is optional
     * ({@code packed/} alone holds the network) and the network's identity is {@link Artifact#modelSha256}'s digest of
     * {@code packed/}; 1: every artifact held a {@code model.zip}.
     */
    public static final int FORMAT_VERSION = 3, STACK_FORMAT = 2;

    /** This manifest with {@code lineage} set. */
    public Manifest withLineage(List<Map<String, Object>> lineage) {
        return new Manifest(formatVersion, squeezeVersion, gitCommit, created, sourceModel, sourceSha256, command, config, layers, metrics, files, lineage);
    }

    /** A layer's entry: method applied and sizes before and after. */
    public record LayerRecord(int index, String name, String type, String method, long params, long nonzeros,
                              double sparsity, long bytesBefore, long bytesAfter, Map<String, Object> details) {}

    /** Size and checksum of one file. */
    public record FileRecord(long bytes, String sha256) {}
}
