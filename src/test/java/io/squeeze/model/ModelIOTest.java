package io.squeeze.model;

import io.squeeze.core.BadInputException;
import io.squeeze.TestModels;
import io.squeeze.core.Storage;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

class ModelIOTest {
    static final Storage ST = new Storage(new Configuration());

    @TempDir
    Path dir;

    LoadedModel load(Path p) {
        return ModelIO.loadFile(ST, ST.path(p.toString()));
    }

    String error(Path p) {
        return assertThrows(BadInputException.class, () -> load(p)).getMessage();
    }

    @Test
    void zipRoundTripKeepsMetaAndWeights() throws Exception {
        MultiLayerNetwork net = TestModels.mlp(6, new int[]{5}, 4, 2);
        ModelMeta meta = TestModels.minmaxMeta(6, 4);
        Path p = dir.resolve("m.zip");
        ModelIO.writeZip(ST, ST.path(p.toString()), net, meta, false);
        LoadedModel m = load(p);
        TestModels.assertSameWeights(net, m.net());
        assertEquals(meta, m.meta());
        assertEquals(Storage.sha256(Files.readAllBytes(p)), m.sha256());
        var e = assertThrows(BadInputException.class, () -> ModelIO.writeZip(ST, ST.path(p.toString()), net, meta, false));
        assertTrue(e.getMessage().endsWith("exists; pass --overwrite to replace it"));
    }

    @Test
    void foreignDl4jZipGetsDerivedMeta() throws Exception {
        MultiLayerNetwork net = TestModels.mlp(9, new int[]{5, 4}, 3, 2);
        File f = dir.resolve("plain.zip").toFile();
        ModelSerializer.writeModel(net, f, true);
        LoadedModel m = load(f.toPath());
        assertEquals(9, m.meta().numFeatures());
        assertEquals(3, m.meta().numClasses());
        assertTrue(m.meta().normalizer().isIdentity());
    }

    @Test
    void brokenFilesNameTheProblem() throws Exception {
        Path empty = Files.write(dir.resolve("empty.zip"), new byte[0]);
        assertTrue(error(empty).endsWith("empty.zip is empty (0 bytes)"), error(empty));
        Path garbage = Files.writeString(dir.resolve("g.zip"), "hello, not a model");
        assertTrue(error(garbage).endsWith("g.zip is not a DL4J model zip (no zip signature); is it corrupt?"), error(garbage));
        Path good = dir.resolve("m.zip");
        ModelIO.writeZip(ST, ST.path(good.toString()), TestModels.mlp(6, new int[]{50}, 4, 2), TestModels.meta(6, 4), false);
        byte[] all = Files.readAllBytes(good);
        Path half = Files.write(dir.resolve("half.zip"), Arrays.copyOf(all, all.length / 2));
        String msg = error(half);
        assertTrue(msg.contains("half.zip") && (msg.contains("corrupt or truncated") || msg.contains("is truncated")), msg);
    }

    @Test
    void unsupportedLayerIsNamed() throws Exception {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().list()
                .layer(new org.deeplearning4j.nn.conf.layers.GravesLSTM.Builder().nIn(3).nOut(4).name("rnn").build())
                .layer(new org.deeplearning4j.nn.conf.layers.RnnOutputLayer.Builder().nIn(4).nOut(2).build()).build());
        net.init();
        File f = dir.resolve("rnn.zip").toFile();
        ModelSerializer.writeModel(net, f, false);
        String msg = error(f.toPath());
        assertTrue(msg.contains("layer 0 ('rnn') is a GravesLSTM, layer 1 ('layer1') is a RnnOutputLayer — 2 layers Squeeze does not support"), msg);
    }

    @Test
    void nonFiniteWeightsAreRefused() throws Exception {
        MultiLayerNetwork net = TestModels.mlp(3, new int[]{2}, 2, 1);
        net.getLayer(1).getParam("W").putScalar(0, 1, Float.NaN);
        File f = dir.resolve("nan.zip").toFile();
        ModelSerializer.writeModel(net, f, false);
        String msg = error(f.toPath());
        assertTrue(msg.endsWith("layer 1 parameter W has a non-finite weight (NaN at flat index 1)"), msg);
    }

    @Test
    void aComputationGraphThatIsAChainIsReadAsItsLayerStackAndABranchingOneIsRefusedNamingEveryMerge() throws Exception {
        ComputationGraph g = new ComputationGraph(new NeuralNetConfiguration.Builder().seed(3).graphBuilder().addInputs("in")
                .addLayer("d", new DenseLayer.Builder().nIn(3).nOut(4).activation(org.nd4j.linalg.activations.Activation.TANH).build(), "in")
                .addLayer("out", new OutputLayer.Builder().nIn(4).nOut(2).activation(org.nd4j.linalg.activations.Activation.SOFTMAX).build(), "d")
                .setOutputs("out").build());
        g.init();
        File f = dir.resolve("cg.zip").toFile();
        ModelSerializer.writeModel(g, f, false);
        LoadedModel m = ModelIO.loadFile(new io.squeeze.core.Storage(new org.apache.hadoop.conf.Configuration()), new org.apache.hadoop.fs.Path(f.getPath()));
        assertEquals(2, m.net().getnLayers());
        assertEquals("d", m.net().getLayer(0).conf().getLayer().getLayerName());
        var x = org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 5, 3);
        assertEquals(g.outputSingle(x), m.net().output(x), "the layer stack computes what the graph computes");

        ComputationGraph res = new ComputationGraph(new NeuralNetConfiguration.Builder().seed(3).graphBuilder().addInputs("in")
                .addLayer("a", new DenseLayer.Builder().nIn(3).nOut(3).build(), "in")
                .addLayer("b", new DenseLayer.Builder().nIn(3).nOut(3).build(), "a")
                .addVertex("add", new org.deeplearning4j.nn.conf.graph.ElementWiseVertex(org.deeplearning4j.nn.conf.graph.ElementWiseVertex.Op.Add), "a", "b")
                .addVertex("cat", new org.deeplearning4j.nn.conf.graph.MergeVertex(), "add", "b")
                .addLayer("out", new OutputLayer.Builder().nIn(6).nOut(2).build(), "cat").setOutputs("out").build());
        res.init();
        File r = dir.resolve("res.zip").toFile();
        ModelSerializer.writeModel(res, r, false);
        String msg = error(r.toPath());
        assertTrue(msg.endsWith("res.zip is a graph, not a chain of layers, which Squeeze does not compress yet: 'a' feeds 2 vertices (b, add); "
                + "'b' feeds 2 vertices (add, cat); 'add' (ElementWiseVertex Add) joins a, b; 'cat' (MergeVertex) joins add, b (" + Graphs.COMMANDS + ")"), msg);
    }

    @Test
    void weightInitialisationSeedsComeFromTheSeedOptionOrTheFileNeverTheClock() {
        var st = new Storage(new Configuration());
        var h = new Architectures.Hyper(3, 1e-2, 0);
        // a Keras functional model's architecture trained afresh: the graph's own seed, from which ComputationGraph.init
        // draws every layer's weights, and each layer's are --seed's (DL4J's importer leaves the clock in both)
        String graph = new File("src/test/resources/keras/keras-resnet-rgb.h5").getAbsolutePath();
        var g = Architectures.graph(new Arch.ModelFile(graph), 192, 3, new int[]{3, 8, 8}, h, st);
        assertEquals(3, g.getDefaultConfiguration().getSeed());
        g.getVertices().values().forEach(v -> {
            if (v instanceof org.deeplearning4j.nn.conf.graph.LayerVertex l) assertEquals(3, l.getLayerConf().getSeed());
        });
        // the import itself: the file's seed, the same on every read
        long imported = ModelIO.loadFile(st, new org.apache.hadoop.fs.Path(graph), true).graph().getConfiguration().getDefaultConfiguration().getSeed();
        assertEquals(imported, ModelIO.loadFile(st, new org.apache.hadoop.fs.Path(graph), true).graph().getConfiguration().getDefaultConfiguration().getSeed());
        assertTrue(Math.abs(imported - System.currentTimeMillis()) > 1e9, "not the clock: " + imported);
        // a configuration JSON keeps the seed it names (42 here), as the README says
        var json = Architectures.build(new Arch.JsonFile("conf/examples/digits-mlp-32.json"), 64, 10, null, h, st);
        json.getConfs().forEach(c -> assertEquals(42, c.getSeed()));
    }

    @Test
    void archParsing() {
        assertArrayEquals(new int[]{300, 100}, ((Arch.Mlp) Arch.parse("mlp:300,100")).hidden());
        assertInstanceOf(Arch.LeNet5.class, Arch.parse("lenet5"));
        assertInstanceOf(Arch.LeNet5Caffe.class, Arch.parse("lenet5-caffe"));
        assertEquals("lenet5-caffe", Arch.parse("lenet5-caffe").toString());
        assertInstanceOf(Arch.JsonFile.class, Arch.parse("conf/net.json"));
        assertEquals("--arch 'mlp:3,x': hidden sizes must be integers, e.g. mlp:300,100",
                assertThrows(BadInputException.class, () -> Arch.parse("mlp:3,x")).getMessage());
        assertThrows(BadInputException.class, () -> Arch.parse("mlp:0"));
        assertThrows(BadInputException.class, () -> Arch.parse("resnet50"));
        assertEquals("--lr must be in (0, 10), got -1.0",
                assertThrows(BadInputException.class, () -> new Architectures.Hyper(1, -1, 0)).getMessage());
    }

    @Test
    void lenet5BuildsForMnistShape() {
        MultiLayerNetwork net = mnistNet(new Arch.LeNet5());
        assertEquals(7, net.getnLayers());
        assertArrayEquals(new long[]{3, 10}, net.output(org.nd4j.linalg.factory.Nd4j.rand(3, 784)).shape());
        var e = assertThrows(BadInputException.class, () -> Architectures.build(new Arch.LeNet5(), 65, 10, null, new Architectures.Hyper(1, 1e-3, 0), null));
        assertEquals("--arch lenet5 needs square images; the data has 65 features and no image shape", e.getMessage());
        assertEquals(784, ModelIO.deriveMeta(net, "x").numFeatures());
    }

    /** Caffe's LeNet-5, Han et al.'s network: 431,080 parameters, layer by layer as the prototxt has them. */
    @Test
    void caffeLenet5HasThePapersParameters() {
        MultiLayerNetwork net = mnistNet(new Arch.LeNet5Caffe());
        assertEquals(6, net.getnLayers());
        assertEquals(431_080, net.numParams());
        long[] perLayer = new long[6];
        for (int i = 0; i < 6; i++) perLayer[i] = net.getLayer(i).numParams();
        assertArrayEquals(new long[]{520, 0, 25_050, 0, 400_500, 5_010}, perLayer);
        assertArrayEquals(new long[]{3, 10}, net.output(org.nd4j.linalg.factory.Nd4j.rand(3, 784)).shape());
        var e = assertThrows(BadInputException.class, () -> Architectures.build(new Arch.LeNet5Caffe(), 196, 10, new int[]{14, 14, 1},
                new Architectures.Hyper(1, 1e-3, 0), null));
        assertEquals("--arch lenet5-caffe needs images of at least 16x16, got 14x14", e.getMessage());
    }

    private static MultiLayerNetwork mnistNet(Arch arch) {
        MultiLayerNetwork net = new MultiLayerNetwork(Architectures.build(arch, 784, 10, new int[]{28, 28, 1}, new Architectures.Hyper(1, 1e-3, 0), null));
        net.init();
        return net;
    }
}
