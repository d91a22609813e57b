package io.squeeze.spark;

import io.squeeze.artifact.Loaded;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Example;
import io.squeeze.data.Split;
import io.squeeze.model.GraphBatchNormFold;
import io.squeeze.model.GraphOps;
import io.squeeze.model.LoadedModel;
import io.squeeze.quantize.Calibrator;
import io.squeeze.quantize.GraphFakeQuant;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.quantize.QuantizedModel;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.graph.ComputationGraph;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Quantization-aware training of a branching graph ({@link QatJob} for layer stacks). The batch normalizations are
 * first folded into their convolutions in DL4J form ({@link GraphBatchNormFold}) with their running statistics, so
 * training sees the folded weights the integer runtime rounds — the simpler of the two choices of Jacob et al. 2018
 * (§3.2 folds with the batch's statistics and corrects to the running ones); the graph then trains without batch
 * normalization, whose cost docs/RESULTS.md measures. The folded graph is calibrated, fake-quantized where the integer
 * runtime rounds ({@link GraphFakeQuant}), fine-tuned with parameter averaging (straight-through gradients), re-calibrated
 * after every epoch (on executors, or in process with {@code --local}) with the new qparams written into the
 * configuration the workers receive next, and finally quantized and calibrated as in static mode. Written as the trained
 * folded graph (artifact directory or DL4J zip, as static mode); evaluated on the integer path against the source.
 */
public final class GraphQatJob {
    private GraphQatJob() {}

    public static GraphQuantizeJob.Result run(SparkSession spark, QuantizeJob.Config c, LoadedModel src, GraphOps source, List<String> argv, PrintWriter progress) {
        QuantizeJob.Qat q = c.qat();
        JavaSparkContext jsc = SparkSessions.jsc(spark);
        var meta = src.meta();
        SparkTrainer.Config tc = new SparkTrainer.Config(q.epochs(), c.batch(), q.syncEvery(), 0, !c.distributed());
        GraphBatchNormFold.Folded folded = GraphBatchNormFold.fold(src.graph());
        if (!folded.folded().isEmpty())
            progress.printf("quantize: %s folded before QAT (the graph trains without batch normalization)%n", String.join(", ", GraphBatchNormFold.describe(folded)));
        DataSpec calib = DataSpec.parse(c.calibData(), Split.TRAIN, false);
        JavaRDD<Example> calibRdd = QuantizeJob.calibrationRows(spark, src, calib, c.calibRows());
        GraphOps g0 = GraphOps.of(folded.graph(), "the quantized runtime");
        // --layer-precision indices name the source's nodes (inspect's order); DL4J orders the folded graph anew
        QuantConfig cfg = c.quant().reindexed(toFolded(source, g0));
        Step first = calibrate(jsc, tc, calibRdd, g0, cfg, src, calib, progress);
        GraphFakeQuant.Attached qat = GraphFakeQuant.attach(folded.graph(), g0, first.model().plan(), Calibrator.qparams(first.calibrated().ranges()));
        if (q.lr() != null) qat.graph().setLearningRate(q.lr());
        DataSpec train = DataSpec.parse(q.data(), Split.TRAIN, false);
        SparkData.Loaded d = TrainJob.trainingData(spark, train, meta, src.source());
        JavaRDD<Example> rows = TrainJob.normalized(d.rdd(), meta.normalizer());
        progress.printf("quantize: QAT for %d epochs on %s%n", tc.epochs(), train);
        var validate = Validation.afterGraph(spark, c.evalData(), meta, progress);
        ComputationGraph trained = SparkTrainer.trainGraph(jsc, rows, qat.graph(), meta.numFeatures(), meta.numClasses(), tc, train.toString(), progress,
                (epoch, n) -> {
                    if (epoch < tc.epochs()) { // after the last epoch the final calibration follows
                        ComputationGraph plain = GraphFakeQuant.strip(n);
                        var cal = calibrate(jsc, tc, calibRdd, GraphOps.of(plain, "the quantized runtime"), cfg, src, calib, progress);
                        GraphFakeQuant.update(n, qat.at(), Calibrator.qparams(cal.calibrated().ranges()));
                    }
                    validate.accept(epoch, n);
                });
        ComputationGraph plain = GraphFakeQuant.strip(trained);
        GraphOps g = GraphOps.of(plain, "the quantized runtime");
        Step last = calibrate(jsc, tc, calibRdd, g, cfg, src, calib, progress);
        QuantizedModel qm = last.model().withActivations(Calibrator.qparams(last.calibrated().ranges()));
        LoadedModel out = LoadedModel.ofGraph(plain, meta, src.sha256(), src.source(), src.kind(), 0);
        Map<String, String> bnOf = new java.util.HashMap<>();
        folded.folded().forEach((bn, host) -> bnOf.put(host, bn));
        Map<String, Map<String, Object>> notes = GraphQuantizeJob.notes(g, qm, last.calibrated(), bnOf);
        Map<String, Object> metrics = new LinkedHashMap<>(EvaluateJob.againstSource(spark, c.evalData(), Split.TEST, new Loaded(out, qm), Loaded.plain(src)));
        var cal = last.calibrated();
        metrics.put("calibration", Map.of("rows", cal.rows(), "passes", cal.passes(), "seconds", cal.seconds()));
        return new GraphQuantizeJob.Result(out, qm, g, notes, cal.rows(), cal.seconds(), metrics);
    }

    /**
     * Node index in {@code source} → index of the node of the same vertex in {@code folded}: the same nodes (a folded
     * batch normalization was never a node), in the order DL4J sorts the folded graph, which may differ where
     * branches are independent.
     */
    static int[] toFolded(GraphOps source, GraphOps folded) {
        Map<String, Integer> at = new java.util.HashMap<>();
        for (int i = 0; i < folded.nodes().size(); i++) at.put(folded.nodes().get(i).name(), i);
        int[] to = new int[source.nodes().size()];
        for (int i = 0; i < to.length; i++) {
            Integer j = at.get(source.nodes().get(i).name());
            if (j == null) throw new IllegalStateException("node " + source.nodes().get(i).name() + " is not in the folded graph");
            to[i] = j;
        }
        return to;
    }

    /** A calibration of {@code g}'s quantized weights and the model it calibrated. */
    private record Step(QuantizedModel model, QuantizeJob.Calibrated calibrated) {}

    private static Step calibrate(JavaSparkContext jsc, SparkTrainer.Config tc, JavaRDD<Example> rows, GraphOps g, QuantConfig cfg, LoadedModel src,
                                  DataSpec calib, PrintWriter progress) {
        QuantizedModel qm = QuantizedModel.quantizeWeights(g, cfg);
        return new Step(qm, QuantizeJob.calibrate(Execution.of(jsc, tc.local()), rows, qm, src.meta().normalizer(), src.meta().numFeatures(), tc.batchSize(),
                cfg, calib.toString(), progress));
    }
}
