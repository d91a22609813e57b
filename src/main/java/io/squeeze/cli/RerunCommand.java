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
                "Soft targets (_soft-targets.json) and augmented data (_augment.json) are rerun from their recorded configs too.",
                "Example: squeeze rerun --manifest out/mnist-pruned/manifest.json --out out/mnist-pruned-again"})
public final class RerunCommand extends BaseCommand {
    @Option(names = "--manifest", required = true, paramLabel = "M",
            description = "an artifact's manifest.json, a soft-target set's _soft-targets.json, augmented data's _augment.json, or their directory")
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
        if (st.isDirectory(p)) {
            for (String name : List.of(io.squeeze.artifact.SoftTargetsStore.MANIFEST, io.squeeze.spark.AugmentJob.Manifest.FILE))
                if (st.exists(new Path(p, name))) return rerunDataset(st, new Path(p, name));
            p = new Path(p, ArtifactWriter.MANIFEST);
        } else if (p.getName().equals(io.squeeze.artifact.SoftTargetsStore.MANIFEST) || p.getName().equals(io.squeeze.spark.AugmentJob.Manifest.FILE)) {
            return rerunDataset(st, p);
        }
        if (!st.exists(p)) throw new BadInputException("manifest " + p + " does not exist");
        Manifest m;
        try {
            m = Json.read(st.readAll(p, "manifest"), Manifest.class);
        } catch (RuntimeException e) {
            throw new BadInputException("manifest " + p + " is not an artifact's manifest.json ("
                    + String.valueOf(e.getMessage()).lines().findFirst().orElse("").replaceAll("[^\\p{Print}]", "?").strip()
                    .replaceAll("^(.{120}).+", "$1…") + ")");
        }
        if (m.formatVersion() >= io.squeeze.artifact.Manifest.FORMAT_VERSION) // format 3: a graph's (a stack's stays 2)
            throw new BadInputException("rerun takes a layer stack's artifact; " + p + " is a graph's (format " + m.formatVersion()
                    + "): run its command again (" + m.command().stream().collect(java.util.stream.Collectors.joining(" ")) + ")");
        JobConfig c = Jobs.fromMap(m.config(), types(), "manifest " + p);
        // the output is checked before any Spark work
        ArtifactWriter.checkTarget(Storage.withSparkDefaults(), output.out, output.overwrite, c.inputs());
        SparkSession spark = SparkSessions.start("squeeze rerun");
        Storage sst = new Storage(spark.sparkContext().hadoopConfiguration());
        ArtifactWriter.Content content = c.run(spark, output.out, Main.args(), err());
        if (m.sourceSha256() != null && !m.sourceSha256().equals(content.provenance().sourceSha256()))
            throw new BadInputException("source model " + c.source() + " has sha256 " + content.provenance().sourceSha256()
                    + ", but " + p + " was made from " + m.sourceSha256() + "; nothing written");
        c.publish(sst, output.out, output.overwrite, content, output.dl4jZip);
        out().println("reran " + m.config().get("command") + " from " + p + "; wrote " + sst.path(output.out));
        return Main.OK;
    }

    /** Soft targets or augmented data, from the config their manifest records. */
    private Integer rerunDataset(Storage st, Path p) {
        if (p.getName().equals(io.squeeze.artifact.SoftTargetsStore.MANIFEST)) {
            var m = io.squeeze.artifact.SoftTargetsStore.read(st, p.getParent().toString());
            var c = io.squeeze.spark.SoftTargetsJob.Config.fromMap(m.config(), "soft targets " + p.getParent());
            ArtifactWriter.checkTarget(st, output.out, output.overwrite, c.inputs()); // before any Spark work
            var t = c.loadTeacher(st);
            if (m.teacherSha256() != null && !m.teacherSha256().equals(t.sha256()))
                throw new BadInputException("teacher " + c.teacher() + " has sha256 " + t.sha256() + ", but " + p + " was made from "
                        + m.teacherSha256() + "; nothing written");
            SparkSession spark = SparkSessions.start("squeeze rerun");
            io.squeeze.spark.SoftTargetsJob.run(spark, c, t, output.out, output.overwrite, Main.args(), err());
        } else {
            var m = io.squeeze.spark.AugmentJob.Manifest.read(st, p.getParent());
            var c = io.squeeze.spark.AugmentJob.Config.fromMap(m.config(), "augmented data " + p.getParent());
            ArtifactWriter.checkTarget(st, output.out, output.overwrite, List.of(c.data().path())); // before any Spark work
            io.squeeze.spark.AugmentJob.run(SparkSessions.start("squeeze rerun"), c, output.out, output.overwrite, Main.args());
        }
        out().println("reran " + p + "; wrote " + st.path(output.out));
        return Main.OK;
    }
}
