package io.squeeze.cli;

import io.squeeze.TestModels;
import io.squeeze.core.Storage;
import io.squeeze.model.ModelIO;
import org.apache.hadoop.conf.Configuration;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Property;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The bad-input corpus ({@code src/test/resources/bad-input/corpus.txt}, one case per line): each case exits with its
 * code and a last line on stderr naming the thing and the value, prints no stack trace and logs no ERROR, and
 * creates or changes nothing in the fixture directory (so an existing output stays as it was).
 */
class BadInputCorpusTest {
    static final String TEST = "csv:data/digits/digits-test.csv.gz";
    static Path dir;
    static final Map<String, String> vars = new LinkedHashMap<>();
    static final List<LogEvent> logged = new CopyOnWriteArrayList<>();
    static AbstractAppender capture;

    @BeforeAll
    static void fixtures() throws Exception {
        dir = Files.createTempDirectory(Path.of("target"), "bad-input-").toAbsolutePath();
        Storage st = new Storage(new Configuration());
        String model = dir.resolve("m.zip").toString();
        ModelIO.writeZip(st, new org.apache.hadoop.fs.Path(model), TestModels.mlp(64, new int[]{8}, 10, 1), TestModels.minmaxMeta(64, 10), false);
        vars.put("$MODEL", model);
        vars.put("$TEST", TEST);
        String art = dir.resolve("art").toString(), soft = dir.resolve("soft").toString();
        assertEquals(0, CliRun.run("prune", "--model", model, "--method", "l1", "--amount", "0.5", "--out", art).code());
        assertEquals(0, CliRun.run("soft-targets", "--teacher", model, "--data", TEST, "--out", soft).code());
        String qart = dir.resolve("qart").toString();
        assertEquals(0, CliRun.run("quantize", "--model", model, "--mode", "dynamic", "--out", qart).code());
        vars.put("$QART", qart);
        vars.put("$ART", art);
        vars.put("$SOFT", soft);
        Path incomplete = copy(Path.of(art), dir.resolve("incomplete"));
        Files.delete(incomplete.resolve("_SUCCESS"));
        vars.put("$INCOMPLETE", incomplete.toString());
        Path tampered = copy(Path.of(art), dir.resolve("tampered"));
        byte[] t = Files.readAllBytes(tampered.resolve("packed/tensors.bin"));
        t[t.length / 2] ^= 1;
        Files.write(tampered.resolve("packed/tensors.bin"), t);
        vars.put("$TAMPERED", tampered.toString());
        vars.put("$ZERO", Files.write(Files.createDirectories(dir.resolve("zero")).resolve("model.zip"), new byte[0]).toString());
        Path garbage = Files.writeString(dir.resolve("garbage.zip"), "not a zip at all");
        vars.put("$GARBAGE", garbage.toString());
        byte[] all = Files.readAllBytes(Path.of(model));
        vars.put("$TRUNC", Files.write(dir.resolve("trunc.zip"), Arrays.copyOf(all, all.length / 3)).toString());
        MultiLayerNetwork lstm = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().list()
                .layer(new LSTM.Builder().nIn(64).nOut(4).build()).layer(new RnnOutputLayer.Builder().nIn(4).nOut(10).build()).build());
        lstm.init();
        Path lz = dir.resolve("lstm.zip");
        ModelSerializer.writeModel(lstm, lz.toFile(), false);
        vars.put("$LSTMZIP", lz.toString());
        vars.put("$LSTMJSON", Files.writeString(dir.resolve("lstm.json"), lstm.getLayerWiseConfigurations().toJson()).toString());
        Path sz = dir.resolve("lstm-seq.zip");
        ModelIO.writeZip(st, new org.apache.hadoop.fs.Path(sz.toString()), io.squeeze.quantize.LstmRuntimeTest.digitsLstm(), TestModels.minmaxMeta(64, 10), false);
        vars.put("$LSTMART", sz.toString());
        MultiLayerNetwork ncw = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().list()
                .layer(new LSTM.Builder().nIn(8).nOut(4).build()).layer(new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder().nIn(4).nOut(10).build())
                .inputPreProcessor(0, new io.squeeze.model.SequenceRows(8, 8)).inputPreProcessor(1, new io.squeeze.model.LastStep(8)).build());
        ncw.init();
        Path nz = dir.resolve("lstm-ncw.zip");
        ModelSerializer.writeModel(ncw, nz.toFile(), false);
        vars.put("$LSTMNCW", nz.toString());
        var resnet = new org.deeplearning4j.nn.graph.ComputationGraph(io.squeeze.model.ResNetGraph.build(new io.squeeze.model.Arch.ResNet(1), 64, 10,
                new int[]{8, 8, 1}, new io.squeeze.model.Architectures.Hyper(1, 0.001, 0)));
        resnet.init();
        Path rz = dir.resolve("resnet.zip");
        ModelIO.writeZip(st, new org.apache.hadoop.fs.Path(rz.toString()), resnet, TestModels.minmaxMeta(64, 10), false);
        vars.put("$RESNET", rz.toString());
        String graphArt = dir.resolve("graph-art").toString(), qGraphArt = dir.resolve("qgraph-art").toString();
        var prov = new io.squeeze.artifact.ArtifactWriter.Provenance(rz.toString(), "", List.of(), Map.of());
        io.squeeze.artifact.ArtifactWriter.writeGraph(st, graphArt, false, new io.squeeze.artifact.ArtifactWriter.GraphContent(resnet,
                TestModels.minmaxMeta(64, 10), prov, Map.of(), Map.of(), Map.of(), null), false);
        var folded = io.squeeze.model.GraphBatchNormFold.fold(resnet).graph();
        io.squeeze.artifact.ArtifactWriter.writeGraph(st, qGraphArt, false, new io.squeeze.artifact.ArtifactWriter.GraphContent(folded,
                TestModels.minmaxMeta(64, 10), prov, Map.of(), Map.of(), Map.of(), io.squeeze.quantize.QuantizedModel.quantizeWeights(
                        io.squeeze.model.GraphOps.of(folded, "test"), io.squeeze.quantize.GraphQuantTest.config(io.squeeze.quantize.QuantConfig.Mode.DYNAMIC,
                                io.squeeze.quantize.QuantConfig.Precision.INT8))), false);
        vars.put("$GRAPHART", graphArt);
        vars.put("$QGRAPHART", qGraphArt);
        vars.put("$GRAPHJSON", Files.writeString(dir.resolve("graph.json"), resnet.getConfiguration().toJson()).toString());
        Path bz = dir.resolve("bn.zip");
        ModelSerializer.writeModel(TestModels.bnConvNet(1, true), bz.toFile(), false);
        vars.put("$BNZIP", bz.toString());
        MultiLayerNetwork bnRelu = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().list()
                .layer(new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().nIn(64).nOut(8).activation(org.nd4j.linalg.activations.Activation.RELU).build())
                .layer(new org.deeplearning4j.nn.conf.layers.BatchNormalization.Builder().nOut(8).build())
                .layer(new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder().nIn(8).nOut(10).activation(org.nd4j.linalg.activations.Activation.SOFTMAX).build()).build());
        bnRelu.init();
        Path brz = dir.resolve("bn-relu.zip");
        ModelSerializer.writeModel(bnRelu, brz.toFile(), false);
        vars.put("$BNRELUZIP", brz.toString());
        vars.put("$BADJSON", Files.writeString(dir.resolve("bad.json"), "{").toString());
        MultiLayerNetwork inf = TestModels.mlp(64, new int[]{8}, 10, 1);
        inf.getLayer(0).getParam("b").putScalar(3, Float.POSITIVE_INFINITY);
        Path iz = dir.resolve("inf.zip");
        ModelSerializer.writeModel(inf, iz.toFile(), false);
        vars.put("$INF", iz.toString());
        vars.put("$NOTH5", Files.writeString(dir.resolve("fake.h5"), "this is not HDF5\n".repeat(40)).toString());
        String row = "0,".repeat(64);
        vars.put("$EMPTYCSV", Files.writeString(dir.resolve("empty.csv"), "").toString());
        vars.put("$EMPTYDIR", Files.createDirectories(dir.resolve("emptydir")).toString());
        vars.put("$THREE", Files.writeString(dir.resolve("three.csv"), "1,2,3,1\n").toString());
        vars.put("$LABEL12", Files.writeString(dir.resolve("label12.csv"), row + "3\n" + row + "12\n").toString());
        vars.put("$NAN", Files.writeString(dir.resolve("nan.csv"), "NaN," + "0,".repeat(63) + "3\n").toString());
        vars.put("$NEG", Files.writeString(dir.resolve("neg.csv"), row + "-1\n").toString());
        vars.put("$ONECLASS", Files.writeString(dir.resolve("oneclass.csv"), (row + "3\n").repeat(5)).toString());
        vars.put("$RAGGED", Files.writeString(dir.resolve("ragged.csv"), row + "1\n" + row + "2\n" + "0,".repeat(63) + "3\n" + row + "4\n").toString());
        Path existing = Files.createDirectories(dir.resolve("existing"));
        Files.writeString(existing.resolve("keep.txt"), "precious");
        vars.put("$EXISTING", existing.toString());
        Files.writeString(dir.resolve("report.json"), "{}");
        vars.put("$FILE", Files.writeString(dir.resolve("plainfile"), "x").toString());
        vars.put("$OUT", dir.resolve("never").toString());
        // recipes (squeeze run): a valid one the cases bend with --set, and broken files
        vars.put("$RECIPE", Files.writeString(dir.resolve("r.yaml"), String.join("\n", "name: corpus", "model: " + model,
                "data: {train: " + TEST + ", eval: " + TEST + "}", "accuracy: {metric: accuracy, tolerable_loss: 0.01}", "stages:",
                "  - prune: {method: l1, amount: 0.5, overrides: [{layers: 0, amount: 0.4}]}", "  - quantize: {mode: dynamic}", "")).toString());
        vars.put("$YAMLBROKEN", Files.writeString(dir.resolve("broken.yaml"), "stages: [prune: {amount: 0.5}\nname: x\n").toString());
        vars.put("$YAMLSTAGE", Files.writeString(dir.resolve("stage.yaml"), "model: " + model + "\nstages:\n  - shrink: {amount: 0.5}\n").toString());
        vars.put("$YAMLKEY", Files.writeString(dir.resolve("key.yaml"), "model: " + model + "\nstage:\n  - prune: {amount: 0.5}\n").toString());
        vars.put("$YAMLVAR", Files.writeString(dir.resolve("var.yaml"), "model: " + model + "\nstages:\n  - prune: {method: l1, amount: \"${amt}\"}\n").toString());
        vars.put("$YAMLDISTILL", Files.writeString(dir.resolve("distill.yaml"), "model: " + model + "\ndata: {train: " + TEST + "}\nstages:\n  - distill: {student: \"mlp:4\", epochs: 1}\n").toString());
        vars.put("$YAMLAFTERQ", Files.writeString(dir.resolve("afterq.yaml"), "model: " + model + "\nstages:\n  - quantize: {mode: dynamic}\n  - prune: {method: l1, amount: 0.5}\n").toString());
        vars.put("$YAMLBITS", Files.writeString(dir.resolve("bits.yaml"), "model: " + model + "\nstages:\n  - quantize: {mode: dynamic, choices: [8, fp32], effective_bits: 5}\n").toString());
        vars.put("$YAMLTARGET", Files.writeString(dir.resolve("target.yaml"), "model: " + model + "\ndata: {train: " + TEST + "}\nstages:\n  - prune: {target: 0.97, levels: [0.5, 0.9]}\n").toString());
        vars.put("$YAMLVALUE", Files.writeString(dir.resolve("value.yaml"), "model: " + model + "\nstages:\n  - prune:\n      method: l1\n      amount: 1.3\n").toString());
        vars.put("$DIR", dir.toString()); // last: the other values start with it

        capture = new AbstractAppender("bad-input-capture", null, null, true, Property.EMPTY_ARRAY) {
            @Override
            public void append(LogEvent e) {
                logged.add(e.toImmutable());
            }
        };
        capture.start();
        LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
        ctx.getConfiguration().getRootLogger().addAppender(capture, Level.WARN, null);
        ctx.updateLoggers();
    }

    @AfterAll
    static void detach() {
        LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
        ctx.getConfiguration().getRootLogger().removeAppender(capture.getName());
        ctx.updateLoggers();
    }

    static Path copy(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path q = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(q);
                else Files.copy(p, q);
            }
        }
        return to;
    }

    static String expand(String s) {
        for (var e : vars.entrySet()) s = s.replace(e.getKey(), e.getValue());
        return s;
    }

    /**
     * Every file and directory under the fixture directory, files with their size and modification time (a directory's
     * own time changes when the output check writes and removes its probe file).
     */
    static Map<String, String> snapshot() throws IOException {
        Map<String, String> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.toList())
                m.put(dir.relativize(p).toString(), Files.isDirectory(p) ? "dir" : Files.size(p) + "@" + Files.getLastModifiedTime(p).toMillis());
        }
        return m;
    }

    static java.util.Set<String> union(Map<String, String> a, Map<String, String> b) {
        java.util.Set<String> u = new java.util.TreeSet<>(a.keySet());
        u.addAll(b.keySet());
        return u;
    }

    static Stream<Arguments> corpus() throws IOException {
        List<Arguments> out = new ArrayList<>();
        List<String> lines = Files.readAllLines(Path.of("src/test/resources/bad-input/corpus.txt"), StandardCharsets.UTF_8);
        for (int i = 0; i < lines.size(); i++) {
            String l = lines.get(i).strip();
            if (l.isEmpty() || l.startsWith("#")) continue;
            String[] f = l.split(" \\| ", 3);
            assertEquals(3, f.length, "corpus line " + (i + 1) + ": EXIT | MESSAGE | COMMAND");
            out.add(Arguments.of(i + 1, Integer.parseInt(f[0].strip()), f[1].strip(), f[2].strip()));
        }
        assertTrue(out.size() >= 60, "the corpus holds " + out.size() + " cases");
        return out.stream();
    }

    @ParameterizedTest(name = "line {0}: {3}")
    @MethodSource("corpus")
    void badInputIsOneLineAndChangesNothing(int line, int exit, String message, String command) throws Exception {
        String[] args = expand(command).split("\\s+");
        String expected = expand(message);
        Map<String, String> before = snapshot();
        logged.clear();
        CliRun r = CliRun.run(args);
        assertEquals(exit, r.code(), "exit code; stderr: " + r.err());
        assertTrue(r.lastErr().startsWith("squeeze: ") && r.lastErr().contains(expected), "expected '" + expected + "' in: " + r.lastErr());
        assertFalse(r.err().contains("\tat ") || r.err().contains("Exception:") && !r.lastErr().contains("Exception:"),
                "no stack trace: " + r.err());
        List<String> loud = logged.stream().filter(e -> e.getLevel().isMoreSpecificThan(Level.ERROR) || e.getThrown() != null)
                .map(e -> e.getLevel() + " " + e.getLoggerName() + ": " + e.getMessage().getFormattedMessage()).toList();
        assertEquals(List.of(), loud, "no ERROR log and no logged stack trace");
        Map<String, String> after = snapshot();
        Path out = Path.of(vars.get("$OUT"));
        if (Files.exists(out)) // removed so that one failing case does not fail the next ones
            try (Stream<Path> s = Files.walk(out)) {
                for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
            }
        List<String> changed = new ArrayList<>();
        for (String k : union(before, after))
            if (!java.util.Objects.equals(before.get(k), after.get(k))) changed.add(k + ": " + before.get(k) + " -> " + after.get(k));
        assertEquals(List.of(), changed, "nothing created or changed");
    }
}
