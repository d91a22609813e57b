package io.squeeze.spark;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.dropout.GaussianNoise;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.conf.layers.recurrent.Bidirectional;
import org.deeplearning4j.nn.conf.layers.recurrent.LastTimeStep;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.weightnoise.DropConnect;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Training seeds ND4J's generator per minibatch ({@link DropoutSeedHook}) exactly when the network draws from it: every
 * kind of dropout and weight noise, RReLU, wrapped layers by what they wrap, in both network types.
 */
public class DropoutSeedHookTest {

    private static MultiLayerNetwork mlp(Layer hidden) {
        var conf = new NeuralNetConfiguration.Builder().seed(1).list()
                .layer(hidden)
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(4).nOut(3).activation(Activation.SOFTMAX).build())
                .build();
        MultiLayerNetwork n = new MultiLayerNetwork(conf);
        n.init();
        return n;
    }

    private static Supplier<DenseLayer.Builder> dense = () -> new DenseLayer.Builder().nIn(5).nOut(4).activation(Activation.RELU);

    @Test
    void aNetworkWithoutRandomnessInTrainingNeedsNoSeed() {
        assertFalse(DropoutSeedHook.needed(mlp(dense.get().build())));
        assertFalse(DropoutSeedHook.needed(mlp(new FrozenLayerWithBackprop(dense.get().build()))));
        assertFalse(DropoutSeedHook.needed(new MultiLayerNetwork(io.squeeze.model.Architectures.build(io.squeeze.model.Arch.parse("mlp:300,100"), 784,
                10, null, new io.squeeze.model.Architectures.Hyper(42, 1e-3, 0, 0, 0), new io.squeeze.core.Storage(new org.apache.hadoop.conf.Configuration())))));
    }

    @Test
    void everyKindOfDropoutWeightNoiseAndRreluNeedsTheSeed() {
        assertTrue(DropoutSeedHook.needed(mlp(dense.get().dropOut(0.7).build())));
        assertTrue(DropoutSeedHook.needed(mlp(dense.get().dropOut(new GaussianNoise(0.1)).build())));
        assertTrue(DropoutSeedHook.needed(mlp(dense.get().weightNoise(new DropConnect(0.9)).build())));
        assertTrue(DropoutSeedHook.needed(mlp(dense.get().activation(Activation.RRELU).build())));
        assertTrue(DropoutSeedHook.needed(mlp(new FrozenLayerWithBackprop(dense.get().dropOut(0.7).build()))), "a wrapped layer's dropout");
        assertTrue(DropoutSeedHook.needed(new MultiLayerNetwork(io.squeeze.model.Architectures.build(io.squeeze.model.Arch.parse("mlp:300,100"), 784,
                10, null, new io.squeeze.model.Architectures.Hyper(42, 1e-3, 0, 0, 0.2), new io.squeeze.core.Storage(new org.apache.hadoop.conf.Configuration())))),
                "the CLI's --dropout");
        // a dropout layer between two others, and recurrent layers inside wrappers
        var withDropoutLayer = new NeuralNetConfiguration.Builder().seed(1).list()
                .layer(dense.get().build()).layer(new DropoutLayer(0.5))
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(4).nOut(3).activation(Activation.SOFTMAX).build()).build();
        assertTrue(DropoutSeedHook.needed(new MultiLayerNetwork(withDropoutLayer)));
        LSTM plain = new LSTM.Builder().nIn(5).nOut(4).build();
        assertFalse(DropoutSeedHook.needed(mlp(new LastTimeStep(new Bidirectional(plain)))));
        assertTrue(DropoutSeedHook.needed(mlp(new LastTimeStep(new Bidirectional(new LSTM.Builder().nIn(5).nOut(4).dropOut(0.8).build())))));
        assertTrue(DropoutSeedHook.needed(mlp(new LSTM.Builder().nIn(5).nOut(4).gateActivationFunction(Activation.RRELU).build())));
    }

    @Test
    void aGraphByItsLayerVertices() {
        for (boolean drop : new boolean[]{false, true}) {
            ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(1).graphBuilder().addInputs("in")
                    .addLayer("h", drop ? dense.get().dropOut(0.5).build() : dense.get().build(), "in")
                    .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(4).nOut(3).activation(Activation.SOFTMAX).build(), "h")
                    .setOutputs("out").setInputTypes(InputType.feedForward(5)).build();
            ComputationGraph g = new ComputationGraph(conf);
            g.init();
            assertEquals(drop, DropoutSeedHook.needed(g));
        }
    }
}
