package io.squeeze.cli;

import io.squeeze.artifact.Models;
import io.squeeze.core.Storage;
import io.squeeze.artifact.WeightsExport;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "weights", mixinStandardHelpOptions = true, description = "Weight interchange.",
        subcommands = WeightsCommand.Export.class)
public final class WeightsCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a subcommand is required: export");
    }

    @Command(name = "export", mixinStandardHelpOptions = true,
            description = {"Writes every parameter as a float32 C-order .npy in DL4J's own shape (dense W is [nIn, nOut])",
                    "plus index.json (layer, name, param, file, shape; a graph's layers with their inputs), for NumPy/PyTorch interop;",
                    "a quantized graph as its integer runtime holds it: each node's folded, quantized weights and float bias.",
                    "Example: squeeze weights export --model out/quickstart/model --out out/weights"})
    public static final class Export extends BaseCommand {
        @Option(names = "--model", required = true, paramLabel = "M")
        String model;

        @Option(names = "--out", required = true, paramLabel = "DIR")
        String out;

        @Option(names = "--overwrite", description = "replace an existing directory")
        boolean overwrite;

        @Override
        public Integer call() {
            Storage st = Storage.withSparkDefaults();
            io.squeeze.artifact.ArtifactWriter.checkTarget(st, out, overwrite);
            var dir = st.path(model);
            io.squeeze.artifact.Loaded loaded;
            java.util.Set<Integer> codebooks = new java.util.TreeSet<>();
            if (st.exists(dir) && st.isDirectory(dir)) { // an artifact (as Models.loadRunnable reads one), with how its layers are stored
                var a = io.squeeze.artifact.Artifact.load(st, model);
                loaded = a.loaded();
                a.storage().forEach((layer, how) -> { if (how.startsWith("codebook")) codebooks.add(layer); });
            } else {
                loaded = Models.loadRunnable(st, model, true);
            }
            var index = WeightsExport.export(st, loaded, codebooks, out, overwrite);
            out().printf("wrote %d tensors to %s%n", index.size(), st.path(out));
            return Main.OK;
        }
    }
}
