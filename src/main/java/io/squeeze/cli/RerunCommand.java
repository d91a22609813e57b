package io.squeeze.cli;

import com.fasterxml.jackson.databind.jsontype.NamedType;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Manifest;
import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import io.squeeze.model.Json;
import io.squeeze.spark.JobConfig;
import io.squeeze.spark.Jobs;
import io.squeeze.spark.SparkSessions;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;

@Command(name = "rerun", mixinStandardHelpOptions = true,
        description = {"Runs again what an artifact's manifest says was run (its config), on the same source model, and writes",
                "a new artifact. The source model must still be where the manifest says, with the same sha256.",
                "A deterministic job (e.g. l1 or global pruning without fine-tuning) writes the same packed/ files.",
                "Example: squeeze rerun --manifest out/mnist-pruned/manifest.json --out out/mnist-pruned-again"})
public final class RerunCommand extends BaseCommand {
    @Option(names = "--manifest", required = true, paramLabel = "M", description = "an artifact's manifest.json, or the artifact directory")
    String manifest;

    @Mixin
    ArtifactOutput output;

    /** Names of the implementations of open types inside configs, from the commands that name them. */
    static List<NamedType> types() {
        return new ArrayList<>(PruneCommand.methodTypes());
    }

    @Override
    public Integer call() {
        Storage st = Storage.withSparkDefaults();
        Path p = st.path(manifest);
        if (!st.exists(p)) throw new BadInputException("manifest " + p + " does not exist");
        if (st.isDirectory(p)) p = new Path(p, ArtifactWriter.MANIFEST);
        if (!st.exists(p)) throw new BadInputException("manifest " + p + " does not exist");
        Manifest m;
        try {
            m = Json.read(st.readAll(p, "manifest"), Manifest.class);
        } catch (RuntimeException e) {
            throw new BadInputException("manifest " + p + " is not an artifact's manifest.json ("
                    + String.valueOf(e.getMessage()).lines().findFirst().orElse("").replaceAll("[^\\p{Print}]", "?").strip()
                    .replaceAll("^(.{120}).+", "$1…") + ")");
        }
        JobConfig c = Jobs.fromMap(m.config(), types(), "manifest " + p);
        // the output is checked before any Spark work
        ArtifactWriter.checkTarget(Storage.withSparkDefaults(), output.out, output.overwrite, c.inputs());
        SparkSession spark = SparkSessions.start("squeeze rerun");
        Storage sst = new Storage(spark.sparkContext().hadoopConfiguration());
        ArtifactWriter.Content content = c.run(spark, output.out, Main.args(), err());
        if (m.sourceSha256() != null && !m.sourceSha256().equals(content.provenance().sourceSha256()))
            throw new BadInputException("source model " + c.source() + " has sha256 " + content.provenance().sourceSha256()
                    + ", but " + p + " was made from " + m.sourceSha256() + "; nothing written");
        c.publish(sst, output.out, output.overwrite, content);
        out().println("reran " + m.config().get("command") + " from " + p + "; wrote " + sst.path(output.out));
        return Main.OK;
    }
}
