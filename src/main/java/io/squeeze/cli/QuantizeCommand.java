package io.squeeze.cli;

import io.squeeze.core.BadInputException;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.core.Storage;
import io.squeeze.model.LoadedModel;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.spark.QuantizeJob;
import io.squeeze.spark.SparkSessions;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = {"Quantization of weights (int8, int4 or fp16; per tensor or per output channel) and activations (uint8, affine).",
                "dynamic: activations quantized per batch from their own range. static: activation ranges from calibration",
                "passes on Spark executors (observers minmax, histogram, percentile:P, entropy). qat: fine-tuning on Spark with",
                "fake-quantized weights and activations (straight-through gradients), then as static; batch normalizations are",
                "folded first (a graph's in DL4J form, then fake-quantized where the integer runtime rounds: ReLUs, merges, pooling).",
                "The artifact stores integer weights with their scales and zero points and every activation's qparams;",
                "evaluate reports the integer-arithmetic accuracy and the fake-quant one.",
                "codebook: weight sharing (Deep Compression): each layer's kept weights clustered by k-means (linear init) into",
                "2^bits shared values on executors, then, with --data, codebook fine-tuning on Spark (clusters and masks fixed);",
                "stored as codebooks and Huffman-coded indices (and relative positions when pruned); evaluated exactly.",
                "Example: squeeze quantize --model out/mnist --mode static --bits 8 --calib-data idx:data/mnist --calib-rows 1000 --out out/mnist-int8"})
public final class QuantizeCommand extends BaseCommand implements StageCommand {
    @Option(names = "--model", required = true, paramLabel = "M")
    String model;

    /** The modes: the integer ones of {@link QuantConfig.Mode}, and weight sharing. */
    enum ModeOption { DYNAMIC, STATIC, QAT, CODEBOOK }

    @Option(names = "--mode", defaultValue = "static", paramLabel = "dynamic|static|qat|codebook", description = "(default: ${DEFAULT-VALUE})")
    ModeOption mode;

    @Option(names = "--bits", paramLabel = "B", description = "integer weights: 8 or 4 (default 8); codebook: 1..8 (2^B shared values per layer, default 8)")
    Integer bits;

    @Option(names = "--dtype", paramLabel = "fp16|nf4", description = {"float weights instead of integers: fp16 (half precision), or nf4",
            "(QLoRA's 4-bit NormalFloat, blocks of 64, double-quantized maxima: a base for lora)"})
    String dtype;

    @Option(names = "--granularity", defaultValue = "channel", paramLabel = "tensor|channel", description = "weight qparams (default: ${DEFAULT-VALUE})")
    QuantConfig.Granularity granularity;

    @Option(names = "--scheme", paramLabel = "symmetric|affine", description = "weights: signed symmetric (default) or unsigned affine")
    QuantConfig.Scheme scheme;

    @Option(names = "--reduce-range", description = "activations use 7 bits (PyTorch's reduce_range, for int8 kernels that overflow)")
    boolean reduceRange;

    @Option(names = "--observer", defaultValue = "minmax", paramLabel = "minmax|histogram|percentile:P|entropy",
            description = "activation ranges from calibration (default: ${DEFAULT-VALUE})")
    String observer;

    @Option(names = "--layer-precision", paramLabel = "LAYERS=P", description = {"mixed precision, repeatable: layers (index, range, name glob)",
            "and 8, 4, fp16 or fp32, e.g. --layer-precision 0=8 --layer-precision 6=fp32; or @FILE with one LAYERS=P per line"})
    List<String> layerPrecision = new ArrayList<>();

    @Option(names = "--rounding", paramLabel = "nearest|gptq", description = {"integer weights rounded to the nearest level (default), or by GPTQ",
            "(Frantar et al. 2023) against each layer's inputs on the calibration data (static, dynamic; needs --calib-data)"})
    String rounding;

    @Option(names = "--calib-data", paramLabel = "D", description = "calibration data (static, qat; dynamic with --rounding gptq); split defaults to train")
    String calibData;

    @Option(names = "--calib-rows", paramLabel = "N", description = "use the first N > 0 rows (default: all)")
    Long calibRows;

    @Option(names = "--data", paramLabel = "D", description = "qat: training data; codebook: fine-tuning data (none: no fine-tuning)")
    String data;

    @Option(names = "--epochs", defaultValue = "2", description = "qat, codebook fine-tuning: epochs (default: ${DEFAULT-VALUE})")
    int epochs;

    @Option(names = "--lr", paramLabel = "LR", description = "qat: learning rate (default: the model's own)")
    Double lr;

    @Option(names = "--batch", defaultValue = "64")
    int batch;

    @Option(names = "--local", description = "calibrate and train (qat) in this process instead of on Spark executors (the rows still stream through Spark)")
    boolean local;

    @Option(names = "--eval-data", paramLabel = "D", description = "evaluate the result (integer path) against the source model and record the metrics")
    String evalData;

    @Mixin
    SyncOptions sync;

    @Mixin
    ArtifactOutput output;

    QuantConfig config(Storage st) {
        if (bits != null && dtype != null) throw new BadInputException("quantize: give --bits or --dtype, not both");
        QuantConfig.Precision p;
        if (dtype != null) {
            String d = dtype.trim().toLowerCase(Locale.ROOT);
            if (!d.equals("fp16") && !d.equals("nf4")) throw new BadInputException("quantize.dtype must be fp16 or nf4, got '" + dtype + "'");
            p = d.equals("fp16") ? QuantConfig.Precision.FP16 : QuantConfig.Precision.NF4;
        } else {
            int b = bits == null ? 8 : bits;
            if (b != 8 && b != 4) throw new BadInputException("quantize.bits must be 8 or 4, got " + b);
            p = b == 8 ? QuantConfig.Precision.INT8 : QuantConfig.Precision.INT4;
        }
        List<QuantConfig.LayerOverride> overrides = new ArrayList<>();
        for (String l : precisionLines(st)) overrides.add(QuantConfig.LayerOverride.parse(l));
        return new QuantConfig(QuantConfig.Mode.valueOf(mode.name()), p, granularity, scheme, reduceRange, QuantConfig.observer(observer), overrides,
                rounding == null ? QuantConfig.Rounding.NEAREST : QuantConfig.Rounding.parse(rounding));
    }

    /** {@code --layer-precision} values, each file ({@code @FILE}) read as one per line. */
    private List<String> precisionLines(Storage st) {
        List<String> lines = new ArrayList<>();
        for (String s : layerPrecision) {
            if (!s.startsWith("@")) {
                lines.add(s);
                continue;
            }
            String text = new String(st.readAll(st.path(s.substring(1)), "--layer-precision file"), java.nio.charset.StandardCharsets.UTF_8);
            for (String line : text.split("\\R")) {
                String l = line.replaceAll("#.*", "").trim();
                if (!l.isEmpty()) lines.add(l);
            }
        }
        return lines;
    }

    /** The validated codebook job; options of the integer modes are refused. */
    io.squeeze.spark.CodebookJob.Config codebookJob() {
        if (model == null || model.isBlank()) throw new BadInputException("--model must be given");
        for (var o : new Object[][]{{"--dtype", dtype}, {"--scheme", scheme}, {"--calib-data", calibData}, {"--calib-rows", calibRows},
                {"--rounding", rounding}, {"--reduce-range", reduceRange ? true : null}, {"--observer", observer.equals("minmax") ? null : observer}})
            if (o[1] != null) throw new BadInputException("quantize " + o[0] + " does not apply to --mode codebook (shared float values, no scales or calibration), got " + o[1]);
        Storage st = Storage.withSparkDefaults();
        List<io.squeeze.quantize.CodebookConfig.LayerBits> overrides = new ArrayList<>();
        for (String l : precisionLines(st)) overrides.add(io.squeeze.quantize.CodebookConfig.LayerBits.parse(l));
        var cfg = new io.squeeze.quantize.CodebookConfig(bits == null ? 8 : bits, overrides);
        var ft = data == null ? io.squeeze.spark.FineTune.NONE : new io.squeeze.spark.FineTune(data, epochs, batch, lr, sync.syncEvery);
        if (data == null && lr != null) throw new BadInputException("quantize --lr needs fine-tuning data: --data D");
        return new io.squeeze.spark.CodebookJob.Config(st.path(model).toString(), cfg, !local, ft, evalData);
    }

    /** The validated job: every option checked before any Spark work. */
    QuantizeJob.Config job() {
        if (model == null || model.isBlank()) throw new BadInputException("--model must be given");
        Storage st = Storage.withSparkDefaults();
        QuantConfig cfg = config(st);
        QuantizeJob.Qat qat = cfg.mode() == QuantConfig.Mode.QAT && data != null ? new QuantizeJob.Qat(data, epochs, lr, sync.syncEvery) : null;
        if (calibRows != null && calibRows <= 0)
            throw new BadInputException("quantize.calib-rows must be > 0 (leave it out to calibrate on every row), got " + calibRows);
        return new QuantizeJob.Config(st.path(model).toString(), cfg, calibData, calibRows == null ? 0 : calibRows, batch, qat, !local, evalData);
    }

    @Override
    public Integer call() {
        if (mode == ModeOption.CODEBOOK) return codebook();
        QuantizeJob.Config c = job();
        if (io.squeeze.artifact.Models.isGraph(Storage.withSparkDefaults(), new org.apache.hadoop.fs.Path(c.model()))) return quantizeGraph(c);
        QuantConfig cfg = c.quant();
        // the output is checked before any Spark work
        ArtifactWriter.checkTarget(Storage.withSparkDefaults(), output.out, output.overwrite, c.inputs());
        SparkSession spark = SparkSessions.start("squeeze quantize");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        QuantizeJob.Outcome outcome = QuantizeJob.execute(spark, c, output.out, Main.args(), err());
        var manifest = ArtifactWriter.write(st, output.out, output.overwrite, outcome.content(), output.dl4jZip);
        QuantizeJob.Result r = outcome.result();
        Map<String, Object> metrics = outcome.content().metrics();
        LoadedModel src = outcome.source();
        var o = out();
        for (var e : r.notes().entrySet())
            o.printf(Locale.ROOT, "layer %-3d %-16s %s%n", e.getKey(), e.getValue().method(), e.getValue().details());
        if (!r.ranges().isEmpty() && r.ranges().containsKey(-1))
            o.printf(Locale.ROOT, "input     qparams %s (calibrated on %d rows, %d pass%s, %.1f s)%n", r.ranges().get(-1).qparams(),
                    r.calibrationRows(), r.passes(), r.passes() == 1 ? "" : "es", r.calibrationSeconds());
        long packed = manifest.files().entrySet().stream().filter(e -> e.getKey().startsWith("packed/")).mapToLong(e -> e.getValue().bytes()).sum();
        long zip = io.squeeze.model.ModelIO.toZip(src.net(), src.meta()).length;
        o.printf(Locale.ROOT, "packed model %s%s%n", io.squeeze.eval.EvalReport.bytes(packed),
                zip > 0 ? String.format(Locale.ROOT, " (dense fp32 DL4J zip %s, %.2fx smaller)", io.squeeze.eval.EvalReport.bytes(zip), zip / (double) packed) : "");
        if (metrics.containsKey("accuracy")) o.printf(Locale.ROOT, "accuracy %.4f %s, %.4f fake-quant (source %.4f)%n", (Double) metrics.get("accuracy"),
                path(cfg), (Double) metrics.get("accuracy_fake_quant"), (Double) ((Map<?, ?>) metrics.get("baseline")).get("accuracy"));
        o.println("wrote " + st.path(output.out));
        return Main.OK;
    }

    /** What the accuracy was measured on: the integer path, or float arithmetic on the stored weights (fp16, nf4). */
    private static String path(QuantConfig cfg) {
        return cfg.calibrated() || cfg.mode() == QuantConfig.Mode.DYNAMIC && cfg.precision().integer() ? "integer path"
                : cfg.precision().name().toLowerCase(Locale.ROOT) + " weights";
    }

    /**
     * A branching graph: quantized with its merges in integers, written as an artifact directory (integer weights
     * stored as integers) or, for {@code --out} ending in .zip, as the folded graph's DL4J zip with the quantized form
     * beside it.
     */
    private Integer quantizeGraph(QuantizeJob.Config c) {
        boolean zipOut = io.squeeze.model.Graphs.zipOutput(output.out, output.dl4jZip);
        var target = ArtifactWriter.checkTarget(Storage.withSparkDefaults(), output.out, output.overwrite, c.inputs());
        var src = io.squeeze.artifact.Models.loadFloat(Storage.withSparkDefaults(), c.model(), "quantize", c.model());
        var nodes = io.squeeze.spark.GraphQuantizeJob.nodes(c, src); // refuses what it cannot run before Spark starts
        SparkSession spark = SparkSessions.start("squeeze quantize");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        var r = io.squeeze.spark.GraphQuantizeJob.run(spark, c, src, nodes, Main.args(), err());
        long fp32 = src.numParams() * 4L, bytes;
        String what;
        if (zipOut) {
            byte[] zip = r.zip(Main.args(), c);
            st.replace(target, zip, output.overwrite);
            bytes = zip.length;
            what = "zip " + io.squeeze.eval.EvalReport.bytes(bytes) + ": the folded float graph and its quantized form";
        } else {
            ArtifactWriter.writeGraph(st, output.out, output.overwrite, r.content(Main.args(), c, c.model()), output.dl4jZip);
            bytes = st.totalBytes(target);
            what = String.format(Locale.ROOT, "artifact %s (whole directory): %.1fx smaller than", io.squeeze.eval.EvalReport.bytes(bytes), fp32 / (double) bytes);
        }
        var o = out();
        r.notes().forEach((name, d) -> o.printf(Locale.ROOT, "%-18s %s%n", name, d));
        if (r.calibrationRows() > 0) o.printf(Locale.ROOT, "calibrated on %d rows (%.1f s)%n", r.calibrationRows(), r.calibrationSeconds());
        o.printf(Locale.ROOT, "%s %s of fp32 parameters%n", what, io.squeeze.eval.EvalReport.bytes(fp32));
        Map<String, Object> metrics = r.metrics();
        if (metrics.containsKey("accuracy")) o.printf(Locale.ROOT, "accuracy %.4f %s, %.4f fake-quant (source %.4f)%n", (Double) metrics.get("accuracy"),
                path(c.quant()), (Double) metrics.get("accuracy_fake_quant"), (Double) ((Map<?, ?>) metrics.get("baseline")).get("accuracy"));
        o.println("wrote " + target);
        return Main.OK;
    }

    private Integer codebook() {
        var c = codebookJob();
        if (io.squeeze.artifact.Models.isGraph(Storage.withSparkDefaults(), new org.apache.hadoop.fs.Path(c.model()))) return codebookGraph(c);
        ArtifactWriter.checkTarget(Storage.withSparkDefaults(), output.out, output.overwrite, c.inputs()); // before any Spark work
        SparkSession spark = SparkSessions.start("squeeze quantize");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        var content = c.run(spark, output.out, Main.args(), err());
        c.publish(st, output.out, output.overwrite, content, output.dl4jZip);
        var o = out();
        content.notes().forEach((l, n) -> o.printf(Locale.ROOT, "layer %-3d %-9s %s%n", l, n.method(), n.details()));
        long dir = st.totalBytes(st.path(output.out)), fp32 = content.net().numParams() * 4L;
        o.printf(Locale.ROOT, "artifact %s (whole directory): %.1fx smaller than the dense fp32 parameters (%s)%n",
                io.squeeze.eval.EvalReport.bytes(dir), fp32 / (double) dir, io.squeeze.eval.EvalReport.bytes(fp32));
        Map<String, Object> metrics = content.metrics();
        if (metrics.containsKey("accuracy"))
            o.printf(Locale.ROOT, "accuracy %.4f (source %.4f)%n", (Double) metrics.get("accuracy"), (Double) ((Map<?, ?>) metrics.get("baseline")).get("accuracy"));
        o.println("wrote " + st.path(output.out));
        return Main.OK;
    }

    /** A branching graph's vertices weight-shared (and codebook-fine-tuned), written as a graph artifact or a DL4J zip. */
    private Integer codebookGraph(io.squeeze.spark.CodebookJob.Config c) {
        output.graphZip(); // refuses --with-dl4j-zip with a zip
        var target = ArtifactWriter.checkTarget(Storage.withSparkDefaults(), output.out, output.overwrite, c.inputs());
        var src = io.squeeze.artifact.Models.loadFloat(Storage.withSparkDefaults(), c.model(), "quantize", c.model());
        io.squeeze.spark.CodebookJob.checkOverrides(src.layers(), c.codebook()); // before any Spark work
        SparkSession spark = SparkSessions.start("squeeze quantize");
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        var content = io.squeeze.spark.CodebookJob.runGraph(spark, c, src, Main.args(), err());
        long bytes = output.writeGraph(st, target, content), fp32 = content.graph().numParams() * 4L;
        var o = out();
        content.notes().forEach((v, n) -> o.printf(Locale.ROOT, "%-18s %-9s %s%n", v, n.method(), n.details()));
        o.printf(Locale.ROOT, "%s %s: %.1fx smaller than the dense fp32 parameters (%s)%n", output.graphZip() ? "zip" : "artifact (whole directory)",
                io.squeeze.eval.EvalReport.bytes(bytes), fp32 / (double) bytes, io.squeeze.eval.EvalReport.bytes(fp32));
        if (content.metrics().containsKey("accuracy"))
            o.printf(Locale.ROOT, "accuracy %.4f (source %.4f)%n", (Double) content.metrics().get("accuracy"),
                    (Double) ((Map<?, ?>) content.metrics().get("baseline")).get("accuracy"));
        o.println("wrote " + target);
        return Main.OK;
    }

    @Override
    public void check() {
        if (mode == ModeOption.CODEBOOK) codebookJob();
        else job();
    }
}
