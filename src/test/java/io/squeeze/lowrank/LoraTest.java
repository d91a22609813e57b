package io.squeeze.lowrank;

import io.squeeze.cli.CliRun;
import io.squeeze.core.BadInputException;
import io.squeeze.TestModels;
import io.squeeze.TestSpark;
import io.squeeze.data.Example;
import io.squeeze.model.Lora;
import io.squeeze.model.LoraDense;
import io.squeeze.spark.SparkTrainer;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class LoraTest {
    @Test
    void stepZeroEqualsBaseTrainingChangesOnlyAdaptersAndMergeIsExact() {
        MultiLayerNetwork base = TestModels.mlp(12, new int[]{16, 8}, 3, 2);
        MultiLayerNetwork adapted = Lora.attach(base, Set.of(0, 1), 4, 8, 7);
        assertInstanceOf(LoraDense.class, adapted.getLayer(0).conf().getLayer());
        INDArray x = Nd4j.rand(DataType.FLOAT, 9, 12);
        assertEquals(0, base.output(x).sub(adapted.output(x)).amax().getDouble(0), 1e-6, "B = 0: step 0 computes the base");
        assertEquals(base.numParams() + 4 * (12 + 16) + 4 * (16 + 8), adapted.numParams());
        // the configuration survives JSON, as it must to reach executors
        MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(adapted.getLayerWiseConfigurations().toJson());
        assertEquals(adapted.getLayerWiseConfigurations(), back);

        Random r = new Random(1);
        List<Example> rows = new ArrayList<>();
        for (int i = 0; i < 400; i++) {
            float[] f = new float[12];
            int y = r.nextInt(3);
            for (int j = 0; j < 12; j++) f[j] = (float) r.nextGaussian() + (j % 3 == y ? 1.5f : 0);
            rows.add(new Example(i, f, y));
        }
        INDArray w0 = adapted.getLayer(0).getParam("W").dup(), b0 = adapted.getLayer(0).getParam("b").dup();
        INDArray a0 = adapted.getLayer(0).getParam("A").dup(), bb0 = adapted.getLayer(0).getParam("B").dup();
        INDArray out0 = base.getLayer(2).getParam("W").dup();
        MultiLayerNetwork trained = SparkTrainer.train(TestSpark.jsc(), TestSpark.jsc().parallelize(rows, 2), adapted, 12, 3,
                new SparkTrainer.Config(2, 20, 2), "lora-test", new PrintWriter(new StringWriter()));
        assertEquals(w0, trained.getLayer(0).getParam("W"), "base W frozen");
        assertEquals(b0, trained.getLayer(0).getParam("b"), "base b frozen");
        assertNotEquals(bb0, trained.getLayer(0).getParam("B"), "B trained");
        assertNotEquals(a0, trained.getLayer(0).getParam("A"), "A trained");
        assertEquals(out0, trained.getLayer(2).getParam("W"), "layers without adapters are frozen too");
        assertEquals(base.getLayer(1).getParam("W"), trained.getLayer(1).getParam("W"), "base W of every adapted layer frozen");
        MultiLayerNetwork merged = Lora.merge(trained);
        assertEquals(base.numParams(), merged.numParams());
        assertEquals(0, trained.output(x).sub(merged.output(x)).amax().getDouble(0), 1e-5, "merged computes the adapted network");
    }

    @org.junit.jupiter.api.io.TempDir
    java.nio.file.Path dir;

    /**
     * A stack with batch normalization: the running statistics follow the data while the adapters train, so the adapter
     * artifact carries them, and the base with its adapters reads back as the network the same seeded command merges.
     */
    @Test
    void aStackWithBatchNormalizationReadsBackFromItsAdaptersAsTheMergedNetwork() throws Exception {
        String base = dir.resolve("bn-base").toString(), adapters = dir.resolve("bn-adapters").toString(), merged = dir.resolve("bn-merged").toString();
        assertEquals(0, io.squeeze.cli.CliRun.run("train", "--data", "csv:data/digits/digits-train.csv.gz", "--arch", "conf/examples/digits-cnn-bn.json",
                "--epochs", "1", "--normalize", "minmax", "--out", base).code());
        // adapters on a convolution and the dense layer
        String[] common = {"lora", "--model", base, "--rank", "2", "--layers", "conv2,dense", "--data", "csv:data/digits/digits-train.csv.gz", "--epochs", "1"};
        assertEquals(0, io.squeeze.cli.CliRun.run(CliRun.with(common, "--out", adapters)).code());
        assertEquals(0, io.squeeze.cli.CliRun.run(CliRun.with(common, "--merge", "--out", merged)).code());
        var st = new io.squeeze.core.Storage(new org.apache.hadoop.conf.Configuration());
        var fromAdapters = io.squeeze.artifact.Artifact.load(st, adapters);
        assertTrue(fromAdapters.manifest().layers().stream().anyMatch(l -> l.method().equals("trained-state") && l.type().equals("BatchNormalization")),
                fromAdapters.manifest().layers().toString());
        assertEquals(List.of("LoraConv", "LoraDense"), fromAdapters.manifest().layers().stream().filter(l -> l.method().equals("lora")).map(l -> l.type()).toList());
        MultiLayerNetwork b = io.squeeze.artifact.Artifact.load(st, base).model().net(), m = io.squeeze.artifact.Artifact.load(st, merged).model().net();
        assertNotEquals(b.params(), m.params());
        assertEquals(m.params(), fromAdapters.model().net().params(), "adapters and running statistics read back: the merged network");
    }

    @Test
    void cliAdapterArtifactIsTinyReferencesItsBaseAndEqualsTheMergedOne() throws Exception {
        MultiLayerNetwork base = TestModels.mlp(64, new int[]{32, 16}, 10, 3);
        java.nio.file.Path zip = dir.resolve("base.zip");
        var st = new io.squeeze.core.Storage(new org.apache.hadoop.conf.Configuration());
        io.squeeze.model.ModelIO.writeZip(st, new org.apache.hadoop.fs.Path(zip.toString()), base, TestModels.minmaxMeta(64, 10), false);
        String adapters = dir.resolve("adapters").toString(), merged = dir.resolve("merged").toString();
        String[] common = {"lora", "--model", zip.toString(), "--rank", "4", "--alpha", "8", "--data", "csv:data/digits/digits-train.csv.gz",
                "--epochs", "1", "--batch", "32"};
        io.squeeze.cli.CliRun a = io.squeeze.cli.CliRun.run(CliRun.with(common, "--eval-data", "csv:data/digits/digits-test.csv.gz", "--out", adapters));
        assertEquals(0, a.code(), a.err());
        assertTrue(a.err().contains("rank 4 on layers [0, 1]: 576 trainable parameters"), a.err());
        // the epoch's validation is the merged model, as evaluated into the metrics
        double acc = io.squeeze.artifact.Artifact.load(st, adapters).manifest().metrics().get("accuracy") instanceof Number n ? n.doubleValue() : -1;
        assertTrue(a.err().contains(String.format(java.util.Locale.ROOT, "train: epoch 1 validation accuracy %.4f", acc)), a.err());
        io.squeeze.cli.CliRun m = io.squeeze.cli.CliRun.run(CliRun.with(common, "--merge", "--out", merged));
        assertEquals(0, m.code(), m.err());
        assertEquals(base.numParams(), io.squeeze.artifact.Artifact.load(st, merged).model().net().numParams(), "merged: plain dense layers");
        var fromAdapters = io.squeeze.artifact.Artifact.load(st, adapters);
        // the loaded adapters reproduce exactly what was evaluated right after training
        String rep = dir.resolve("rep.json").toString();
        assertEquals(0, io.squeeze.cli.CliRun.run("evaluate", "--model", adapters, "--data", "csv:data/digits/digits-test.csv.gz", "--report", rep).code());
        var r = new com.fasterxml.jackson.databind.ObjectMapper().readTree(java.nio.file.Files.readAllBytes(java.nio.file.Path.of(rep)));
        assertEquals((Double) fromAdapters.manifest().metrics().get("accuracy"), r.get("accuracy").asDouble(), 0.0);
        assertEquals((Double) fromAdapters.manifest().metrics().get("loss"), r.get("loss").asDouble(), 1e-12);
        // the adapters' tensors are a fraction of the base; on this 2,976-parameter base the manifest (command, config,
        // layers) is most of the directory, which is still half the base's size
        long adapterBytes = fromAdapters.manifest().files().values().stream().mapToLong(io.squeeze.artifact.Manifest.FileRecord::bytes).sum();
        assertTrue(adapterBytes * 4 < java.nio.file.Files.size(zip), "adapters " + adapterBytes + " vs base " + java.nio.file.Files.size(zip));
        assertTrue(fromAdapters.model().storedBytes() * 2 < java.nio.file.Files.size(zip), "adapter directory " + fromAdapters.model().storedBytes());
        assertEquals(base.numParams(), fromAdapters.model().net().numParams());
        // the base changes: the adapters refuse it
        io.squeeze.model.ModelIO.writeZip(st, new org.apache.hadoop.fs.Path(zip.toString()), TestModels.mlp(64, new int[]{32, 16}, 10, 4),
                TestModels.minmaxMeta(64, 10), true);
        var e = assertThrows(BadInputException.class, () -> io.squeeze.artifact.Artifact.load(st, adapters));
        assertTrue(e.getMessage().contains("the adapters were trained on"), e.getMessage());
        io.squeeze.cli.CliRun bad = io.squeeze.cli.CliRun.run("lora", "--model", zip.toString(), "--rank", "40", "--data",
                "csv:data/digits/digits-train.csv.gz", "--epochs", "1", "--out", dir.resolve("never").toString());
        assertEquals(2, bad.code());
        assertEquals("squeeze: lora.rank 40 is above min(nIn, nOut) = 32 of layer 0", bad.lastErr());
        assertFalse(dir.resolve("never").toFile().exists());
    }


    @Test
    void badLoraInput() {
        MultiLayerNetwork base = TestModels.mlp(12, new int[]{6}, 3, 2);
        assertEquals("lora.rank 7 is above min(nIn, nOut) = 6 of layer 0",
                assertThrows(BadInputException.class, () -> Lora.attach(base, Set.of(0), 7, 8, 1)).getMessage());
        assertEquals("lora adapters go on dense and convolution layers; layer 1 is a OutputLayer",
                assertThrows(BadInputException.class, () -> Lora.attach(base, Set.of(1), 2, 8, 1)).getMessage());
        assertThrows(BadInputException.class, () -> Lora.attach(base, Set.of(0), 0, 8, 1));
    }
}
