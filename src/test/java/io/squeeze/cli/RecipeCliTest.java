package io.squeeze.cli;

import io.squeeze.ChildSqueeze;
import io.squeeze.artifact.Artifact;
import io.squeeze.artifact.Manifest;
import io.squeeze.core.FaultPoint;
import io.squeeze.core.Storage;
import io.squeeze.model.Json;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code squeeze run} on local[2] with the UCI digits: a recipe of train → prune (per-layer overrides) → fine-tune →
 * quantize runs each stage as its command, writes {@code final} with the lineage, skips what is unchanged, re-runs
 * from the first changed stage, goes on after a {@code kill -9} mid-stage, and exits 3 with {@code best} when the
 * gate is missed.
 */
class RecipeCliTest {
    static final String TRAIN = "csv:data/digits/digits-train.csv.gz", TEST = "csv:data/digits/digits-test.csv.gz";
    static final Storage st = new Storage(new Configuration());
    @TempDir
    static Path dir;
    static Path recipe;

    static final String RECIPE = """
            name: digits-test
            vars: {train: %s}
            data: {train: "${train}", eval: %s}
            accuracy: {metric: accuracy, tolerable_loss: 0.2}
            stages:
              - train: {arch: "mlp:32", epochs: 3, normalize: minmax, lr: 0.01, batch: 32, sync-every: 5}
              - prune:
                  method: l1
                  amount: 0.5
                  overrides:
                    - {layers: "1", amount: 0.3}
                    - {layers: "layer1", amount: 0.2}
              - fine-tune: {epochs: 1, batch: 32, sync-every: 5}
              - quantize: {mode: dynamic}
            """.formatted(TRAIN, TEST);

    @BeforeAll
    static void write() throws Exception {
        recipe = Files.writeString(dir.resolve("digits.yaml"), RECIPE);
    }

    static CliRun run(String out, String... extra) {
        List<String> a = new java.util.ArrayList<>(List.of("run", recipe.toString(), "--out", out));
        a.addAll(List.of(extra));
        return CliRun.run(a.toArray(String[]::new));
    }

    static Manifest manifest(String artifact) {
        return Artifact.load(st, artifact).manifest();
    }

    static long ran(CliRun r) {
        return r.err().lines().filter(l -> l.startsWith("run: [") && l.contains(": done in")).count();
    }

    static long skipped(CliRun r) {
        return r.err().lines().filter(l -> l.startsWith("run: [") && l.endsWith(", skipped")).count();
    }

    @Test
    void aRecipeRunsItsStagesAsTheirCommandsAndARerunOnlyWhatChanged() throws Exception {
        String out = dir.resolve("run").toString();
        CliRun r = run(out);
        assertEquals(0, r.code(), r.err());
        assertEquals(4, ran(r));
        String stages = out + "/stages/";

        // the prune stage is `squeeze prune` with the overrides resolved per layer (the later override wins)
        Manifest pruned = manifest(stages + "02-prune");
        assertEquals("0.5", pruned.layers().get(0).details().get("W_amount"));
        assertEquals("0.2", pruned.layers().get(1).details().get("W_amount"));
        String by = dir.resolve("by-hand").toString();
        assertEquals(0, CliRun.run("prune", "--model", stages + "01-train", "--method", "l1", "--amount", "0:0.5,1:0.2", "--out", by).code());
        assertEquals(manifest(by).files(), pruned.files(), "the stage wrote what the command writes");

        // fine-tune kept the masks and trained: same zeros, other weights
        Manifest tuned = manifest(stages + "03-fine-tune");
        for (int l = 0; l < 2; l++) assertEquals(pruned.layers().get(l).nonzeros(), tuned.layers().get(l).nonzeros());
        assertNotEquals(pruned.files().get("packed/tensors.bin"), tuned.files().get("packed/tensors.bin"));

        // final: the last stage's files, with every stage in its lineage
        Manifest fin = manifest(out + "/final");
        assertEquals(manifest(stages + "04-quantize").files(), fin.files());
        assertEquals(List.of("01-train", "02-prune", "03-fine-tune", "04-quantize"), fin.lineage().stream().map(e -> e.get("stage")).toList());
        assertEquals(Map.of("name", "l1"), ((Map<?, ?>) fin.lineage().get(1).get("config")).get("method"));
        assertEquals(Map.of("0", "0.5", "1", "0.2"), ((Map<?, ?>) fin.lineage().get(1).get("config")).get("per_layer"));

        // the report: the trained model is the baseline; every model stage evaluated on data.eval; the gate met
        Map<?, ?> report = Json.read(Files.readAllBytes(Path.of(out, "report.json")), Map.class);
        Map<?, ?> gate = (Map<?, ?>) report.get("gate");
        assertEquals(true, gate.get("met"));
        double base = (Double) ((Map<?, ?>) ((Map<?, ?>) report.get("baseline")).get("metrics")).get("accuracy");
        List<?> st4 = (List<?>) report.get("stages");
        assertEquals(base, (Double) ((Map<?, ?>) ((Map<?, ?>) st4.get(0)).get("metrics")).get("accuracy"));
        assertEquals(gate.get("final_value"), ((Map<?, ?>) ((Map<?, ?>) st4.get(3)).get("metrics")).get("accuracy"));
        CliRun ev = CliRun.run("evaluate", "--model", out + "/final", "--data", TEST);
        assertTrue(ev.out().contains(String.format(java.util.Locale.ROOT, "%.4f", (Double) gate.get("final_value"))), ev.out());
        assertFalse(Files.exists(Path.of(out, "best")));

        // a rerun does no work: every stage skipped, nothing rewritten
        Map<Path, Long> before = times(out);
        CliRun again = run(out);
        assertEquals(0, again.code(), again.err());
        assertEquals(4, skipped(again));
        assertEquals(0, ran(again));
        Map<Path, Long> after = times(out);
        for (String file : List.of("report.json", "report.html")) {
            before.remove(Path.of(out, file));
            after.remove(Path.of(out, file));
        }
        assertEquals(before, after, "a skipped run rewrites nothing but its report");

        // a changed stage runs again, and every stage after it; the ones before are skipped
        CliRun changed = run(out, "--set", "stages.2.fine-tune.epochs=2");
        assertEquals(0, changed.code(), changed.err());
        assertEquals(2, skipped(changed));
        assertEquals(2, ran(changed));
        assertEquals(2, ((Map<?, ?>) manifest(stages + "03-fine-tune").config().get("fine_tune")).get("epochs"));

        // --from runs again from a stage even if unchanged; --until stops after one
        CliRun from = run(out, "--set", "stages.2.fine-tune.epochs=2", "--from", "04");
        assertEquals(3, skipped(from));
        assertEquals(1, ran(from));
        String part = dir.resolve("part").toString();
        CliRun until = run(part, "--until", "prune");
        assertEquals(0, until.code(), until.err());
        assertEquals(2, ran(until));
        assertFalse(Files.exists(Path.of(part, "final")));
        assertFalse(Files.exists(Path.of(part, "stages", "03-fine-tune")));

        // a directory holding another recipe's run is refused, and nothing in it changes
        Map<Path, Long> held = times(out);
        CliRun other = run(out, "--set", "name=another");
        assertEquals(2, other.code());
        assertTrue(other.lastErr().contains("holds a run of recipe 'digits-test', not 'another'; pass --overwrite"), other.lastErr());
        assertEquals(held, times(out));
    }

    @Test
    void stagesBranchFromAnEarlierModelAndTheFinalLineageHoldsOnlyItsOwnPath() throws Exception {
        Path branching = Files.writeString(dir.resolve("branching.yaml"), """
                name: digits-branches
                data: {train: %s, eval: %s}
                stages:
                  - train: {arch: "mlp:32", epochs: 2, normalize: minmax, lr: 0.01, batch: 32, sync-every: 5}
                  - factorize:
                      rank: 4
                      overrides:
                        - {layers: "1", rank: 2}
                  - soft-targets: {from: train}
                  - distill: {student: "mlp:8", epochs: 1, batch: 32, sync-every: 5, normalize: minmax}
                  - prune: {from: 01, method: global, amount: 0.5}
                  - evaluate: {}
                  - quantize: {mode: dynamic, overrides: [{layers: "1", precision: fp32}]}
                """.formatted(TRAIN, TEST));
        String out = dir.resolve("branches").toString(), stages = out + "/stages/";
        CliRun r = CliRun.run("run", branching.toString(), "--out", out);
        assertEquals(0, r.code(), r.err());
        // factorize's per-layer overrides: rank 4 everywhere, 2 for layer 1 (the output layer); each factorized layer is two
        Map<?, ?> rec = Json.read(Files.readAllBytes(Path.of(stages, "02-factorize.json")), Map.class);
        assertTrue(rec.get("command").toString().contains("--rank, 0:4,1:2,"), rec.get("command").toString());
        assertEquals(List.of(4, 4, 2, 2), manifest(stages + "02-factorize").layers().stream().filter(l -> l.details() != null && l.details().containsKey("rank"))
                .map(l -> ((Number) l.details().get("rank")).intValue()).toList());
        rec = Json.read(Files.readAllBytes(Path.of(stages, "05-prune.json")), Map.class);
        assertTrue(rec.get("command").toString().contains("--model, file:" + stages + "01-train,"), rec.get("command").toString());
        rec = Json.read(Files.readAllBytes(Path.of(stages, "03-soft-targets.json")), Map.class);
        assertTrue(rec.get("command").toString().contains("--teacher, file:" + stages + "01-train,"), rec.get("command").toString());
        // the pruned model is the train stage's, pruned (the factorized one has rank-4 layers and other shapes)
        assertEquals(manifest(stages + "01-train").layers().get(0).params(), manifest(stages + "05-prune").layers().get(0).params());
        assertEquals(8 * 64 + 8, manifest(stages + "04-distill").layers().get(0).params(), "a new mlp:8 student");
        Manifest fin = manifest(out + "/final");
        assertEquals(manifest(stages + "07-quantize").files(), fin.files());
        assertEquals(List.of("quantize:int8", "quantize:fp32"), fin.layers().stream().map(l -> l.method()).toList(), "quantize's per-layer override");
        // the report charts the factorized branch's ranks and the final model's bits per layer
        String html = Files.readString(Path.of(out, "report.html"));
        assertTrue(html.contains("alt=\"rank per layer\""), "a rank chart");
        assertTrue(html.contains("alt=\"bits per weight per layer\""), "a bits chart");
        // the distilled mlp:8 student has charts of its own beside the mlp:32 stages'
        assertEquals(2, html.split("alt=\"sparsity per layer\"", -1).length - 1, "two layer structures");
        assertTrue(html.contains("<h3>01-train, 05-prune, 07-quantize</h3>") && html.contains("<h3>04-distill</h3>"), html.replaceAll("base64,[^\"]+", ""));
        assertArrayEquals(new double[]{4, 2}, RunReport.ranks(manifest(stages + "02-factorize").layers().stream().filter(l -> l.params() > 0).toList(), 2));
        assertEquals(List.of(8.0, 32.0), fin.layers().stream().filter(l -> l.params() > 0).map(RunReport::bits).toList());
        assertEquals(List.of("01-train", "05-prune", "06-evaluate", "07-quantize"), fin.lineage().stream().map(e -> e.get("stage")).toList());
        // a bad branch is refused at its place in the file, before any Spark work
        Path bad = Files.writeString(dir.resolve("bad-branch.yaml"), Files.readString(branching).replace("from: 01,", "from: soft-targets,"));
        CliRun b = CliRun.run("run", bad.toString(), "--out", dir.resolve("bad-branch").toString());
        assertEquals(2, b.code(), b.err());
        assertTrue(b.err().contains("bad-branch.yaml:11:"), b.err());
        assertTrue(b.err().contains("prune.from must name one earlier stage that makes a model, or source (01-train, 02-factorize, 04-distill), got 'soft-targets'"), b.err());
        assertFalse(Files.exists(dir.resolve("bad-branch")));
    }

    @Test
    void aRunKilledMidStageGoesOnFromThatStageAndASecondRerunDoesNoWork() throws Exception {
        String out = dir.resolve("killed").toString();
        CliRun first = run(out, "--until", "01");
        assertEquals(0, first.code(), first.err());
        // the next run skips 01 and is killed while 02 writes its artifact
        var killed = ChildSqueeze.run(List.of("-Dsqueeze.pause=" + FaultPoint.MID_WRITE), l -> l.equals("squeeze: paused at " + FaultPoint.MID_WRITE),
                "run", recipe.toString(), "--out", out);
        assertEquals(137, killed.code(), killed.log());
        assertTrue(killed.log().contains("run: [1/4] 01-train: unchanged"), killed.log());
        assertFalse(Files.exists(Path.of(out, "stages", "02-prune")), "no half stage");

        CliRun rerun = run(out);
        assertEquals(0, rerun.code(), rerun.err());
        assertEquals(1, skipped(rerun));
        assertEquals(3, ran(rerun));
        try (Stream<Path> s = Files.list(Path.of(out, "stages"))) {
            assertEquals(List.of(), s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".")).toList(), "the rerun removed the leftovers");
        }
        CliRun second = run(out);
        assertEquals(4, skipped(second));
        assertEquals(0, ran(second));
    }

    @Test
    void aMissedGateExitsThreeAndWritesTheBestCandidate() throws Exception {
        String out = dir.resolve("gate").toString();
        String source = CliRun.digitsMlp(dir.resolve("source").toString());
        Path gate = Files.writeString(dir.resolve("gate.yaml"), """
                model: %s
                data: {eval: %s}
                accuracy: {metric: accuracy, tolerable_loss: 0.0}
                stages:
                  - prune: {method: l1, amount: 0.97}
                  - quantize: {mode: dynamic, bits: 4}
                """.formatted(source, TEST));
        CliRun r = CliRun.run("run", gate.toString(), "--out", out);
        assertEquals(RunCommand.GATE_FAILED, r.code(), r.err());
        assertTrue(r.err().contains("misses the gate"), r.err());
        Map<?, ?> g = (Map<?, ?>) Json.read(Files.readAllBytes(Path.of(out, "report.json")), Map.class).get("gate");
        assertEquals(false, g.get("met"));
        assertTrue((Double) g.get("final_value") < (Double) g.get("baseline_value"));
        // best: the candidate closest to the gate, with the lineage up to it
        String best = (String) g.get("best");
        Manifest b = manifest(out + "/best");
        assertEquals(manifest(out + "/stages/" + best).files(), b.files());
        assertEquals(best, b.lineage().get(b.lineage().size() - 1).get("stage"));
        assertTrue(Files.exists(Path.of(out, "final")));
    }

    @Test
    void budgetsAreAllocatedFromSensitivityAndTheReportShowsEveryChart() throws Exception {
        String out = dir.resolve("auto").toString();
        String source = CliRun.digitsMlp(dir.resolve("auto-source").toString());
        Path auto = Files.writeString(dir.resolve("auto.yaml"), """
                model: %s
                data: {train: %s, eval: %s}
                stages:
                  - prune: {target: 0.6, levels: [0.3, 0.5, 0.7, 0.9], fine-tune-epochs: 1, batch: 32, sync-every: 5}
                  - quantize: {mode: dynamic, choices: [4, 8, fp32], effective_bits: 6}
                """.formatted(source, TRAIN, TEST));
        CliRun r = CliRun.run("run", auto.toString(), "--out", out);
        assertEquals(0, r.code(), r.err());
        Map<?, ?> report = Json.read(Files.readAllBytes(Path.of(out, "report.json")), Map.class);
        List<?> stages = (List<?>) report.get("stages");
        // prune: the allocated amounts reach 60 % of the weights, and the artifact holds exactly them
        Map<?, ?> alloc = (Map<?, ?>) ((Map<?, ?>) stages.get(0)).get("allocation");
        assertTrue((Double) alloc.get("saving") >= (Double) alloc.get("required"));
        Manifest pruned = manifest(out + "/stages/01-prune");
        long weights = 0, zero = 0;
        for (var l : pruned.layers()) {
            Object a = ((Map<?, ?>) alloc.get("levels")).get(Integer.toString(l.index()));
            assertEquals(a, l.details().getOrDefault("W_amount", "0"), "layer " + l.index());
            weights += Math.round(l.params() - (l.index() == 0 ? 128 : l.index() == 1 ? 64 : 10)); // weights without biases
        }
        for (var l : pruned.layers()) zero += Math.round(l.sparsity() * l.params());
        assertTrue(zero >= Math.round(0.6 * weights), zero + " of " + weights);
        // quantize: every layer one of the choices, averaging at most 6 bits per weight
        Map<?, ?> bits = (Map<?, ?>) ((Map<?, ?>) ((Map<?, ?>) stages.get(1)).get("allocation")).get("levels");
        double sum = 0;
        long n = 0;
        long[] sizes = {64 * 128, 128 * 64, 64 * 10};
        for (int l = 0; l < 3; l++) {
            String b = (String) bits.get(Integer.toString(l));
            assertTrue(List.of("4", "8", "fp32").contains(b), b);
            sum += sizes[l] * (b.equals("fp32") ? 32 : Integer.parseInt(b));
            n += sizes[l];
        }
        assertTrue(sum / n <= 6, "effective bits " + sum / n);
        assertTrue(Files.exists(Path.of(out, "stages", "01-prune.sensitivity.json")));
        assertTrue(Files.exists(Path.of(out, "stages", "01-prune.sensitivity.png")));
        // the page: self-contained, every chart inline
        String html = Files.readString(Path.of(out, "report.html"));
        assertEquals(6, html.split("src=\"data:image/png;base64,", -1).length - 1, "the frontier, 3 per-layer charts, 2 sensitivity plots");
        assertTrue(html.contains("alt=\"bits per weight per layer\""), "the mixed precision per layer");
        assertFalse(html.contains("http://") || html.contains("https://"), "no network needed");
        // a rerun reuses the measured curves
        CliRun again = CliRun.run("run", auto.toString(), "--out", out);
        assertEquals(2, skipped(again), again.err());
        assertEquals(2, again.err().lines().filter(l -> l.contains("unchanged, reused")).count(), again.err());
    }

    @Test
    void aMissedGateRelaxesTheMostDamagingLayerTrialByTrialUntilItIsMet() throws Exception {
        String out = dir.resolve("fallback").toString();
        String source = CliRun.digitsMlp(dir.resolve("fallback-source").toString());
        Path recipe = Files.writeString(dir.resolve("fallback.yaml"), """
                model: %s
                data: {train: %s, eval: %s}
                accuracy: {metric: accuracy, tolerable_loss: 0.02, max_trials: 6}
                stages:
                  - prune: {target: 0.6, levels: [0.5, 0.95]}
                  - quantize: {mode: dynamic}
                """.formatted(source, TRAIN, TEST));
        CliRun r = CliRun.run("run", recipe.toString(), "--out", out);
        // relaxing every layer to uncompressed leaves a dynamically quantized dense model, well within 0.02: met by then
        assertEquals(0, r.code(), r.err());
        Map<?, ?> report = Json.read(Files.readAllBytes(Path.of(out, "report.json")), Map.class);
        List<?> trials = (List<?>) report.get("trials");
        Map<?, ?> gate = (Map<?, ?>) report.get("gate");
        assertFalse(trials.isEmpty(), "the first allocation misses the gate: " + r.err());
        Map<?, ?> previous = (Map<?, ?>) ((Map<?, ?>) ((List<?>) report.get("stages")).get(0)).get("allocation");
        Map<?, ?> levels = (Map<?, ?>) previous.get("levels");
        for (Object o : trials) {
            Map<?, ?> t = (Map<?, ?>) o;
            Map<?, ?> now = (Map<?, ?>) t.get("levels");
            int changed = 0;
            for (Object layer : levels.keySet())
                if (!levels.get(layer).equals(now.get(layer))) {
                    changed++;
                    assertTrue(Double.parseDouble((String) now.get(layer)) < Double.parseDouble((String) levels.get(layer)), "less pruning: " + t);
                }
            assertEquals(1, changed, "one layer relaxed per trial: " + t);
            levels = now;
        }
        Map<?, ?> last = (Map<?, ?>) trials.get(trials.size() - 1);
        assertEquals(true, last.get("met"));
        for (int k = 0; k < trials.size() - 1; k++) assertEquals(false, ((Map<?, ?>) trials.get(k)).get("met"));
        assertEquals(last.get("trial"), gate.get("trial"));
        assertEquals(true, gate.get("met"));
        // final is the trial's model, its lineage marked with the trial
        String trialFinal = out + String.format("/trials/t%02d/final", ((Number) last.get("trial")).intValue());
        Manifest fin = manifest(out + "/final");
        assertEquals(manifest(trialFinal).files(), fin.files());
        assertEquals(last.get("trial"), fin.lineage().get(0).get("trial"));
        assertFalse(Files.exists(Path.of(out, "best")));
        assertTrue(Files.readString(Path.of(out, "report.html")).contains("Fallback trials"));
    }

    static Map<Path, Long> times(String out) throws Exception {
        try (Stream<Path> s = Files.walk(Path.of(out))) {
            Map<Path, Long> m = new java.util.TreeMap<>();
            for (Path p : s.filter(Files::isRegularFile).toList()) m.put(p, Files.getLastModifiedTime(p).toMillis());
            return m;
        }
    }
}
