package io.squeeze.eval;

import io.squeeze.model.LayerStats;
import io.squeeze.model.LoadedModel;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The report of {@code squeeze evaluate}: a JSON-ready map and a human-readable rendering. */
public final class EvalReport {
    private EvalReport() {}

    public static Map<String, Object> of(EvalStats s, double wallSeconds, int batchSize, LoadedModel model,
                                         LoadedModel baseline, String data) {
        List<LayerStats> layers = LayerStats.of(model.layers());
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("model", model.source());
        r.put("data", data);
        r.put("rows", s.rows());
        r.put("accuracy", s.accuracy());
        if (s.numClasses() > 5) r.put("top5", s.top5());
        r.put("loss", s.loss());
        r.put("per_class_accuracy", Arrays.stream(s.perClassAccuracy()).boxed().map(v -> v.isNaN() ? null : v).toList());
        r.put("params", LayerStats.totalParams(layers));
        r.put("nonzeros", LayerStats.totalNonzeros(layers));
        r.put("dense_bytes", LayerStats.totalParams(layers) * 4);
        r.put("artifact_bytes", model.storedBytes());
        r.put("batch_size", batchSize);
        r.put("ms_per_batch", s.msPerBatch());
        r.put("rows_per_s", s.rows() / Math.max(wallSeconds, 1e-9));
        r.put("wall_s", wallSeconds);
        List<Map<String, Object>> perLayer = new java.util.ArrayList<>();
        for (LayerStats l : layers) {
            if (l.params() == 0) continue;
            perLayer.add(l.row());
        }
        r.put("layers", perLayer);
        if (baseline != null) {
            List<LayerStats> bl = LayerStats.of(baseline.layers());
            Map<String, Object> b = new LinkedHashMap<>();
            b.put("model", baseline.source());
            b.put("accuracy", s.baselineAccuracy());
            b.put("agreement", s.agreement());
            b.put("params", LayerStats.totalParams(bl));
            b.put("nonzeros", LayerStats.totalNonzeros(bl));
            b.put("artifact_bytes", baseline.storedBytes());
            b.put("ms_per_batch", s.baselineMsPerBatch());
            // the model's size relative to the baseline's (e.g. a student's vs its teacher's)
            b.put("params_ratio", LayerStats.totalParams(layers) / (double) Math.max(1, LayerStats.totalParams(bl)));
            r.put("baseline", b);
        }
        return r;
    }

    /**
     * Adds a quantized model's fake-quant accuracy, integer/fake-quant agreement and its plan; layers keyed by index,
     * or by {@code names} (a graph's nodes: their vertex names).
     */
    public static void addQuantization(Map<String, Object> r, io.squeeze.quantize.QuantPlan plan, EvalStats intVsFake, Map<Integer, String> names) {
        r.put("accuracy_path", "integer");
        r.put("accuracy_fake_quant", intVsFake.baselineAccuracy());
        r.put("integer_fake_quant_agreement", intVsFake.agreement());
        Map<String, Object> q = new LinkedHashMap<>();
        q.put("mode", plan.mode().name().toLowerCase(Locale.ROOT));
        q.put("observer", plan.mode() == io.squeeze.quantize.QuantConfig.Mode.DYNAMIC ? "per-batch"
                : plan.activations().isEmpty() ? "none" : plan.observer());
        Map<String, String> layers = new LinkedHashMap<>();
        for (var l : plan.layers()) layers.put(names.getOrDefault(l.layer(), Integer.toString(l.layer())), l.precision().name().toLowerCase(Locale.ROOT)
                + (l.precision().integer() ? (l.symmetric() ? " symmetric" : " affine") + (l.axis() < 0 ? " per-tensor" : " per-channel") : ""));
        q.put("layers", layers);
        r.put("quantization", q);
    }

    @SuppressWarnings("unchecked")
    public static void print(Map<String, Object> r, PrintWriter out) {
        out.printf(Locale.ROOT, "model      %s%n", r.get("model"));
        out.printf(Locale.ROOT, "data       %s (%d rows)%n", r.get("data"), (Long) r.get("rows"));
        out.printf(Locale.ROOT, "accuracy   %.4f%s%n", (Double) r.get("accuracy"),
                r.containsKey("top5") ? String.format(Locale.ROOT, "   top-5 %.4f", (Double) r.get("top5")) : "");
        if (r.get("quantization") instanceof Map<?, ?> q)
            out.printf(Locale.ROOT, "quantized  %s (%s): accuracy is the integer path's; fake-quant %.4f, agreement %.4f; layers %s%n",
                    q.get("mode"), q.get("observer"), (Double) r.get("accuracy_fake_quant"), (Double) r.get("integer_fake_quant_agreement"), q.get("layers"));
        out.printf(Locale.ROOT, "loss       %.4f%n", (Double) r.get("loss"));
        List<Double> pc = (List<Double>) r.get("per_class_accuracy");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < pc.size(); i++) sb.append(String.format(Locale.ROOT, " %d:%s", i, pc.get(i) == null ? "-" : String.format(Locale.ROOT, "%.3f", pc.get(i))));
        out.printf(Locale.ROOT, "per class %s%n", sb);
        out.printf(Locale.ROOT, "params     %d (%d non-zero)   dense fp32 %s   stored %s%n", (Long) r.get("params"),
                (Long) r.get("nonzeros"), bytes((Long) r.get("dense_bytes")), bytes((Long) r.get("artifact_bytes")));
        out.printf(Locale.ROOT, "speed      %.2f ms per batch of %d   %.0f rows/s%n", (Double) r.get("ms_per_batch"),
                (Integer) r.get("batch_size"), (Double) r.get("rows_per_s"));
        StringBuilder sp = new StringBuilder();
        for (Object o : (List<?>) r.get("layers")) {
            Map<?, ?> l = (Map<?, ?>) o;
            sp.append(String.format(Locale.ROOT, " %s:%.1f%%", l.get("index"), 100 * (Double) l.get("sparsity")));
        }
        out.printf(Locale.ROOT, "sparsity  %s%n", sp);
        if (r.get("baseline") instanceof Map<?, ?> b) {
            out.printf(Locale.ROOT, "baseline   %s: accuracy %.4f, agreement %.4f, %d params (this model has %.3fx), stored %s%n", b.get("model"),
                    (Double) b.get("accuracy"), (Double) b.get("agreement"), (Long) b.get("params"), (Double) b.get("params_ratio"),
                    bytes((Long) b.get("artifact_bytes")));
        }
    }

    public static String bytes(long b) {
        if (b < 10_000) return b + " B";
        if (b < 10_000_000) return String.format(Locale.ROOT, "%.1f kB", b / 1e3);
        return String.format(Locale.ROOT, "%.1f MB", b / 1e6);
    }
}
