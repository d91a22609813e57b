package io.squeeze.cli;

import io.squeeze.core.BadInputException;

import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.OnnxExport;
import io.squeeze.artifact.Models;
import io.squeeze.core.Storage;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelIO;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code squeeze export}: a model in another format. {@code dl4j} writes the network as Squeeze computes with it
 * (pruned weights as zeros, a quantized artifact's dequantized weights, LoRA adapters merged) as a plain DL4J zip,
 * with {@code squeeze.json} (input size, classes, normalization) inside; the bytes are those {@code --with-dl4j-zip}
 * puts in an artifact. {@code onnx} writes the graph {@link OnnxExport} builds: float, static QDQ or dynamic int8 as
 * the artifact is.
 */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = {"Writes a model in another format. dl4j: a plain DL4J zip of the network as Squeeze computes with it",
                "(masked weights, a quantized artifact's dequantized weights, adapters merged), readable by ModelSerializer.",
                "onnx: an ONNX model (opset 13) of raw features to logits and output; a quantized artifact in QDQ",
                "(static) or DynamicQuantizeLinear/MatMulInteger (dynamic) form, runnable in ONNX Runtime.",
                "Example: squeeze export --model out/quickstart/pruned --format dl4j --out out/pruned.zip"})
public final class ExportCommand extends BaseCommand implements StageCommand {
    /** The formats a model can be exported to. */
    enum Format { DL4J, ONNX }

    @Option(names = "--model", required = true, paramLabel = "M", description = "an artifact directory, a DL4J zip or a Keras .h5")
    String model;

    @Option(names = "--format", required = true, paramLabel = "F", description = "dl4j or onnx")
    Format format;

    @Option(names = "--out", required = true, paramLabel = "FILE")
    String out;

    @Option(names = "--overwrite", description = "replace an existing file")
    boolean overwrite;

    @Override
    public Integer call() {
        Storage st = Storage.withSparkDefaults();
        var target = ArtifactWriter.checkTarget(st, out, overwrite, List.of(model));
        Loaded loaded = Models.loadRunnable(st, model, true);
        LoadedModel m = loaded.model();
        String what = switch (format) {
            case DL4J -> {
                // a quantized graph artifact exports its graph with the dequantized weights it computes with (as --with-dl4j-zip)
                if (m.isGraph() && loaded.quant() != null && m.kind() != io.squeeze.model.SourceKind.ARTIFACT)
                    throw new BadInputException("model " + m.source() + " is a quantized graph: a DL4J zip would hold its float graph only (the file already is"
                            + " that zip, with its quantized form beside it)");
                ModelIO.writeZip(st, target, m.isGraph() ? m.graph() : m.net(), m.meta(), overwrite);
                yield "dl4j";
            }
            case ONNX -> {
                // built in memory first: a model ONNX cannot express is refused before anything is written
                OnnxExport.Exported onnx = OnnxExport.export(loaded);
                st.replace(target, onnx.bytes(), overwrite);
                yield "onnx opset " + OnnxExport.OPSET + ", " + onnx.form();
            }
        };
        out().printf("wrote %s (%s, %d parameters)%n", target, what, m.numParams());
        return Main.OK;
    }

    @Override
    public void check() {
        if (model == null || model.isBlank()) throw new io.squeeze.core.BadInputException("--model must be given");
    }
}
