package io.squeeze.lowrank;

import io.squeeze.BadInputException;
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
        assertNotEquals(out0, trained.getLayer(2).getParam("W"), "layers without adapters train as usual");
        MultiLayerNetwork merged = Lora.merge(trained);
        assertEquals(base.numParams(), merged.numParams());
        assertEquals(0, trained.output(x).sub(merged.output(x)).amax().getDouble(0), 1e-5, "merged computes the adapted network");
    }

    @Test
    void badLoraInput() {
        MultiLayerNetwork base = TestModels.mlp(12, new int[]{6}, 3, 2);
        assertEquals("lora.rank 7 is above min(nIn, nOut) = 6 of layer 0",
                assertThrows(BadInputException.class, () -> Lora.attach(base, Set.of(0), 7, 8, 1)).getMessage());
        assertEquals("lora adapters go on dense layers; layer 1 is a OutputLayer",
                assertThrows(BadInputException.class, () -> Lora.attach(base, Set.of(1), 2, 8, 1)).getMessage());
        assertThrows(BadInputException.class, () -> Lora.attach(base, Set.of(0), 0, 8, 1));
    }
}
