package io.squeeze.cli;

import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Manifest;
import io.squeeze.core.Storage;
import io.squeeze.eval.EvalReport;
import io.squeeze.model.Json;
import io.squeeze.search.Sensitivity;
import org.apache.hadoop.fs.Path;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code OUT/report.html}: one self-contained page (charts inline as PNG data, no network needed) of a recipe run —
 * the gate, every stage against the baseline, the accuracy-vs-size frontier, per-layer sparsity and stored bytes of
 * every model stage, the sensitivity curves and allocations, the resolved recipe.
 */
final class RunReport {
    private RunReport() {}

    static byte[] html(Storage st, Map<String, Object> report, List<String> modelStages, Map<String, Sensitivity> sensitivities, Object recipe) {
        StringBuilder h = new StringBuilder();
        String name = String.valueOf(report.get("recipe"));
        h.append("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>squeeze run ").append(esc(name)).append("</title><style>")
                .append("body{font-family:sans-serif;margin:24px;color:#222;max-width:1000px}table{border-collapse:collapse;margin:8px 0}")
                .append("td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}")
                .append(".met{color:#176617;font-weight:bold}.missed{color:#b00;font-weight:bold}pre{background:#f7f7f7;padding:8px;overflow:auto}")
                .append("img{max-width:100%;border:1px solid #ddd;margin:6px 0}</style></head><body>");
        h.append("<h1>squeeze run: ").append(esc(name)).append("</h1><p>").append(esc(String.valueOf(report.get("file")))).append(" &rarr; ")
                .append(esc(String.valueOf(report.get("out")))).append(String.format(Locale.ROOT, ", %.1f s", ((Number) report.get("seconds")).doubleValue())).append("</p>");
        if (report.get("gate") instanceof Map<?, ?> g) {
            boolean met = Boolean.TRUE.equals(g.get("met"));
            h.append("<h2>Accuracy gate: <span class=\"").append(met ? "met\">met" : "missed\">not met").append("</span></h2><p>")
                    .append(String.format(Locale.ROOT, "%s: baseline %.4f, final %.4f, tolerable loss %s%s", g.get("metric"), (Double) g.get("baseline_value"),
                            (Double) g.get("final_value"), g.get("tolerable_loss"), Boolean.TRUE.equals(g.get("relative")) ? " (relative)" : ""));
            if (g.get("trial") != null) h.append("; the final model is fallback trial ").append(g.get("trial"));
            if (!met) h.append(String.format(Locale.ROOT, "; best candidate <b>%s</b> (%.4f) in OUT/best", g.get("best"), (Double) g.get("best_value")));
            h.append("</p>");
        }
        h.append("<h2>Stages</h2><table><tr><th>stage</th><th>ran</th><th>accuracy</th><th>loss</th><th>agreement</th><th>params</th><th>non-zeros</th>")
                .append("<th>stored</th><th>rows/s</th><th>seconds</th></tr>");
        Map<String, double[]> frontier = new LinkedHashMap<>();
        if (report.get("baseline") instanceof Map<?, ?> b && b.get("metrics") instanceof Map<?, ?> bm) {
            row(h, "baseline", "-", bm, null);
            frontier.put("baseline", new double[]{num(bm.get("stored_bytes")), num(bm.get("accuracy"))});
        }
        for (Object o : (List<?>) report.get("stages")) {
            Map<?, ?> s = (Map<?, ?>) o;
            Map<?, ?> m = (Map<?, ?>) s.get("metrics");
            row(h, String.valueOf(s.get("stage")), Boolean.TRUE.equals(s.get("skipped")) ? "skipped" : "ran", m, (Number) s.get("seconds"));
            if (m != null && m.get("accuracy") != null) frontier.put(String.valueOf(s.get("stage")), new double[]{num(m.get("stored_bytes")), num(m.get("accuracy"))});
        }
        h.append("</table>");
        if (report.get("trials") instanceof List<?> trials && !trials.isEmpty()) {
            h.append("<h2>Fallback trials</h2><table><tr><th>trial</th><th>relaxed</th><th>levels</th><th>metric</th><th>gate</th><th>stored</th></tr>");
            for (Object o : trials) {
                Map<?, ?> t = (Map<?, ?>) o;
                Object v = t.get("accuracy") != null ? t.get("accuracy") : t.get("loss") != null ? t.get("loss") : t.get("top5");
                h.append("<tr><td>").append(t.get("trial")).append("</td><td>stage ").append(t.get("stage")).append(" ").append(esc(String.valueOf(t.get("relaxed"))))
                        .append("</td><td>").append(esc(String.valueOf(t.get("levels")))).append("</td><td>")
                        .append(v instanceof Number n ? String.format(Locale.ROOT, "%.4f", n.doubleValue()) : "-").append("</td><td>")
                        .append(Boolean.TRUE.equals(t.get("met")) ? "met" : "missed").append("</td><td>")
                        .append(t.get("stored_bytes") instanceof Number n ? EvalReport.bytes(n.longValue()) : "-").append("</td></tr>");
                if (v instanceof Number n && t.get("stored_bytes") instanceof Number b)
                    frontier.put("trial " + t.get("trial"), new double[]{b.doubleValue(), n.doubleValue()});
            }
            h.append("</table>");
        }
        if (!frontier.isEmpty()) img(h, "Accuracy against stored size", Charts.frontier("Accuracy vs stored size (every stage)", frontier));
        perLayer(h, st, modelStages);
        for (Map.Entry<String, Sensitivity> e : sensitivities.entrySet()) {
            h.append("<h2>Sensitivity of ").append(esc(e.getKey())).append("</h2>");
            img(h, "sensitivity " + e.getKey(), Charts.sensitivity(e.getValue()));
        }
        for (Object o : (List<?>) report.get("stages")) {
            Map<?, ?> s = (Map<?, ?>) o;
            if (s.get("allocation") instanceof Map<?, ?> a)
                h.append("<h3>Allocation of ").append(esc(String.valueOf(s.get("stage")))).append("</h3><p>").append(esc(String.valueOf(a.get("technique"))))
                        .append(" budget ").append(esc(String.valueOf(a.get("budget")))).append(", per layer ").append(esc(String.valueOf(a.get("levels"))))
                        .append(String.format(Locale.ROOT, ", predicted %s %.4g", "loss".equals(a.get("damage")) ? "loss increase" : "accuracy drop",
                                num(a.get("predicted_damage")))).append("</p>");
        }
        h.append("<h2>Recipe (resolved)</h2><pre>").append(esc(new String(Json.bytes(recipe), StandardCharsets.UTF_8))).append("</pre></body></html>\n");
        return h.toString().getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Bar charts over each layer structure the model stages have (weighted layers by index, name and parameter count),
     * in the order the stages first show them: sparsity, stored size and bits per weight of every stage with those
     * layers — a distilled student gets its own charts beside its teacher's — and, on the first structure, the rank of
     * every factorized stage whose layers map onto it (each factorized layer is a pair of layers in its manifest, both
     * noting the rank; a layer kept whole shows 0).
     */
    private static void perLayer(StringBuilder h, Storage st, List<String> modelStages) {
        Map<List<String>, Map<String, double[]>[]> groups = new LinkedHashMap<>(); // structure -> sparsity, kB, bits
        Map<String, double[]> rank = new LinkedHashMap<>();
        Map<List<String>, List<String>> labels = new LinkedHashMap<>(); // structure -> the charts' layer labels
        List<String> first = null;
        boolean anyBits = false;
        for (String uri : modelStages) {
            Path p = new Path(st.path(uri), ArtifactWriter.MANIFEST);
            if (!st.exists(p)) continue;
            Manifest m = Json.read(st.readAll(p, "manifest"), Manifest.class);
            List<Manifest.LayerRecord> weighted = m.layers().stream().filter(l -> l.params() > 0).toList();
            List<String> names = weighted.stream().map(l -> l.index() + " " + l.name()).toList();
            List<String> key = weighted.stream().map(l -> l.index() + " " + l.name() + " " + l.params()).toList();
            String label = new Path(uri).getName().equals("ticket") ? new Path(uri).getParent().getName() : new Path(uri).getName();
            double[] r = first == null || groups.containsKey(key) ? null : ranks(weighted, first.size());
            if (r != null) { // a factorized model's ranks, when its layers map onto the first structure's
                rank.put(label, r);
                continue;
            }
            if (first == null) first = key;
            @SuppressWarnings("unchecked")
            Map<String, double[]>[] g = groups.computeIfAbsent(key, k -> new Map[]{new LinkedHashMap<>(), new LinkedHashMap<>(), new LinkedHashMap<>()});
            g[0].put(label, weighted.stream().mapToDouble(Manifest.LayerRecord::sparsity).toArray());
            g[1].put(label, weighted.stream().mapToDouble(l -> l.bytesAfter() / 1024.0).toArray());
            double[] b = weighted.stream().mapToDouble(RunReport::bits).toArray();
            g[2].put(label, b);
            for (double v : b) anyBits |= v != 32;
            labels.put(key, names);
        }
        if (groups.isEmpty()) return;
        h.append("<h2>Per layer</h2>");
        for (var e : groups.entrySet()) {
            List<String> layers = labels.get(e.getKey());
            Map<String, double[]>[] g = e.getValue();
            String of = groups.size() == 1 ? "" : " (" + String.join(", ", g[0].keySet()) + ")";
            if (groups.size() > 1) h.append("<h3>").append(esc(String.join(", ", g[0].keySet()))).append("</h3>");
            img(h, "sparsity per layer", Charts.bars("Sparsity per layer" + of, "fraction of zero parameters", layers, g[0]));
            img(h, "stored size per layer", Charts.bars("Stored size per layer" + of, "kB in packed/", layers, g[1]));
            if (anyBits) img(h, "bits per weight per layer", Charts.bars("Bits per weight per layer" + of, "bits (fp32 = 32)", layers, g[2]));
            if (e.getKey().equals(first) && !rank.isEmpty())
                img(h, "rank per layer", Charts.bars("Rank per layer (factorized stages)", "rank (0: kept whole)", layers, rank));
        }
    }

    /** Bits per weight a layer stores: its quantized precision, its codebook's bits, else 32. */
    static double bits(Manifest.LayerRecord l) {
        String method = l.method() == null ? "" : l.method();
        if (l.details() != null && l.details().get("bits") instanceof Number n && method.equals("codebook")) return n.doubleValue();
        return switch (method) {
            case "quantize:int8" -> 8;
            case "quantize:int4", "quantize:nf4" -> 4;
            case "quantize:fp16" -> 16;
            default -> 32;
        };
    }

    /** A factorized model's rank per original layer ({@code n} of them), or null when its layers do not map onto them. */
    static double[] ranks(List<Manifest.LayerRecord> weighted, int n) {
        double[] r = new double[n];
        int i = 0;
        boolean any = false;
        for (int j = 0; j < weighted.size(); j++, i++) {
            if (i >= n) return null;
            Manifest.LayerRecord l = weighted.get(j);
            if (l.details() != null && l.details().get("rank") instanceof Number k && l.method() != null && l.method().startsWith("factorize")) {
                r[i] = k.doubleValue();
                any = true;
                j++; // the pair's second layer
            }
        }
        return any && i == n ? r : null;
    }

    private static void row(StringBuilder h, String stage, String ran, Map<?, ?> m, Number seconds) {
        boolean has = m != null && m.get("accuracy") != null;
        h.append("<tr><td>").append(esc(stage)).append("</td><td>").append(ran).append("</td>");
        if (has) {
            h.append(String.format(Locale.ROOT, "<td>%.4f</td><td>%.4f</td><td>%s</td><td>%d</td><td>%d</td><td>%s</td><td>%,.0f</td>", num(m.get("accuracy")),
                    num(m.get("loss")), m.get("agreement") == null ? "-" : String.format(Locale.ROOT, "%.4f", num(m.get("agreement"))),
                    (long) num(m.get("params")), (long) num(m.get("nonzeros")), EvalReport.bytes((long) num(m.get("stored_bytes"))), num(m.get("rows_per_s"))));
        } else {
            h.append("<td>-</td>".repeat(7));
        }
        h.append("<td>").append(seconds == null ? "" : String.format(Locale.ROOT, "%.1f", seconds.doubleValue())).append("</td></tr>");
    }

    private static void img(StringBuilder h, String alt, byte[] png) {
        h.append("<img alt=\"").append(esc(alt)).append("\" src=\"data:image/png;base64,").append(Base64.getEncoder().encodeToString(png)).append("\">");
    }

    private static double num(Object o) {
        return o instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
