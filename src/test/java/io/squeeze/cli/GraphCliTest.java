package io.squeeze.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.squeeze.core.Storage;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelIO;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Row;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A ResNet as a user runs it through Squeeze, on local[2]: {@code train --arch resnet:1} on the UCI digits (8×8 images,
 * 28 layers with three residual adds) written as a DL4J ComputationGraph zip, reproduced by the same command;
 * {@code inspect} lists its merges; {@code evaluate} on the executors equals {@code evaluate --local}; {@code predict}
 * gives the evaluated classes; its soft targets teach an MLP student that {@code distill} evaluates against it; its
 * weights are pruned by magnitude (the masks on the executors equal to the masks in one process) and stay zero through
 * fine-tuning, its channel groups are pruned and shrunk, its convolutions factorized, and it is quantized to int8.
 */
public class GraphCliTest {
    static final String TRAIN = QuantizeCliTest.TRAIN, TEST = QuantizeCliTest.TEST;
    @TempDir
    static Path dir;
    static String resnet;
    static JsonNode report;

    static String[] train(String out) {
        return new String[]{"train", "--data", TRAIN, "--arch", "resnet:1", "--epochs", "3", "--lr", "0.003", "--normalize", "minmax",
                "--seed", "42", "--eval-data", TEST, "--out", out};
    }

    static JsonNode evaluate(String model, String name, String... more) throws Exception {
        String rep = dir.resolve(name + "-report.json").toString();
        CliRun r = CliRun.run(CliRun.with(new String[]{"evaluate", "--model", model, "--data", TEST, "--report", rep}, more));
        assertEquals(0, r.code(), r.err());
        return QuantizeCliTest.M.readTree(Files.readAllBytes(Path.of(rep)));
    }

    /** A graph from a zip or an artifact directory. */
    static LoadedModel load(String model) {
        return io.squeeze.artifact.Models.load(new Storage(new Configuration()), model, true);
    }

    @BeforeAll
    static void trainResNet() throws Exception {
        resnet = dir.resolve("resnet.zip").toString();
        CliRun r = CliRun.run(train(resnet));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("train: epoch 3/3"), r.err());
        assertTrue(r.err().contains("train: epoch 3 validation accuracy"), r.err());
        assertTrue(r.out().contains("(78426 parameters)"), r.out());
        report = evaluate(resnet, "resnet");
        assertTrue(report.get("accuracy").asDouble() > 0.85, "resnet:1 on the digits after 3 epochs: " + report.get("accuracy"));
        assertTrue(r.out().contains(String.format(java.util.Locale.ROOT, "accuracy %.4f", report.get("accuracy").asDouble())), r.out());
    }

    @Test
    void theZipIsAGraphWithItsMetadataAndTheSameCommandTrainsTheSameWeights() {
        LoadedModel m = load(resnet);
        assertTrue(m.isGraph());
        ComputationGraph g = m.graph();
        assertEquals(List.of("s1b1_conv2_bn", "stem_relu"), g.getConfiguration().getVertexInputs().get("s1b1_add"));
        assertEquals(64, m.meta().numFeatures());
        assertArrayEquals(new int[]{8, 8, 1}, m.meta().inputShape());
        assertEquals("minmax", m.meta().normalizer().kind().name().toLowerCase(java.util.Locale.ROOT));
        String again = dir.resolve("resnet-again.zip").toString();
        assertEquals(0, CliRun.run(train(again)).code());
        assertEquals(g.params(), load(again).graph().params(), "seeded: same command, master and partitioning");
    }

    @Test
    void aDecayedLearningRateReachesTheWorkers() throws Exception {
        // decayed to ~0 after the first epoch, two more epochs on the executors leave the weights where one epoch put them
        String one = dir.resolve("mlp-1.zip").toString(), three = dir.resolve("mlp-3-decayed.zip").toString(), g = dir.resolve("rn-decayed.zip").toString();
        String[] mlp = {"train", "--data", TRAIN, "--arch", "mlp:32", "--lr", "0.01", "--seed", "9"};
        assertEquals(0, CliRun.run(CliRun.with(mlp, "--epochs", "1", "--out", one)).code());
        assertEquals(0, CliRun.run(CliRun.with(mlp, "--epochs", "3", "--lr-decay", "0.000001", "--out", three)).code());
        var a = ModelIO.loadFile(new Storage(new Configuration()), new org.apache.hadoop.fs.Path(one)).net().params();
        var b = ModelIO.loadFile(new Storage(new Configuration()), new org.apache.hadoop.fs.Path(three)).net().params();
        assertEquals(0, a.sub(b).amaxNumber().doubleValue(), 1e-6);
        CliRun plain = CliRun.run(CliRun.with(mlp, "--epochs", "3", "--out", dir.resolve("mlp-3.zip").toString()));
        assertEquals(0, plain.code());
        var c = ModelIO.loadFile(new Storage(new Configuration()), new org.apache.hadoop.fs.Path(dir.resolve("mlp-3.zip").toString())).net().params();
        assertTrue(a.sub(c).amaxNumber().doubleValue() > 1e-2, "without the decay the next epochs move the weights");
        // a graph too: the saved graph's learning rate is its last epoch's, 0.003 * 0.5^2
        CliRun r = CliRun.run("train", "--data", TRAIN, "--arch", "resnet:1", "--epochs", "3", "--lr", "0.003", "--lr-decay", "0.5", "--out", g);
        assertEquals(0, r.code(), r.err());
        var updater = (org.nd4j.linalg.learning.config.Adam) ((org.deeplearning4j.nn.conf.layers.BaseLayer) load(g).graph().getLayer("stem").conf().getLayer()).getIUpdater();
        assertEquals(0.003 * 0.25, updater.getLearningRate(), 1e-12);
    }

    @Test
    void inspectListsTheLayersWithTheirInputsAndTheMerges() throws Exception {
        CliRun r = CliRun.run("inspect", "--model", resnet, "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode doc = QuantizeCliTest.M.readTree(r.out());
        assertEquals(27, doc.get("layers").size());
        assertEquals("s2b1_proj", doc.get("layers").get(14).get("name").asText());
        assertEquals("[\"s1b1_relu\"]", doc.get("layers").get(14).get("inputs").toString());
        assertEquals(3, doc.get("merges").size());
        assertEquals("ElementWiseVertex Add", doc.get("merges").get(1).get("type").asText());
        assertEquals("[\"s2b1_conv2_bn\",\"s2b1_proj_bn\"]", doc.get("merges").get(1).get("inputs").toString());
        assertEquals(78426, doc.get("layers").findValues("params").stream().mapToLong(JsonNode::asLong).sum());
        assertEquals(763_520, doc.get("multiply_adds").asLong(), "each convolution's filter at each output position (8x8, 4x4, 2x2), the output layer");
    }

    @Test
    void evaluationOnTheExecutorsEqualsTheInProcessOneAndPredictGivesTheSameClasses() throws Exception {
        JsonNode local = evaluate(resnet, "resnet-local", "--local");
        assertEquals(report.get("accuracy").asDouble(), local.get("accuracy").asDouble(), 0.0);
        assertEquals(report.get("loss").asDouble(), local.get("loss").asDouble(), 1e-6);
        assertEquals(359, report.get("rows").asLong());
        // predict: ONNX Runtime on the graph's export by default, DL4J on request; the same classes, evaluate's accuracy
        long[] right = new long[2];
        int[][] classes = new int[2][];
        String[] runtimes = {"auto", "dl4j"};
        for (int k = 0; k < 2; k++) {
            String where = dir.resolve("predictions-" + runtimes[k]).toString();
            CliRun r = CliRun.run("predict", "--model", resnet, "--data", TEST, "--runtime", runtimes[k], "--out", "parquet:" + where);
            assertEquals(0, r.code(), r.err());
            List<Row> rows = io.squeeze.TestSpark.get().read().parquet(where).collectAsList().stream()
                    .sorted(Comparator.comparingLong(x -> x.getLong(0))).toList();
            assertEquals(359, rows.size());
            right[k] = rows.stream().filter(x -> x.getInt(1) == x.getInt(2)).count();
            classes[k] = rows.stream().mapToInt(x -> x.getInt(2)).toArray();
        }
        assertArrayEquals(classes[1], classes[0], "ONNX Runtime and DL4J");
        assertEquals(report.get("accuracy").asDouble(), right[0] / 359.0, 1e-12);
    }

    @Test
    void staticInt8RunsTheMergesInIntegersAndTheZipEvaluatesAndPredictsQuantized() throws Exception {
        String q = dir.resolve("resnet-int8.zip").toString(), local = dir.resolve("resnet-int8-local.zip").toString();
        CliRun r = CliRun.run("quantize", "--model", resnet, "--mode", "static", "--calib-data", TRAIN, "--calib-rows", "400", "--eval-data", TEST, "--out", q);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("s2b1_conv2_bn into s2b1_conv2") && r.err().contains(" folded\n"), r.err());
        assertTrue(r.err().contains("quantize: [s2b1_relu] fused into 's2b1_add'"), r.err());
        assertTrue(r.out().contains("s2b1_add           {op=add, folded=[s2b1_relu], output_qparams={observed_min=0.0"), r.out());
        assertTrue(r.out().contains("folded=[s2b1_conv2_bn], output_qparams="), r.out());
        assertTrue(r.out().contains("calibrated on 400 rows"), r.out());
        JsonNode e = evaluate(q, "resnet-int8", "--local");
        assertEquals("integer", e.get("accuracy_path").asText());
        assertEquals(report.get("accuracy").asDouble(), e.get("accuracy").asDouble(), 0.02, "int8 within 2 points of float on 359 digits");
        assertTrue(e.get("integer_fake_quant_agreement").asDouble() > 0.98, e.toString());
        assertEquals("int8 symmetric per-channel", e.get("quantization").get("layers").get("s2b1_conv1").asText(), "a graph's layers by vertex name");
        assertTrue(r.out().contains(String.format(java.util.Locale.ROOT, "accuracy %.4f integer path", e.get("accuracy").asDouble())), r.out());
        // calibrated in this process: the same plan and integer weights as on the executors
        assertEquals(0, CliRun.run("quantize", "--model", resnet, "--mode", "static", "--calib-data", TRAIN, "--calib-rows", "400", "--local", "--out", local).code());
        Storage st = new Storage(new Configuration());
        var a = io.squeeze.artifact.QuantizedGraphZip.read(st, new org.apache.hadoop.fs.Path(q)).quant();
        var b = io.squeeze.artifact.QuantizedGraphZip.read(st, new org.apache.hadoop.fs.Path(local)).quant();
        io.squeeze.quantize.GraphQuantTest.assertSameQuantization(a, b);
        // predict: ONNX Runtime on its QDQ export by default, Squeeze's integer runtime on request (evaluate's accuracy
        // exactly); the two agree but for ONNX Runtime's own requantization rounding; DL4J cannot run it
        int[][] classes = new int[2][];
        String[] runtimes = {"auto", "integer"};
        for (int k = 0; k < 2; k++) {
            String where = dir.resolve("predictions-int8-" + runtimes[k]).toString();
            CliRun p = CliRun.run("predict", "--model", q, "--data", TEST, "--runtime", runtimes[k], "--out", "parquet:" + where);
            assertEquals(0, p.code(), p.err());
            assertTrue(p.out().contains(k == 0 ? "(onnx runtime, 10 classes)" : "(integer runtime, 10 classes)"), p.out());
            List<Row> rows = io.squeeze.TestSpark.get().read().parquet(where).collectAsList().stream().sorted(Comparator.comparingLong(x -> x.getLong(0))).toList();
            classes[k] = rows.stream().mapToInt(x -> x.getInt(2)).toArray();
            if (k == 1) assertEquals(e.get("accuracy").asDouble(), rows.stream().filter(x -> x.getInt(1) == x.getInt(2)).count() / 359.0, 1e-12);
        }
        int same = 0;
        for (int i = 0; i < 359; i++) if (classes[0][i] == classes[1][i]) same++;
        assertTrue(same >= 355, "ONNX Runtime and the integer runtime agree on " + same + " of 359");
        CliRun dl4j = CliRun.run("predict", "--model", q, "--data", TEST, "--runtime", "dl4j", "--out", "parquet:" + dir.resolve("predictions-int8-dl4j"));
        assertEquals(2, dl4j.code());
        assertTrue(dl4j.err().contains("a quantized graph (it runs in onnx or integer)"), dl4j.err());
        CliRun prune = CliRun.run("prune", "--model", q, "--method", "ln", "--amount", "0.5", "--shrink", "--out", dir.resolve("x.zip").toString());
        assertEquals(2, prune.code());
        assertTrue(prune.err().contains("prune takes a float model; file:" + q + " is quantized (static)"), prune.err());
        CliRun onnx = CliRun.run("export", "--model", q, "--format", "onnx", "--out", dir.resolve("int8.onnx").toString());
        assertEquals(0, onnx.code(), onnx.err());
        assertTrue(onnx.out().contains("static QDQ graph"), onnx.out());
        CliRun zip = CliRun.run("export", "--model", q, "--format", "dl4j", "--out", dir.resolve("int8-dl4j.zip").toString());
        assertEquals(2, zip.code());
        assertFalse(Files.exists(dir.resolve("int8-dl4j.zip")));
        // the same command writing an artifact directory: the integers stored as integers, the same integer path
        String art = dir.resolve("resnet-int8-artifact").toString();
        CliRun ra = CliRun.run("quantize", "--model", resnet, "--mode", "static", "--calib-data", TRAIN, "--calib-rows", "400", "--eval-data", TEST,
                "--with-dl4j-zip", "--out", art);
        assertEquals(0, ra.code(), ra.err());
        long artBytes = st.totalBytes(st.path(art)) - Files.size(Path.of(art, "model.zip")), zipBytes = Files.size(Path.of(q));
        assertTrue(artBytes * 3 < zipBytes, "artifact " + artBytes + " bytes without its model.zip, zip " + zipBytes);
        assertTrue(ra.out().contains("artifact ") && ra.out().contains("smaller than"), ra.out());
        var fromArt = io.squeeze.artifact.Artifact.load(st, art);
        io.squeeze.quantize.GraphQuantTest.assertSameQuantization(a, fromArt.quant());
        assertEquals(3, fromArt.manifest().formatVersion());
        assertEquals("quantize:int8", fromArt.manifest().layers().stream().filter(l -> l.name().equals("s2b1_conv1")).findFirst().orElseThrow().method());
        JsonNode ea = evaluate(art, "resnet-int8-artifact", "--local");
        assertEquals(e.get("accuracy").asDouble(), ea.get("accuracy").asDouble(), 1e-12, "the artifact's integer path is the zip's");
        assertEquals("integer", ea.get("accuracy_path").asText());
        // its model.zip: the folded graph with the weights it computes with (dequantized), readable by DL4J alone
        var plain = ModelIO.loadFile(st, new org.apache.hadoop.fs.Path(art, "model.zip"), true);
        assertEquals(fromArt.model().graph().params(), plain.graph().params());
        String exported = dir.resolve("int8-artifact-dl4j.zip").toString(); // the artifact's graph as DL4J computes it: its model.zip
        assertEquals(0, CliRun.run("export", "--model", art, "--format", "dl4j", "--out", exported).code());
        assertEquals(plain.graph().params(), ModelIO.loadFile(st, new org.apache.hadoop.fs.Path(exported), true).graph().params());
        CliRun ia = CliRun.run("inspect", "--model", art);
        assertEquals(0, ia.code(), ia.err());
        assertTrue(java.util.regex.Pattern.compile("s3b1_conv2 .* quantize:int8 +int8 (huffman|deflate) +s3b1_relu1").matcher(ia.out()).find(),
                "each vertex's method and storage, then its inputs: " + ia.out());
        // GPTQ rounding (int4) from the Gram matrices gathered in the calibration pass on the executors
        String gq = dir.resolve("resnet-int4-gptq.zip").toString();
        CliRun gp = CliRun.run("quantize", "--model", resnet, "--bits", "4", "--rounding", "gptq", "--calib-data", TRAIN, "--calib-rows", "300",
                "--eval-data", TEST, "--out", gq);
        assertEquals(0, gp.code(), gp.err());
        assertTrue(gp.err().contains("quantize: GPTQ rounding of 10 nodes"), gp.err());
        CliRun inspect = CliRun.run("inspect", "--model", q);
        assertEquals(0, inspect.code(), inspect.err());
        assertTrue(inspect.out().contains("quantized static (minmax): evaluate and predict run these nodes"), inspect.out());
        assertTrue(java.util.regex.Pattern.compile("node \\d+ +s2b1_add +add +- +output scale [0-9.e-]+ zero point 0 folded \\[s2b1_relu\\]")
                .matcher(inspect.out()).find(), inspect.out());
    }

    @Test
    void qatFoldsTheBatchNormalizationsTrainsTheGraphFakeQuantizedAndWritesItsIntegerForm() throws Exception {
        String q = dir.resolve("resnet-qat.zip").toString();
        CliRun r = CliRun.run("quantize", "--model", resnet, "--mode", "qat", "--data", TRAIN, "--epochs", "2", "--lr", "0.001", "--calib-data", TRAIN,
                "--calib-rows", "400", "--eval-data", TEST, "--out", q);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("quantize: stem_bn into stem, ") && r.err().contains("s3b1_conv2_bn into s3b1_conv2 folded before QAT"), r.err());
        assertTrue(r.err().contains("QAT for 2 epochs") && r.err().contains("epoch 2/2"), r.err());
        double source = report.get("accuracy").asDouble();
        for (int e = 1; e <= 2; e++) { // each epoch's fake-quantized graph validated on the evaluation data
            var v = java.util.regex.Pattern.compile("train: epoch " + e + " validation accuracy ([0-9.]+) ").matcher(r.err());
            assertTrue(v.find(), r.err());
            assertEquals(source, Double.parseDouble(v.group(1)), 0.05, "epoch " + e);
        }
        assertTrue(r.out().contains("s2b1_conv2         {op=conv, precision=int8, granularity=channel"), r.out());
        assertTrue(r.out().contains("folded=[s2b1_conv2_bn], output_qparams="), r.out());
        assertTrue(r.out().contains("folded=[s2b1_conv1_bn, s2b1_relu1], output_qparams="), "folded before QAT, then fused: " + r.out());
        JsonNode e = evaluate(q, "resnet-qat", "--local");
        assertEquals("integer", e.get("accuracy_path").asText());
        assertEquals(source, e.get("accuracy").asDouble(), 0.03, "QAT int8 within 3 points of float on 359 digits");
        assertTrue(r.out().contains(String.format(java.util.Locale.ROOT, "accuracy %.4f integer path", e.get("accuracy").asDouble())), r.out());
        // the zip holds the trained graph, folded and plain (no fake quantization), and its quantized form
        Storage st = new Storage(new Configuration());
        var loaded = io.squeeze.artifact.QuantizedGraphZip.read(st, new org.apache.hadoop.fs.Path(q));
        ComputationGraph trained = loaded.model().graph();
        assertFalse(trained.getConfiguration().toJson().contains("FakeQuant"));
        assertFalse(trained.getConfiguration().getVertices().containsKey("stem_bn"));
        ComputationGraph folded = io.squeeze.model.GraphBatchNormFold.fold(load(resnet).graph()).graph();
        assertEquals(folded.numParams(), trained.numParams());
        assertNotEquals(0.0, folded.params().sub(trained.params()).norm2Number().doubleValue(), "training moved the weights");
        // its quantized form is the trained graph's own: re-quantizing the stored float weights gives the stored integers
        var again = io.squeeze.quantize.QuantizedModel.quantizeWeights(io.squeeze.model.GraphOps.of(trained, "test"),
                io.squeeze.quantize.GraphQuantTest.config(io.squeeze.quantize.QuantConfig.Mode.QAT, io.squeeze.quantize.QuantConfig.Precision.INT8));
        assertEquals(loaded.quant().weights().keySet(), again.weights().keySet());
        loaded.quant().weights().forEach((node, t) -> assertArrayEquals(t.values(), again.weights().get(node).values(), "node " + node));
        // --local: calibrated and trained in this process (one DL4J fit over the streamed minibatches), the same outcome within tolerance
        String ql = dir.resolve("resnet-qat-local.zip").toString();
        CliRun lr = CliRun.run("quantize", "--model", resnet, "--mode", "qat", "--data", TRAIN, "--epochs", "1", "--lr", "0.001", "--calib-data", TRAIN,
                "--calib-rows", "400", "--local", "--out", ql);
        assertEquals(0, lr.code(), lr.err());
        assertEquals(e.get("accuracy").asDouble(), evaluate(ql, "resnet-qat-local", "--local").get("accuracy").asDouble(), 0.05, "--local vs executors");
    }

    @Test
    void weightsExportWritesAGraphsLayersAndAQuantizedGraphsFoldedNodes() throws Exception {
        String npy = dir.resolve("resnet-weights").toString();
        assertEquals(0, CliRun.run("weights", "export", "--model", resnet, "--out", npy).code());
        JsonNode index = QuantizeCliTest.M.readTree(Files.readAllBytes(Path.of(npy, "index.json")));
        ComputationGraph g = load(resnet).graph();
        assertEquals(g.paramTable().size(), index.size(), "every parameter of every layer");
        JsonNode proj = null;
        for (JsonNode e : index) if (e.get("name").asText().equals("s2b1_proj") && e.get("param").asText().equals("W")) proj = e;
        assertNotNull(proj);
        assertEquals(List.of("s1b1_relu"), List.of(proj.get("inputs").get(0).asText()));
        assertArrayEquals(g.getLayer("s2b1_proj").getParam("W").dup('c').data().asFloat(),
                CodebookCliTest.npyFloats(Files.readAllBytes(Path.of(npy, proj.get("file").asText()))), 0f);
        // a quantized graph: each node's folded int8 weights with their scales, its folded float bias, its output qparams
        String q = dir.resolve("resnet-int8-w.zip").toString(), qnpy = dir.resolve("resnet-int8-weights").toString();
        assertEquals(0, CliRun.run("quantize", "--model", resnet, "--calib-data", TRAIN, "--calib-rows", "100", "--local", "--out", q).code());
        assertEquals(0, CliRun.run("weights", "export", "--model", q, "--out", qnpy).code());
        JsonNode qi = QuantizeCliTest.M.readTree(Files.readAllBytes(Path.of(qnpy, "index.json")));
        var qm = io.squeeze.artifact.QuantizedGraphZip.read(new Storage(new Configuration()), new org.apache.hadoop.fs.Path(q)).quant();
        assertEquals(2 * qm.weights().size(), qi.size(), "W and b of every weighted node");
        JsonNode stemW = qi.get(0), stemB = qi.get(1);
        assertEquals("stem", stemW.get("name").asText());
        assertEquals("[\"stem_relu\"]", stemW.get("folded").toString(), "stem_bn was folded into the graph's stem before quantizing: only the ReLU is fused");
        assertEquals("int8", stemW.get("dtype").asText());
        byte[] ints = CodebookCliTest.npyBody(Files.readAllBytes(Path.of(qnpy, stemW.get("file").asText())));
        short[] want = qm.weights().get(stemW.get("node").asInt()).values();
        for (int i = 0; i < want.length; i++) assertEquals(want[i], ints[i], "stem weight " + i);
        var stemOp = (io.squeeze.model.NetOps.Conv) qm.ops().get(stemW.get("node").asInt());
        assertArrayEquals(stemOp.b(), CodebookCliTest.npyFloats(Files.readAllBytes(Path.of(qnpy, stemB.get("file").asText()))), 0f, "the folded bias");
        assertEquals(qm.plan().activations().get(stemW.get("node").asInt()).scale(), stemW.get("output_qparams").get("scale").floatValue(), 0f);
    }

    @Test
    void channelGroupsArePrunedShrunkAndFineTunedIntoASmallerGraph() throws Exception {
        String shrunk = dir.resolve("shrunk.zip").toString(), tuned = dir.resolve("shrunk-tuned.zip").toString();
        CliRun r = CliRun.run("prune", "--model", resnet, "--method", "ln", "--norm", "2", "--amount", "0.5", "--shrink", "--out", shrunk);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("prune: group stem+s1b1_conv2: channels 16 -> 8"), r.err());
        assertTrue(r.err().contains("prune: group s3b1_proj+s3b1_conv2: channels 64 -> 32"), r.err());
        assertTrue(r.out().contains("(20146 parameters, 25.7% of 78426)"), r.out());
        assertTrue(r.err().contains("prune: 78,426 -> 20,146 parameters, 763,520 -> 193,344 multiply-adds a row (3.95x fewer)"), r.err());
        // what the shrunk zip computes is the masked twin of the source: same groups, same channels zeroed
        LoadedModel src = load(resnet), out = load(shrunk);
        ComputationGraph twin = src.graph().clone();
        var groups = io.squeeze.prune.ChannelGroups.of(twin, "resnet");
        io.squeeze.prune.GroupPruning.zero(twin, groups, io.squeeze.prune.GroupPruning.choose(twin, groups, io.squeeze.prune.Amount.fraction(0.5),
                io.squeeze.prune.PruneMethod.Norm.L2));
        var x = org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 6, 64);
        assertArrayEquals(twin.outputSingle(false, x).data().asFloat(), out.graph().outputSingle(false, x).data().asFloat(), 1e-5f);
        assertEquals(src.meta().normalizer(), out.meta().normalizer());

        CliRun t = CliRun.run("prune", "--model", resnet, "--method", "ln", "--norm", "2", "--amount", "0.5", "--shrink", "--fine-tune-data", TRAIN,
                "--fine-tune-epochs", "3", "--eval-data", TEST, "--out", tuned);
        assertEquals(0, t.code(), t.err());
        assertTrue(t.err().contains("train: epoch 3 validation accuracy"), t.err());
        double before = evaluate(shrunk, "shrunk").get("accuracy").asDouble(), after = evaluate(tuned, "shrunk-tuned").get("accuracy").asDouble();
        assertTrue(after > before && after > 0.8, "fine-tuning the shrunk graph: " + before + " -> " + after);
        assertEquals(20146, load(tuned).graph().numParams());
    }

    /** Entries equal to 0.0f of every weight tensor, by vertex name. */
    public static java.util.Map<String, boolean[]> zeros(ComputationGraph g) {
        java.util.Map<String, boolean[]> out = new java.util.TreeMap<>();
        var names = io.squeeze.model.GraphMasks.names(g);
        for (int i = 0; i < g.getLayers().length; i++) {
            if (!g.getLayers()[i].paramTable().containsKey("W")) continue;
            float[] w = io.squeeze.model.GraphMasks.values(g, i, "W");
            boolean[] z = new boolean[w.length];
            for (int k = 0; k < w.length; k++) z[k] = w[k] == 0f;
            out.put(names.get(i), z);
        }
        return out;
    }

    public static int count(boolean[] b) {
        int n = 0;
        for (boolean x : b) if (x) n++;
        return n;
    }

    @Test
    void weightsArePrunedByMagnitudeOnTheExecutorsAndStayZeroThroughFineTuning() throws Exception {
        String l1 = dir.resolve("l1.zip").toString(), l1Local = dir.resolve("l1-local.zip").toString(), again = dir.resolve("l1-again").toString(),
                tuned = dir.resolve("l1-tuned").toString(), one = dir.resolve("l1-one.zip").toString();
        CliRun r = CliRun.run("prune", "--model", resnet, "--method", "l1", "--amount", "0.5", "--out", l1);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("prune: s3b1_conv2 W: 18,432 of 36,864 pruned (50.0%; 18,432 now)"), r.err());
        assertTrue(r.out().contains("(38,536 of the chosen 77,072 weights pruned, 50.0%)"), r.out());
        assertEquals(0, CliRun.run("prune", "--model", resnet, "--method", "l1", "--amount", "0.5", "--local", "--out", l1Local).code());
        ComputationGraph src = load(resnet).graph(), pruned = load(l1).graph();
        assertEquals(pruned.params(), load(l1Local).graph().params(), "masks on the executors = masks in this process");
        // in every weight tensor, the smaller half by magnitude is zero and the rest is the source's
        for (int i = 0; i < src.getLayers().length; i++) {
            if (!src.getLayers()[i].paramTable().containsKey("W")) continue;
            float[] w = io.squeeze.model.GraphMasks.values(src, i, "W"), p = io.squeeze.model.GraphMasks.values(pruned, i, "W");
            float maxPruned = 0, minKept = Float.MAX_VALUE;
            int zeroed = 0;
            for (int k = 0; k < w.length; k++) {
                if (p[k] == 0f) {
                    zeroed++;
                    maxPruned = Math.max(maxPruned, Math.abs(w[k]));
                } else {
                    assertEquals(w[k], p[k]);
                    minKept = Math.min(minKept, Math.abs(w[k]));
                }
            }
            assertEquals(Math.round(w.length * 0.5), zeroed, "layer " + i);
            assertTrue(maxPruned <= minKept, "layer " + i + ": pruned up to " + maxPruned + ", kept from " + minKept);
        }
        assertEquals(src.getLayer("stem_bn").params(), pruned.getLayer("stem_bn").params(), "batch normalization has no weights to prune");

        // pruned again: half of the remaining half (the zeros count as pruned)
        CliRun a = CliRun.run("prune", "--model", l1, "--method", "l1", "--amount", "0.5", "--out", again);
        assertEquals(0, a.code(), a.err());
        assertTrue(a.err().contains("prune: s3b1_conv2 W: 27,648 of 36,864 pruned (75.0%; 9,216 now)"), a.err());
        java.util.Map<String, boolean[]> z1 = zeros(pruned), z2 = zeros(load(again).graph());
        z1.forEach((name, z) -> {
            for (int k = 0; k < z.length; k++) if (z[k]) assertTrue(z2.get(name)[k], name + " entry " + k + " stays pruned");
        });
        // written as an artifact directory: pruned tensors stored sparse, their masks restored, notes by vertex
        var art = io.squeeze.artifact.Artifact.load(new Storage(new Configuration()), again);
        int s3 = io.squeeze.model.GraphMasks.names(art.model().graph()).indexOf("s3b1_conv2");
        assertEquals(27648, art.model().masks().get(new io.squeeze.core.TensorKey(s3, "W")).prunedCount());
        assertEquals("fp32, sparse", art.storage().get(s3));
        var rec = art.manifest().layers().get(s3);
        assertEquals("s3b1_conv2", rec.name());
        assertEquals("prune:l1", rec.method());
        assertTrue(rec.bytesAfter() < rec.bytesBefore() * 0.4, rec.toString());
        assertTrue(art.manifest().command().containsAll(List.of("prune", "--model", l1, "--out", again)), art.manifest().command().toString());

        // fine-tuned with the masks enforced on the executors: the same zeros, the rest trained
        CliRun t = CliRun.run("prune", "--model", resnet, "--method", "l1", "--amount", "0.5", "--fine-tune-data", TRAIN, "--fine-tune-epochs", "2",
                "--fine-tune-lr", "0.001", "--eval-data", TEST, "--out", tuned);
        assertEquals(0, t.code(), t.err());
        assertTrue(t.err().contains("with the masks enforced"), t.err());
        ComputationGraph ft = load(tuned).graph();
        java.util.Map<String, boolean[]> zt = zeros(ft);
        z1.forEach((name, z) -> assertArrayEquals(z, zt.get(name), name + ": exactly the pruned entries are zero after fine-tuning"));
        assertNotEquals(pruned.getLayer("s3b1_conv2").getParam("W"), ft.getLayer("s3b1_conv2").getParam("W"), "the kept weights trained");
        assertFalse(ft.getConfiguration().toJson().contains("MaskConstraint"), "the zip is a plain DL4J graph: no Squeeze constraint in it");
        assertTrue(evaluate(tuned, "l1-tuned").get("accuracy").asDouble() > 0.8, "half the weights pruned and fine-tuned");

        // one layer by vertex name, at its own amount
        CliRun o = CliRun.run("prune", "--model", resnet, "--method", "l1", "--amount", "s3b1_conv2:0.8", "--out", one);
        assertEquals(0, o.code(), o.err());
        java.util.Map<String, boolean[]> zo = zeros(load(one).graph());
        assertEquals(Math.round(36864 * 0.8), count(zo.get("s3b1_conv2")));
        zo.forEach((name, z) -> {
            if (!name.equals("s3b1_conv2")) assertEquals(0, count(z), name + " untouched");
        });
    }

    @Test
    void itTeachesOnlineAndLearnsFromItsStudent() throws Exception {
        String student = dir.resolve("online-student").toString();
        CliRun d = CliRun.run("distill", "--teacher", resnet, "--online", "--data", TRAIN, "--student", "mlp:64", "--temperature", "4", "--alpha", "0.3",
                "--epochs", "3", "--lr", "0.003", "--normalize", "minmax", "--eval-data", TEST, "--out", student);
        assertEquals(0, d.code(), d.err());
        assertTrue(d.err().contains("distill: online epoch 3/3: teacher learns from the student"), d.err());
        JsonNode metrics = QuantizeCliTest.M.readTree(Files.readAllBytes(Path.of(student, "manifest.json"))).get("metrics");
        // 3 epochs on the digits: 80.2 % of the 359 test rows with DL4J's Adam op, 79.9 % (one row fewer, loss 1.1313
        // against 1.1317) with Squeeze's Adam kernel, the same update to float rounding; chance is 10 %
        assertTrue(metrics.get("accuracy").asDouble() > 0.78, metrics.toString());
        assertEquals(report.get("accuracy").asDouble(), metrics.get("baseline").get("accuracy").asDouble(), 0.0, "the teacher as it was, evaluated beside it");
        CliRun save = CliRun.run("distill", "--teacher", resnet, "--online", "--data", TRAIN, "--student", "mlp:64", "--epochs", "1",
                "--save-teacher", dir.resolve("never-teacher").toString(), "--out", dir.resolve("never-student").toString());
        assertEquals(2, save.code());
        assertTrue(save.err().contains("--save-teacher writes the updated teacher as an artifact of a layer stack; teacher"), save.err());
        assertFalse(Files.exists(dir.resolve("never-student")));
    }

    @Test
    void aGraphStudentLearnsOnlineFromAGraphOrAStackTeacherThatLearnsFromIt() throws Exception {
        // a graph teacher (the ResNet) and a graph student: both train, an epoch each in turn
        String student = dir.resolve("online-graph-student.zip").toString();
        CliRun d = CliRun.run("distill", "--teacher", resnet, "--online", "--data", TRAIN, "--student", "resnet:1", "--temperature", "4",
                "--alpha", "0.3", "--epochs", "2", "--lr", "0.003", "--normalize", "minmax", "--eval-data", TEST, "--out", student);
        assertEquals(0, d.code(), d.err());
        assertTrue(d.err().contains("distill: online with teacher") && d.err().contains("a graph student"), d.err());
        assertTrue(d.err().contains("distill: online epoch 2/2: teacher learns from the student"), d.err());
        double acc = evaluate(student, "online-graph-student").get("accuracy").asDouble();
        assertTrue(acc > 0.8, "resnet:1 taught online for 2 epochs: " + acc);
        assertTrue(d.out().contains(String.format(java.util.Locale.ROOT, "student accuracy %.4f", acc)), d.out());
        // a layer-stack teacher trains too, and --save-teacher writes it
        String mlp = dir.resolve("online-mlp-teacher").toString(), saved = dir.resolve("online-mlp-teacher-after").toString();
        assertEquals(0, CliRun.run("train", "--data", TRAIN, "--arch", "mlp:32", "--epochs", "2", "--normalize", "minmax", "--out", mlp).code());
        CliRun e = CliRun.run("distill", "--teacher", mlp, "--online", "--data", TRAIN, "--student", "resnet:1", "--epochs", "1", "--lr", "0.003",
                "--normalize", "minmax", "--save-teacher", saved, "--out", dir.resolve("online-graph-student2.zip").toString());
        assertEquals(0, e.code(), e.err());
        var before = PruneCliTest.load(mlp).model().net().params();
        var after = PruneCliTest.load(saved).model().net().params();
        assertTrue(after.sub(before).amaxNumber().doubleValue() > 1e-4, "the teacher learned from the graph student");
        // offline students take no --save-teacher: refused before any Spark work, nothing written
        CliRun bad = CliRun.run("distill", "--soft-targets", dir.resolve("nowhere").toString(), "--data", TRAIN, "--student", "resnet:1",
                "--save-teacher", dir.resolve("never-teacher2").toString(), "--out", dir.resolve("never.zip").toString());
        assertEquals(2, bad.code());
        assertTrue(bad.err().contains("--save-teacher applies to --online"), bad.err());
        assertFalse(Files.exists(dir.resolve("never.zip")));
    }

    @Test
    void itsSensitivityIsMeasuredVertexByVertexOnExecutorsAsInProcess() throws Exception {
        String a = dir.resolve("sensitivity.json").toString(), b = dir.resolve("sensitivity-local.json").toString();
        String[] cmd = {"sensitivity", "--model", resnet, "--data", TEST, "--technique", "prune", "--levels", "0.5,0.95"};
        CliRun r = CliRun.run(CliRun.with(cmd, "--out", a));
        assertEquals(0, r.code(), r.err());
        assertEquals(0, CliRun.run(CliRun.with(cmd, "--local", "--out", b)).code());
        JsonNode ja = QuantizeCliTest.M.readTree(Files.readAllBytes(Path.of(a))), jb = QuantizeCliTest.M.readTree(Files.readAllBytes(Path.of(b)));
        assertEquals(jb.get("layers"), ja.get("layers"), "the executors' trials equal the in-process ones");
        assertEquals(report.get("accuracy").asDouble(), ja.get("baseline").get("accuracy").asDouble(), 1e-12, "the graph as it is");
        // one curve per weighted vertex (convolutions, the output layer), in inspect's topological order, named by vertex
        ComputationGraph g = load(resnet).graph();
        List<String> weighted = java.util.Arrays.stream(g.getLayers()).filter(l -> l.paramTable().containsKey("W"))
                .map(l -> l.conf().getLayer().getLayerName()).toList();
        List<String> names = new java.util.ArrayList<>();
        ja.get("layers").forEach(l -> names.add(l.get("name").asText()));
        assertEquals(weighted, names);
        boolean hurt = false;
        for (JsonNode l : ja.get("layers")) hurt |= l.get("curve").get(1).get("accuracy").asDouble() < report.get("accuracy").asDouble() - 0.05;
        assertTrue(hurt, "pruning 95 % of some vertex's weights costs accuracy: " + ja.get("layers"));
        assertTrue(Files.exists(dir.resolve("sensitivity.png")));
        // one vertex by name
        String one = dir.resolve("sensitivity-one.json").toString();
        assertEquals(0, CliRun.run(CliRun.with(cmd, "--layers", "s3b1_conv2", "--out", one)).code());
        JsonNode j1 = QuantizeCliTest.M.readTree(Files.readAllBytes(Path.of(one)));
        assertEquals(1, j1.get("layers").size());
        assertEquals(ja.get("layers").get(names.indexOf("s3b1_conv2")), j1.get("layers").get(0));
    }

    @Test
    void itsConvolutionsAreFactorizedToHalfTheWeightsAndFineTuned() throws Exception {
        String f = dir.resolve("factorized.zip").toString();
        CliRun r = CliRun.run("factorize", "--model", resnet, "--params-budget", "0.5", "--fine-tune-data", TRAIN, "--fine-tune-epochs", "3",
                "--eval-data", TEST, "--out", f);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("dense weights 77072 -> "), r.out());
        LoadedModel m = load(f);
        ComputationGraph g = m.graph();
        assertTrue(g.getConfiguration().getVertices().containsKey("s3b1_conv2_a"), "the largest convolution factorized");
        assertEquals(List.of("s3b1_conv2_a"), g.getConfiguration().getVertexInputs().get("s3b1_conv2"));
        long weights = java.util.Arrays.stream(g.getLayers()).mapToLong(l -> l.paramTable().containsKey("W") ? l.getParam("W").length() : 0).sum();
        assertTrue(weights <= 77072 / 2 + 1, "at most half the weights: " + weights);
        double acc = evaluate(f, "factorized").get("accuracy").asDouble();
        assertTrue(acc > 0.8, "factorized and fine-tuned 3 epochs: " + acc);
        assertTrue(r.err().contains("train: epoch 3 validation accuracy"), r.err());
    }

    @Test
    void aRecipeAllocatesPruningAndMixedPrecisionByVertexFromSensitivityAndChainsGraphArtifacts() throws Exception {
        String out = dir.resolve("recipe").toString();
        Path yaml = Files.writeString(dir.resolve("resnet.yaml"), """
                name: digits-resnet
                model: %s
                data: {train: %s, eval: %s}
                accuracy: {metric: accuracy, tolerable_loss: 0.1}
                stages:
                  - prune: {target: 0.6, levels: [0.3, 0.5, 0.7, 0.9], fine-tune-epochs: 1, batch: 32, sync-every: 5}
                  - quantize: {mode: static, choices: [4, 8, fp32], effective_bits: 6}
                """.formatted(resnet, TRAIN, TEST));
        CliRun r = CliRun.run("run", yaml.toString(), "--out", out);
        assertEquals(0, r.code(), r.err());
        Map<?, ?> report = io.squeeze.model.Json.read(Files.readAllBytes(Path.of(out, "report.json")), Map.class);
        List<?> stages = (List<?>) report.get("stages");
        // the allocations reach the commands by vertex name (a graph's commands number nodes, not layers)
        String prune = String.join(" ", (List<String>) ((Map<?, ?>) stages.get(0)).get("command")), quant = String.join(" ", (List<String>) ((Map<?, ?>) stages.get(1)).get("command"));
        assertTrue(prune.contains("--amount stem:") && prune.contains(",s3b1_conv2:"), prune);
        assertTrue(quant.contains("--layer-precision s3b1_conv2="), quant);
        // each stage's artifact holds what was allocated to each vertex
        var pruned = io.squeeze.artifact.Artifact.load(new Storage(new Configuration()), out + "/stages/01-prune");
        var quantized = io.squeeze.artifact.Artifact.load(new Storage(new Configuration()), out + "/stages/02-quantize");
        assertTrue(pruned.model().isGraph() && quantized.model().isGraph() && quantized.quant() != null);
        Map<?, ?> amounts = (Map<?, ?>) ((Map<?, ?>) ((Map<?, ?>) stages.get(0)).get("allocation")).get("levels");
        Map<?, ?> bits = (Map<?, ?>) ((Map<?, ?>) ((Map<?, ?>) stages.get(1)).get("allocation")).get("levels");
        long weights = 0, zero = 0, bitSum = 0;
        var layers = pruned.model().graph().getLayers();
        for (var e : amounts.entrySet()) {
            int i = Integer.parseInt((String) e.getKey());
            var rec = pruned.manifest().layers().get(i);
            assertEquals(e.getValue(), rec.details().getOrDefault("W_amount", "0"), rec.name());
            long n = layers[i].paramTable().get("W").length();
            weights += n;
            zero += pruned.model().masks().containsKey(new io.squeeze.core.TensorKey(i, "W")) ? pruned.model().masks().get(new io.squeeze.core.TensorKey(i, "W")).prunedCount() : 0;
            String b = (String) bits.get(e.getKey());
            String method = quantized.manifest().layers().stream().filter(l -> l.name().equals(rec.name())).findFirst().orElseThrow().method();
            assertEquals(b.equals("fp32") ? "quantize:fp32" : "quantize:int" + b, method, rec.name());
            bitSum += n * (b.equals("fp32") ? 32 : Integer.parseInt(b));
        }
        assertTrue(zero >= Math.round(0.6 * weights), zero + " of " + weights + " weights pruned");
        assertTrue(bitSum <= 6 * weights, "effective bits " + (double) bitSum / weights);
        assertEquals(true, ((Map<?, ?>) report.get("gate")).get("met"), report.get("gate").toString());
        // the page charts the two layer structures: the graph, and the graph with its batch normalizations folded
        String html = Files.readString(Path.of(out, "report.html"));
        assertTrue(html.contains("<h3>01-prune</h3>") && html.contains("<h3>02-quantize</h3>"), html.replaceAll("base64,[^\"]+", ""));
        assertEquals(2, html.split("alt=\"sparsity per layer\"", -1).length - 1, "two layer structures");
    }

    /** Distinct values of every weight tensor, by vertex name. */
    public static java.util.Map<String, Long> distinctWeights(ComputationGraph g) {
        java.util.Map<String, Long> out = new java.util.TreeMap<>();
        var names = io.squeeze.model.GraphMasks.names(g);
        for (int i = 0; i < g.getLayers().length; i++)
            if (g.getLayers()[i].paramTable().containsKey("W")) {
                float[] w = io.squeeze.model.GraphMasks.values(g, i, "W");
                out.put(names.get(i), IntStream.range(0, w.length).mapToObj(k -> w[k]).distinct().count());
            }
        return out;
    }

    @Test
    void itsWeightsAreSharedByKMeansOnTheExecutorsAndFineTunedWithTheClustersHeld() throws Exception {
        String shared = dir.resolve("codebook").toString(), local = dir.resolve("codebook-local").toString(), tuned = dir.resolve("codebook-tuned").toString();
        CliRun r = CliRun.run("quantize", "--model", resnet, "--mode", "codebook", "--bits", "4", "--layer-precision", "output=6", "--out", shared);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("quantize: k-means of 10 layers"), r.err());
        assertEquals(0, CliRun.run("quantize", "--model", resnet, "--mode", "codebook", "--bits", "4", "--layer-precision", "output=6", "--local",
                "--out", local).code());
        Storage st = new Storage(new Configuration());
        var a = io.squeeze.artifact.Artifact.load(st, shared);
        assertEquals(a.model().graph().params(), load(local).graph().params(), "k-means on the executors = in this process");
        java.util.Map<String, Long> distinct = distinctWeights(a.model().graph());
        distinct.forEach((v, n) -> assertTrue(n <= (v.equals("output") ? 64 : 16), v + ": " + n + " values"));
        int s3 = io.squeeze.model.GraphMasks.names(a.model().graph()).indexOf("s3b1_conv2");
        assertEquals("codebook 16 (4 bits), huffman", a.storage().get(s3));
        assertEquals("codebook", a.manifest().layers().get(s3).method());
        long whole = st.totalBytes(st.path(shared)), zip = Files.size(Path.of(resnet));
        assertTrue(whole * 4 < zip, "artifact " + whole + " bytes, float zip " + zip); // (biases and batch normalizations stay fp32)
        // fine-tuned on the executors with each cluster's weights trained by their summed gradient, and pruned weights kept
        String pruned = dir.resolve("codebook-pruned-source").toString();
        assertEquals(0, CliRun.run("prune", "--model", resnet, "--method", "l1", "--amount", "0.5", "--out", pruned).code());
        CliRun t = CliRun.run("quantize", "--model", pruned, "--mode", "codebook", "--bits", "4", "--data", TRAIN, "--epochs", "2", "--lr", "0.001",
                "--eval-data", TEST, "--out", tuned);
        assertEquals(0, t.code(), t.err());
        assertTrue(t.err().contains("codebook fine-tuning 2 epochs") && t.err().contains("clusters and masks fixed"), t.err());
        var ft = io.squeeze.artifact.Artifact.load(st, tuned);
        distinctWeights(ft.model().graph()).forEach((v, n) -> assertTrue(n <= 16, v + ": " + n + " values after fine-tuning"));
        java.util.Map<String, boolean[]> before = zeros(load(pruned).graph()), after = zeros(ft.model().graph());
        before.forEach((v, z) -> {
            for (int k = 0; k < z.length; k++) if (z[k]) assertTrue(after.get(v)[k], v + " entry " + k + " stays pruned");
        });
        assertTrue(ft.storage().get(s3).matches("codebook 1[0-6] \\(4 bits\\), huffman, sparse"), ft.storage().get(s3));
        assertNotEquals(a.model().graph().getLayer("s3b1_conv2").getParam("W"), ft.model().graph().getLayer("s3b1_conv2").getParam("W"));
        double acc = evaluate(tuned, "codebook-tuned").get("accuracy").asDouble();
        assertEquals(report.get("accuracy").asDouble(), acc, 0.05, "4-bit shared weights of half the network, fine-tuned");
        assertTrue(t.out().contains(String.format(java.util.Locale.ROOT, "accuracy %.4f", acc)), t.out());
    }

    @Test
    void itsSoftTargetsTeachAnMlpStudentEvaluatedAgainstIt() throws Exception {
        String soft = dir.resolve("soft").toString(), student = dir.resolve("student").toString();
        CliRun s = CliRun.run("soft-targets", "--teacher", resnet, "--data", TRAIN, "--out", soft);
        assertEquals(0, s.code(), s.err());
        CliRun d = CliRun.run("distill", "--soft-targets", soft, "--data", TRAIN, "--student", "mlp:64", "--temperature", "4", "--alpha", "0.3",
                "--epochs", "10", "--lr", "0.003", "--normalize", "minmax", "--eval-data", TEST, "--out", student);
        assertEquals(0, d.code(), d.err());
        JsonNode metrics = QuantizeCliTest.M.readTree(Files.readAllBytes(Path.of(student, "manifest.json"))).get("metrics");
        assertTrue(metrics.get("accuracy").asDouble() > 0.85, metrics.toString());
        assertEquals(report.get("accuracy").asDouble(), metrics.get("baseline").get("accuracy").asDouble(), 0.0, "the teacher, evaluated beside it");
        // FitNets hints from a named vertex of the graph teacher: its pooled features (64 wide) guide the MLP's hidden layer
        String hinted = dir.resolve("student-hint").toString();
        CliRun h = CliRun.run("distill", "--soft-targets", soft, "--data", TRAIN, "--student", "mlp:32", "--temperature", "4", "--alpha", "0.3",
                "--epochs", "10", "--lr", "0.003", "--normalize", "minmax", "--hint", "pool:0", "--eval-data", TEST, "--out", hinted);
        assertEquals(0, h.code(), h.err());
        assertTrue(h.err().contains("distill: hint from teacher vertex 'pool' (64 wide) to student layer 0 (32 wide, through a learned projection)"), h.err());
        JsonNode hm = QuantizeCliTest.M.readTree(Files.readAllBytes(Path.of(hinted, "manifest.json"))).get("metrics");
        // the floor asserts learning, not a figure (0.8496 in a run whose hint projection DL4J drew from the clock, since seeded)
        assertTrue(hm.get("accuracy").asDouble() > 0.8, hm.toString());
        CliRun byIndex = CliRun.run("distill", "--soft-targets", soft, "--data", TRAIN, "--student", "mlp:32", "--hint", "1:0", "--epochs", "1",
                "--out", dir.resolve("never").toString());
        assertEquals(2, byIndex.code());
        assertTrue(byIndex.err().contains("is a graph; name its vertex (e.g. pool:0), got layer 1"), byIndex.err());
        CliRun noVertex = CliRun.run("distill", "--soft-targets", soft, "--data", TRAIN, "--student", "mlp:32", "--hint", "nosuch:0", "--epochs", "1",
                "--out", dir.resolve("never").toString());
        assertEquals(2, noVertex.code());
        assertTrue(noVertex.err().contains("distill.hint teacher vertex 'nosuch' is not a hidden vertex of"), noVertex.err());
        assertFalse(Files.exists(dir.resolve("never")));
        // a graph student: resnet:1 under the KD loss, written as a graph zip with its cross-entropy output layer back
        String rs = dir.resolve("resnet-student.zip").toString();
        CliRun g = CliRun.run("distill", "--soft-targets", soft, "--data", TRAIN, "--student", "resnet:1", "--temperature", "4", "--alpha", "0.3",
                "--epochs", "3", "--lr", "0.003", "--normalize", "minmax", "--eval-data", TEST, "--seed", "1", "--out", rs);
        assertEquals(0, g.code(), g.err());
        assertTrue(g.err().contains("train: epoch 3 validation accuracy"), g.err());
        LoadedModel sm = load(rs);
        assertTrue(sm.isGraph());
        assertTrue(((org.deeplearning4j.nn.conf.layers.BaseOutputLayer) sm.graph().getLayer("output").conf().getLayer()).getLossFn()
                instanceof org.nd4j.linalg.lossfunctions.impl.LossMCXENT);
        double acc = evaluate(rs, "resnet-student").get("accuracy").asDouble();
        assertTrue(acc > 0.8, "a resnet:1 student after 3 epochs: " + acc);
        assertTrue(g.out().contains(String.format(java.util.Locale.ROOT, "student accuracy %.4f, teacher %.4f", acc, report.get("accuracy").asDouble())), g.out());
        // FitNets hints into a graph student: the teacher's pooled features guide the student's pooling vertex (same
        // width: no projection), or its second stage's feature maps (flattened, through a learned projection)
        String gh = dir.resolve("resnet-student-hint.zip").toString(), gp = dir.resolve("resnet-student-hint-proj.zip").toString();
        CliRun sh = CliRun.run("distill", "--soft-targets", soft, "--data", TRAIN, "--student", "resnet:1", "--temperature", "4", "--alpha", "0.3",
                "--epochs", "3", "--lr", "0.003", "--normalize", "minmax", "--hint", "pool:pool", "--hint-weight", "0.5", "--eval-data", TEST, "--seed", "1",
                "--out", gh);
        assertEquals(0, sh.code(), sh.err());
        assertTrue(sh.err().contains("distill: hint from teacher vertex 'pool' (64 wide) to student vertex 'pool' (64 wide), weight 0.5"), sh.err());
        assertTrue(sh.err().contains("train: epoch 3 validation accuracy"), sh.err());
        LoadedModel hs = load(gh);
        assertFalse(hs.graph().getConfiguration().getVertices().containsKey("hint"), "the hint output is not part of the student written");
        assertEquals(sm.graph().numParams(), hs.graph().numParams());
        assertTrue(evaluate(gh, "resnet-student-hint").get("accuracy").asDouble() > 0.8);
        // the hint pulls the student's pooled features towards the teacher's: closer than the student distilled without it
        // from the same seed (measured with seeds 1-3: 15-25 % closer with either trainer of session 28; with the default
        // seed the two landed within 1 % of each other once, so the comparison is made at seed 1)
        var x = org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 20, 64);
        var teacherPool = load(resnet).graph().feedForward(x, false).get("pool");
        double withHint = hs.graph().feedForward(x, false).get("pool").distance2(teacherPool),
                without = sm.graph().feedForward(x, false).get("pool").distance2(teacherPool);
        assertTrue(withHint < without, "distance to the teacher's pooled features: " + withHint + " with the hint, " + without + " without");
        CliRun sp = CliRun.run("distill", "--soft-targets", soft, "--data", TRAIN, "--student", "resnet:1", "--epochs", "1", "--lr", "0.003",
                "--normalize", "minmax", "--hint", "pool:s2b1_relu", "--out", gp);
        assertEquals(0, sp.code(), sp.err());
        assertTrue(sp.err().contains("to student vertex 's2b1_relu' (512 wide, through a learned projection)"), sp.err());
        CliRun badStudent = CliRun.run("distill", "--soft-targets", soft, "--data", TRAIN, "--student", "resnet:1", "--hint", "pool:0", "--epochs", "1",
                "--out", dir.resolve("never.zip").toString());
        assertEquals(2, badStudent.code());
        assertTrue(badStudent.err().contains("student resnet:1 is a graph; name its vertex (e.g. pool:pool), got layer 0"), badStudent.err());
        assertFalse(Files.exists(dir.resolve("never.zip")));
    }
}
