package io.squeeze.cli;

import io.squeeze.artifact.Loaded;
import io.squeeze.core.Storage;
import io.squeeze.model.Json;
import org.apache.hadoop.fs.Path;

/** Small helpers shared by the commands. */
final class CliSupport {
    private CliSupport() {}

    /** Evaluates a compressed network against its source on {@code data}; the metrics recorded in the manifest. */
    static java.util.Map<String, Object> metricsAgainstSource(org.apache.spark.sql.SparkSession spark, String data,
                                                               io.squeeze.data.Split split, io.squeeze.artifact.Loaded candidate,
                                                               io.squeeze.artifact.Loaded source) {
        java.util.Map<String, Object> metrics = new java.util.LinkedHashMap<>();
        if (data == null) return metrics;
        java.util.Map<String, Object> rep = io.squeeze.spark.EvaluateJob.run(spark,
                io.squeeze.data.DataSpec.parse(data, split == null ? io.squeeze.data.Split.TEST : split, false), candidate, source, 256);
        metrics.put("accuracy", rep.get("accuracy"));
        if (rep.containsKey("accuracy_fake_quant")) {
            metrics.put("accuracy_path", "integer");
            metrics.put("accuracy_fake_quant", rep.get("accuracy_fake_quant"));
            metrics.put("integer_fake_quant_agreement", rep.get("integer_fake_quant_agreement"));
        }
        metrics.put("loss", rep.get("loss"));
        metrics.put("baseline", rep.get("baseline"));
        metrics.put("data", data);
        return metrics;
    }

    /** Writes a JSON file atomically where the filesystem allows (temporary sibling, then rename). */
    static void writeJson(Storage st, Path target, Object value, boolean overwrite) {
        st.replace(target, Json.bytes(value), overwrite);
    }
}
