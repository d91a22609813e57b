package io.squeeze.spark;

import io.squeeze.artifact.Loaded;
import io.squeeze.core.BadInputException;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Split;
import io.squeeze.eval.EvalReport;
import io.squeeze.model.LoadedModel;
import org.apache.spark.sql.SparkSession;

import java.util.LinkedHashMap;
import java.util.Map;

/** {@code squeeze evaluate} as a job: checks the data against the model(s), then one distributed pass. */
public final class EvaluateJob {
    private EvaluateJob() {}

    public static Map<String, Object> run(SparkSession spark, DataSpec spec, Loaded run, Loaded baselineRun, int batchSize) {
        return run(spark, new Execution.OnSpark(SparkSessions.jsc(spark)), spec, run, baselineRun, batchSize);
    }

    /** Evaluates on {@code exec}: the executors, or this process ({@code evaluate --local}). */
    public static Map<String, Object> run(SparkSession spark, Execution exec, DataSpec spec, Loaded run, Loaded baselineRun, int batchSize) {
        LoadedModel model = run.model(), baseline = baselineRun == null ? null : baselineRun.model();
        if (batchSize <= 0) throw new BadInputException("--batch must be > 0, got " + batchSize);
        if (baseline != null && (baseline.meta().numFeatures() != model.meta().numFeatures()
                || baseline.meta().numClasses() != model.meta().numClasses()))
            throw new BadInputException("baseline " + baseline.source() + " takes " + baseline.meta().numFeatures() + " features / "
                    + baseline.meta().numClasses() + " classes but model " + model.source() + " takes "
                    + model.meta().numFeatures() + " / " + model.meta().numClasses());
        SparkData.Loaded data = SparkData.read(spark, spec, model.meta().numFeatures(), "model " + model.source());
        SparkEvaluator.Result r = SparkEvaluator.evaluate(exec, data.rdd(), run, baselineRun, batchSize, spec.toString());
        if (r.stats().rows() == 0) throw new BadInputException("data " + spec + " is empty (no rows)");
        Map<String, Object> report = EvalReport.of(r.stats(), r.wallSeconds(), batchSize, model, baseline, spec.toString());
        if (run.quant() != null) {
            // the integer path is the model's accuracy; the fake-quant (float) path beside it, with their agreement
            SparkEvaluator.Result q = SparkEvaluator.integerVsFakeQuant(exec, data.rdd(), run, batchSize, spec.toString());
            EvalReport.addQuantization(report, run.quant().plan(), q.stats(),
                    model.isGraph() ? io.squeeze.model.GraphOps.of(model.graph(), "evaluate").names() : java.util.Map.of());
        }
        return report;
    }

    /** Evaluates a compressed network against its source on {@code data}; the metrics recorded in the manifest. */
    public static Map<String, Object> againstSource(SparkSession spark, String data, Split split, Loaded candidate, Loaded source) {
        Map<String, Object> metrics = new LinkedHashMap<>();
        if (data == null) return metrics;
        Map<String, Object> rep = run(spark,
                DataSpec.parse(data, split == null ? Split.TEST : split, false), candidate, source, 256);
        metrics.put("accuracy", rep.get("accuracy"));
        if (rep.containsKey("accuracy_fake_quant")) {
            metrics.put("accuracy_path", "integer");
            metrics.put("accuracy_fake_quant", rep.get("accuracy_fake_quant"));
            metrics.put("integer_fake_quant_agreement", rep.get("integer_fake_quant_agreement"));
        }
        metrics.put("loss", rep.get("loss"));
        if (source != null) metrics.put("baseline", rep.get("baseline"));
        metrics.put("data", data);
        return metrics;
    }
}
