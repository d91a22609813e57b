package io.squeeze.spark;

import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.QuantizedGraphZip;
import io.squeeze.core.BadInputException;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Split;
import io.squeeze.model.GraphBatchNormFold;
import io.squeeze.model.GraphOps;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.NetOps;
import io.squeeze.quantize.Calibrator;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.quantize.QuantPlan;
import io.squeeze.quantize.QuantizedModel;
import io.squeeze.quantize.QuantizedTensor;
import org.apache.spark.sql.SparkSession;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code squeeze quantize} of a branching graph (a ResNet, a Keras functional model): the graph's batch normalizations
 * folded into their convolutions in DL4J form ({@link GraphBatchNormFold}, so each node's weights are its layer's and the
 * result is written as the folded graph), its nodes with ReLUs fused ({@link GraphOps}), weights quantized on the driver (per channel or per tensor,
 * as for layer stacks), and in static mode every activation — each convolution's and dense layer's output, each add's
 * and concatenation's — calibrated on executors in the same passes as a stack's ({@link QuantizeJob#calibrate}); the
 * integer runtime then computes adds and concatenations on uint8 values requantized to the merge's calibrated scale and
 * global average pooling on integers. {@code --rounding gptq} rounds each weighted node's integers against the Gram
 * matrix of its inputs gathered in the same calibration pass (Frantar et al. 2023), as for stacks. Evaluated on the integer
 * path against the source graph; written as an artifact directory (integer weights stored as integers) or as the folded
 * graph's DL4J zip with the quantized form beside it ({@link QuantizedGraphZip}).
 */
public final class GraphQuantizeJob {
    private GraphQuantizeJob() {}

    /**
     * The quantized graph: {@code model} is the graph whose nodes were quantized (the source with its batch
     * normalizations folded in DL4J form), {@code model} its quantized form, per-node notes, the calibration's rows and
     * seconds, and the metrics.
     */
    public record Result(LoadedModel graph, QuantizedModel model, GraphOps nodes, Map<String, Map<String, Object>> notes, long calibrationRows,
                         double calibrationSeconds, Map<String, Object> metrics) {
        /** The graph's DL4J zip with its quantized form beside it ({@link QuantizedGraphZip}). */
        public byte[] zip(List<String> argv, QuantizeJob.Config c) {
            return QuantizedGraphZip.zip(graph, nodes, model, argv, Jobs.toMap(c), metrics);
        }

        /** What the graph's artifact directory holds ({@code sourceModel}: the path given). */
        public io.squeeze.artifact.ArtifactWriter.GraphContent content(List<String> argv, QuantizeJob.Config c, String sourceModel) {
            Map<String, io.squeeze.artifact.ArtifactWriter.LayerNote> n = new LinkedHashMap<>();
            notes.forEach((v, d) -> {
                if (d.containsKey("precision")) n.put(v, new io.squeeze.artifact.ArtifactWriter.LayerNote("quantize:" + d.get("precision"), d));
            });
            return new io.squeeze.artifact.ArtifactWriter.GraphContent(graph.graph(), graph.meta(),
                    new io.squeeze.artifact.ArtifactWriter.Provenance(sourceModel, graph.sha256(), argv, Jobs.toMap(c)), n, metrics, Map.of(), model);
        }
    }

    /**
     * The nodes of {@code src}'s graph, refusing a vertex the quantized runtime cannot run and a {@code --layer-precision}
     * selector that names no weighted node (by vertex name, or node index) — before any Spark work.
     */
    public static GraphOps nodes(QuantizeJob.Config c, LoadedModel src) {
        GraphOps g = GraphOps.of(src.graph(), "the quantized runtime");
        for (QuantConfig.LayerOverride o : c.quant().overrides()) {
            boolean any = false;
            for (GraphOps.Node n : g.nodes()) any |= QuantizedModel.shape(n.op()) != null && o.layers().matches(n.op().layer(), n.name());
            o.layers().requireMatch(any, "--layer-precision");
        }
        return g;
    }

    /** Runs {@code c} on {@code src}, whose nodes {@link #nodes} gave as {@code source} (checked before Spark started). */
    public static Result run(SparkSession spark, QuantizeJob.Config c, LoadedModel src, GraphOps source, List<String> argv, PrintWriter progress) {
        if (c.qat() != null) return GraphQatJob.run(spark, c, src, source, argv, progress);
        GraphBatchNormFold.Folded folded = GraphBatchNormFold.fold(src.graph());
        if (!folded.folded().isEmpty())
            progress.printf("quantize: %s folded%n", String.join(", ", GraphBatchNormFold.describe(folded)));
        GraphOps g = GraphOps.of(folded.graph(), "the quantized runtime");
        // --layer-precision indices name the source's nodes (inspect's order); DL4J orders the folded graph anew
        QuantConfig cfg = c.quant().reindexed(GraphQatJob.toFolded(source, g));
        for (GraphOps.Node n : g.nodes())
            if (!n.absorbed().isEmpty()) progress.printf("quantize: %s fused into '%s'%n", n.absorbed(), n.name());
        QuantizedModel qm = QuantizedModel.quantizeWeights(g, cfg);
        QuantizeJob.Calibrated cal = null;
        if (cfg.needsCalibrationData()) {
            DataSpec calib = DataSpec.parse(c.calibData(), Split.TRAIN, false);
            cal = QuantizeJob.calibrate(Execution.of(SparkSessions.jsc(spark), !c.distributed()), QuantizeJob.calibrationRows(spark, src, calib, c.calibRows()),
                    qm, src.meta().normalizer(), src.meta().numFeatures(), c.batch(), cfg, calib.toString(), progress);
            if (cfg.rounding() == QuantConfig.Rounding.GPTQ) {
                long t0 = System.nanoTime();
                qm = qm.withGptq(cal.grams(), QuantConfig.GPTQ_DAMP, true, Map.of()); // a graph carries no pruning masks
                progress.printf(Locale.ROOT, "quantize: GPTQ rounding of %d nodes (%.1f s)%n", cal.grams().size(), (System.nanoTime() - t0) / 1e9);
                progress.flush();
            }
            if (cfg.calibrated()) qm = qm.withActivations(Calibrator.qparams(cal.ranges()));
        }
        LoadedModel out = LoadedModel.ofGraph(folded.graph(), src.meta(), src.sha256(), src.source(), src.kind(), 0);
        Map<String, String> bnOf = new java.util.HashMap<>();
        folded.folded().forEach((bn, host) -> bnOf.put(host, bn));
        Map<String, Map<String, Object>> notes = notes(g, qm, cal, bnOf);
        Map<String, Object> metrics = new LinkedHashMap<>(EvaluateJob.againstSource(spark, c.evalData(), Split.TEST, new Loaded(out, qm), Loaded.plain(src)));
        if (cal != null) metrics.put("calibration", Map.of("rows", cal.rows(), "passes", cal.passes(), "seconds", cal.seconds()));
        return new Result(out, qm, g, notes, cal == null ? 0 : cal.rows(), cal == null ? 0 : cal.seconds(), metrics);
    }

    /**
     * Per node (by vertex name): precision, the folded weights' relative error, what was folded in — {@code foldedBefore}
     * (host vertex → batch normalization folded in DL4J form before, as QAT does) ahead of what the nodes absorbed —,
     * the output's qparams.
     */
    static Map<String, Map<String, Object>> notes(GraphOps g, QuantizedModel qm, QuantizeJob.Calibrated cal, Map<String, String> foldedBefore) {
        Map<String, Map<String, Object>> out = new LinkedHashMap<>();
        for (GraphOps.Node n : g.nodes()) {
            NetOps.Op op = n.op();
            QuantPlan.LayerPlan lp = qm.plan().layer(op.layer());
            boolean merge = op instanceof NetOps.Add || op instanceof NetOps.Concat;
            if (lp == null && !merge) continue;
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("op", op.getClass().getSimpleName().toLowerCase(Locale.ROOT));
            if (lp != null) {
                d.put("precision", lp.precision().name().toLowerCase(Locale.ROOT));
                if (lp.precision().integer()) d.put("granularity", lp.axis() < 0 ? "tensor" : "channel");
                QuantizedTensor q = qm.weights().get(op.layer());
                if (q != null) d.put("weight_relative_error", relativeError(QuantizedModel.weightsOf(op), q.dequantize()));
            }
            List<String> folded = new java.util.ArrayList<>();
            if (foldedBefore.containsKey(n.name())) folded.add(foldedBefore.get(n.name()));
            folded.addAll(n.absorbed());
            if (!folded.isEmpty()) d.put("folded", folded);
            Calibrator.Range r = cal == null || qm.plan().mode() == QuantConfig.Mode.DYNAMIC ? null : cal.ranges().get(op.layer());
            if (r != null) d.put("output_qparams", QuantizeJob.qparams(r));
            out.put(n.name(), d);
        }
        return out;
    }

    private static double relativeError(float[] w, float[] dq) {
        double err = 0, norm = 0;
        for (int i = 0; i < w.length; i++) {
            err += (w[i] - dq[i]) * (double) (w[i] - dq[i]);
            norm += w[i] * (double) w[i];
        }
        return norm == 0 ? 0 : Math.sqrt(err / norm);
    }
}
