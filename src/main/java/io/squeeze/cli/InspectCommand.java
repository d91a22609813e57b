package io.squeeze.cli;

import io.squeeze.artifact.Artifact;
import io.squeeze.artifact.Manifest;
import io.squeeze.artifact.Models;
import io.squeeze.core.Storage;
import io.squeeze.eval.EvalReport;
import io.squeeze.model.Json;
import io.squeeze.model.LayerStats;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.SourceKind;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = {"Lists a model's layers: index, name, type, parameter shapes, parameters, non-zeros, sparsity, bytes;",
                "for a graph (a ResNet, a Keras functional model) also each layer's inputs and every merge vertex.",
                "Example: squeeze inspect --model out/quickstart/model --json"})
public final class InspectCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "M", description = "artifact directory, DL4J zip or Keras .h5")
    String model;

    @Option(names = "--json", description = "print JSON instead of a table")
    boolean json;

    @Override
    public Integer call() {
        Storage st = Storage.withSparkDefaults();
        var loaded = Models.loadRunnable(st, model, true);
        LoadedModel m = loaded.model(); // a quantized graph: its float graph, and below its quantized nodes
        Map<Integer, Manifest.LayerRecord> stored = new LinkedHashMap<>();
        Map<Integer, String> storage = new LinkedHashMap<>();
        if (m.kind() == SourceKind.ARTIFACT) {
            Artifact a = Artifact.load(st, model);
            for (Manifest.LayerRecord r : a.manifest().layers()) stored.put(r.index(), r);
            storage = a.storage();
        }
        List<Map<String, Object>> rows = new ArrayList<>();
        Map<String, List<String>> inputs = new LinkedHashMap<>();
        List<io.squeeze.model.Graphs.Vertex> merges = new ArrayList<>();
        if (m.isGraph()) {
            for (var v : io.squeeze.model.Graphs.vertices(m.graph())) {
                inputs.put(v.name(), v.inputs());
                if (m.graph().getConfiguration().getVertices().get(v.name()) instanceof org.deeplearning4j.nn.conf.graph.LayerVertex) continue;
                merges.add(v);
            }
        }
        for (LayerStats s : LayerStats.of(m.layers())) {
            Map<String, Object> r = s.row();
            if (m.isGraph()) r.put("inputs", inputs.get(s.name()));
            r.put("shapes", s.shapes());
            r.put("dense_bytes", s.denseBytes());
            Manifest.LayerRecord rec = stored.get(s.index());
            r.put("stored_bytes", rec == null ? null : rec.bytesAfter());
            r.put("method", rec == null ? null : rec.method());
            r.put("storage", storage.get(s.index()));
            rows.add(r);
        }
        if (json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("model", m.source());
            doc.put("kind", m.kind().name().toLowerCase(Locale.ROOT));
            doc.put("sha256", m.sha256());
            doc.put("num_features", m.meta().numFeatures());
            doc.put("num_classes", m.meta().numClasses());
            doc.put("normalization", m.meta().normalizer().kind().name().toLowerCase(Locale.ROOT));
            doc.put("stored_bytes", m.storedBytes());
            doc.put("layers", rows);
            if (m.isGraph()) {
                doc.put("merges", merges);
                doc.put("multiply_adds", io.squeeze.model.Graphs.multiplyAdds(m.graph(), m.meta().numFeatures()));
            }
            out().println(new String(Json.bytes(doc), StandardCharsets.UTF_8));
            return Main.OK;
        }
        var o = out();
        o.printf("%s (%s, %d features, %d classes, normalization %s)%n", m.source(), m.kind().name().toLowerCase(Locale.ROOT),
                m.meta().numFeatures(), m.meta().numClasses(), m.meta().normalizer().kind().name().toLowerCase(Locale.ROOT));
        int nw = Math.max(10, rows.stream().mapToInt(r -> String.valueOf(r.get("name")).length()).max().orElse(0));
        String nameCol = "%-" + nw + "s";
        // a stack's table, and a graph artifact's, show how each layer is stored; a graph's shows each layer's inputs last
        boolean showStored = !m.isGraph() || m.kind() == SourceKind.ARTIFACT;
        String header = String.format("%-5s " + nameCol + " %-20s %-32s %10s %10s %8s %10s", "index", "name", "type", "shapes", "params", "nonzeros", "sparsity", "dense");
        if (showStored) header += String.format(" %10s  %-16s %-34s", "stored", "method", "weights stored as");
        o.println((m.isGraph() ? header + "  inputs" : header).stripTrailing());
        List<LayerStats> all = LayerStats.of(m.layers());
        for (Map<String, Object> r : rows) {
            @SuppressWarnings("unchecked")
            Map<String, long[]> shapes = (Map<String, long[]>) r.get("shapes");
            String sh = shapes.entrySet().stream().map(e -> e.getKey() + java.util.Arrays.toString(e.getValue()).replace(" ", ""))
                    .collect(Collectors.joining(" "));
            String common = String.format(Locale.ROOT, "%-5d " + nameCol + " %-20s %-32s %10d %10d %7.2f%% %10s", (Integer) r.get("index"), r.get("name"),
                    r.get("type"), sh.isEmpty() ? "-" : sh, (Long) r.get("params"), (Long) r.get("nonzeros"),
                    100 * (Double) r.get("sparsity"), EvalReport.bytes((Long) r.get("dense_bytes")));
            String line = common;
            if (showStored) line += String.format(Locale.ROOT, " %10s  %-16s %-34s", r.get("stored_bytes") == null ? "-" : EvalReport.bytes((Long) r.get("stored_bytes")),
                    r.get("method") == null ? "" : r.get("method"), r.get("storage") == null ? "" : r.get("storage"));
            if (r.get("inputs") instanceof List<?> in) line += "  " + in.stream().map(String::valueOf).collect(Collectors.joining(", "));
            o.println(line.stripTrailing());
        }
        for (var v : merges) o.printf("merge  %s (%s) of %s%n", v.name(), v.type(), String.join(", ", v.inputs()));
        if (m.isGraph()) o.printf(Locale.ROOT, "multiply-adds a row: %,d%n", io.squeeze.model.Graphs.multiplyAdds(m.graph(), m.meta().numFeatures()));
        if (m.isGraph() && loaded.quant() != null) {
            var plan = loaded.quant().plan();
            o.printf("quantized %s (%s): evaluate and predict run these nodes (batch normalizations folded, ReLUs fused)%n",
                    plan.mode().name().toLowerCase(Locale.ROOT), plan.observer());
            var nodes = io.squeeze.model.GraphOps.of(m.graph(), "inspect").nodes();
            for (int i = 0; i < nodes.size(); i++) {
                var l = plan.layer(i);
                var a = plan.activations().get(i);
                if (l == null && a == null) continue;
                o.printf(Locale.ROOT, "node %-3d %-16s %-6s %-26s%s%s%n", i, nodes.get(i).name(), nodes.get(i).op().getClass().getSimpleName().toLowerCase(Locale.ROOT),
                        l == null ? "-" : l.precision().name().toLowerCase(Locale.ROOT) + (l.precision().integer() ? l.axis() < 0 ? " per-tensor" : " per-channel" : ""),
                        a == null ? "" : String.format(Locale.ROOT, " output scale %.6g zero point %d", a.scale(), a.zeroPoint()),
                        nodes.get(i).absorbed().isEmpty() ? "" : " folded " + nodes.get(i).absorbed());
            }
        }
        long p = LayerStats.totalParams(all), nz = LayerStats.totalNonzeros(all);
        o.printf(Locale.ROOT, "total: %d params, %d non-zero (%.2f%% sparse), dense fp32 %s, stored %s%n", p, nz,
                p == 0 ? 0 : 100.0 * (p - nz) / p, EvalReport.bytes(p * 4), EvalReport.bytes(m.storedBytes()));
        return Main.OK;
    }
}
