package io.squeeze.spark;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Manifest;
import io.squeeze.core.Storage;
import org.apache.spark.sql.SparkSession;

import java.io.PrintWriter;
import java.util.List;

/**
 * What a compressing command runs, as one validated record (Tribuo's provenance idea: derived from the configured
 * object, never written by hand). The artifact's manifest stores this record as its {@code config}, with
 * {@code "command"} naming the record type, so what the manifest says ran is exactly what ran; {@code squeeze rerun}
 * reads it back and runs it again. A record validates itself in its constructor, both when a command builds it and
 * when a manifest is read.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "command")
@JsonSubTypes({@JsonSubTypes.Type(value = TrainJob.Config.class, name = "train"), @JsonSubTypes.Type(value = PruneJob.Config.class, name = "prune"), @JsonSubTypes.Type(value = FactorizeJob.Config.class, name = "factorize"),
        @JsonSubTypes.Type(value = QuantizeJob.Config.class, name = "quantize"), @JsonSubTypes.Type(value = CodebookJob.Config.class, name = "codebook"),
        @JsonSubTypes.Type(value = LoraJob.Config.class, name = "lora"),
        @JsonSubTypes.Type(value = DistillJob.Config.class, name = "distill"), @JsonSubTypes.Type(value = LotteryJob.Config.class, name = "lottery")})
public sealed interface JobConfig permits JobConfig.OfModel, TrainJob.Config, DistillJob.Config, LotteryJob.Config {

    /** A job that compresses an existing model: its source is that model. */
    sealed interface OfModel extends JobConfig permits PruneJob.Config, FactorizeJob.Config, QuantizeJob.Config, CodebookJob.Config, LoraJob.Config {
        /** The model the job compresses, a qualified URI. */
        String model();

        @Override
        default String source() {
            return model();
        }
    }

    /** What the job reads first: the model it compresses (a qualified URI), or the data it trains on. */
    String source();

    /** Every path the job reads (models, soft targets); an output may be none of them, nor inside or around one. */
    default List<String> inputs() {
        return List.of(source());
    }

    /**
     * Runs the job and returns the artifact content, provenance included.
     *
     * @param out      where the artifact will be written (names the result in evaluation reports)
     * @param argv     the command line that asked for it, recorded in the manifest
     * @param progress progress lines
     */
    ArtifactWriter.Content run(SparkSession spark, String out, List<String> argv, PrintWriter progress);

    /**
     * Writes what {@link #run} returned as an artifact (atomically, {@code _SUCCESS} last), with a DL4J
     * {@code model.zip} beside {@code packed/} when {@code dl4jZip}; returns its manifest.
     */
    default Manifest publish(Storage st, String out, boolean overwrite, ArtifactWriter.Content content, boolean dl4jZip) {
        return ArtifactWriter.write(st, out, overwrite, content, dl4jZip);
    }
}
