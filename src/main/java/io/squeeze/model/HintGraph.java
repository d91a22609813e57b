package io.squeeze.model;

import io.squeeze.core.BadInputException;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BaseOutputLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.ILossFunction;
import org.nd4j.linalg.lossfunctions.impl.LossL2;

/**
 * A student network as a DL4J ComputationGraph with a second output for feature distillation (FitNets, Romero et
 * al. 2015): the student's layers in order ({@code L0 … Ln}, the last one training with {@code outputLoss}), plus
 * a {@code hint} output on student layer {@code s}: a learned linear projection (no bias) to the teacher hint
 * layer's width when the widths differ, none when they match, trained with {@code weight}·‖teacher − projected‖²
 * per example. {@link #student} copies the trained layers back into a plain network.
 */
public final class HintGraph {
    public static final String HINT = "hint";

    private HintGraph() {}

    public static ComputationGraph build(MultiLayerNetwork student, int studentLayer, int studentWidth, int teacherWidth, double weight,
                                         ILossFunction outputLoss, double learningRate) {
        MultiLayerConfiguration c = student.getLayerWiseConfigurations().clone();
        int n = c.getConfs().size();
        if (studentLayer < 0 || studentLayer >= n - 1)
            throw new BadInputException("distill.hint student layer must be a hidden layer in [0, " + (n - 2) + "], got " + studentLayer);
        // seeded from the student: DL4J's default seed is the clock, which drew a different projection on every run
        ComputationGraphConfiguration.GraphBuilder g = new NeuralNetConfiguration.Builder().seed(c.getConf(0).getSeed()).dataType(DataType.FLOAT)
                .updater(new Adam(learningRate)).graphBuilder().addInputs("in");
        String prev = "in";
        for (int i = 0; i < n; i++) {
            Layer l = c.getConf(i).getLayer().clone();
            if (i == n - 1) ((BaseOutputLayer) l).setLossFn(outputLoss);
            g.addLayer("L" + i, l, c.getInputPreProcess(i), prev);
            prev = "L" + i;
        }
        var w = Nd4j.valueArrayOf(new long[]{1, teacherWidth}, weight, DataType.FLOAT); // per-output weights of the L2 loss
        if (studentWidth == teacherWidth) g.addLayer(HINT, new LossLayer.Builder(new LossL2(w)).activation(Activation.IDENTITY).build(), "L" + studentLayer);
        else g.addLayer(HINT, new OutputLayer.Builder(new LossL2(w)).nIn(studentWidth).nOut(teacherWidth).hasBias(false)
                .activation(Activation.IDENTITY).weightInit(WeightInit.XAVIER).build(), "L" + studentLayer);
        g.setOutputs("L" + (n - 1), HINT);
        ComputationGraph cg = new ComputationGraph(g.build());
        cg.init();
        for (int i = 0; i < n; i++) cg.getLayer("L" + i).setParams(student.getLayer(i).params().dup());
        return cg;
    }

    /** The trained student: {@code template}'s configuration with the graph's student layers' parameters. */
    public static MultiLayerNetwork student(ComputationGraph cg, MultiLayerNetwork template) {
        MultiLayerNetwork out = template.clone();
        for (int i = 0; i < out.getnLayers(); i++) out.getLayer(i).setParams(cg.getLayer("L" + i).params().dup());
        return out;
    }

    /**
     * A graph student with the {@code hint} output on vertex {@code studentVertex} (its activations flattened, in C
     * order as the teacher's are), through a learned projection without bias when the widths differ, and its output
     * layer training with {@code outputLoss}; the student's parameters are copied, the hint layer trains with Adam at
     * {@code learningRate}.
     */
    public static ComputationGraph buildGraph(ComputationGraph student, String studentVertex, int numFeatures, int teacherWidth, double weight,
                                              ILossFunction outputLoss, double learningRate) {
        var c = student.getConfiguration();
        if (!c.getVertices().containsKey(studentVertex) || c.getNetworkOutputs().contains(studentVertex) || c.getNetworkInputs().contains(studentVertex))
            throw new BadInputException("distill.hint student vertex '" + studentVertex + "' is not a hidden vertex of the student (inspect lists them)");
        ComputationGraph withLoss = Graphs.withLoss(student, outputLoss);
        var a = withLoss.feedForward(NdRows.of(new float[numFeatures], 1, numFeatures), false).get(studentVertex);
        int sw = (int) (a.length());
        org.deeplearning4j.nn.conf.InputPreProcessor flatten = a.rank() == 4
                ? new org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor(a.size(2), a.size(3), a.size(1)) : null;
        var w = Nd4j.valueArrayOf(new long[]{1, teacherWidth}, weight, DataType.FLOAT);
        Layer hint = sw == teacherWidth ? new LossLayer.Builder(new LossL2(w)).activation(Activation.IDENTITY).build()
                : new OutputLayer.Builder(new LossL2(w)).nIn(sw).nOut(teacherWidth).hasBias(false).activation(Activation.IDENTITY)
                .weightInit(WeightInit.XAVIER).updater(new Adam(learningRate)).build();
        String out = c.getNetworkOutputs().get(0);
        return new org.deeplearning4j.nn.transferlearning.TransferLearning.GraphBuilder(withLoss)
                .addLayer(HINT, hint, flatten, studentVertex).setOutputs(out, HINT).build();
    }

    /** The flattened width of a graph student's vertex. */
    public static int width(ComputationGraph student, String vertex, int numFeatures) {
        return (int) student.feedForward(NdRows.of(new float[numFeatures], 1, numFeatures), false).get(vertex).length();
    }

    /** The trained graph student: {@code template} with the parameters of every layer of {@code cg} of the same name (the hint layer dropped). */
    public static ComputationGraph student(ComputationGraph cg, ComputationGraph template) {
        ComputationGraph out = template.clone();
        for (var v : out.getVertices()) if (v.hasLayer() && v.getLayer().numParams() > 0) v.getLayer().setParams(cg.getLayer(v.getVertexName()).params().dup());
        return out;
    }
}
