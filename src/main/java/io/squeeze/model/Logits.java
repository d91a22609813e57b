package io.squeeze.model;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.List;

/**
 * A DL4J network's logits — the output layer's pre-activation x·W + b, before its softmax — and any hidden
 * layer's activations, in inference mode. The one place that reaches inside DL4J's forward pass for them.
 */
public final class Logits {
    private Logits() {}

    /** Logits of {@code rows} rows (row-major floats). */
    public static float[] of(MultiLayerNetwork net, float[] x, int rows, int numFeatures) {
        int last = net.getnLayers() - 1;
        INDArray in = NdRows.of(x, rows, numFeatures);
        INDArray h = last == 0 ? in : net.feedForwardToLayer(last - 1, in, false).get(last);
        return affine(h, net.getLayerWiseConfigurations().getInputPreProcess(last), net.getLayer(last), rows);
    }

    /** Logits of a graph (one input, one output layer): its output layer's pre-activation on what reaches it. */
    public static float[] of(org.deeplearning4j.nn.graph.ComputationGraph g, float[] x, int rows, int numFeatures) {
        var c = g.getConfiguration();
        String out = c.getNetworkOutputs().get(0);
        INDArray h = g.feedForward(NdRows.of(x, rows, numFeatures), false).get(c.getVertexInputs().get(out).get(0));
        return affine(h, ((org.deeplearning4j.nn.conf.graph.LayerVertex) c.getVertices().get(out)).getPreProcessor(), g.getLayer(out), rows);
    }

    /** {@code h} through the output layer's preprocessor, then x·W + b. */
    private static float[] affine(INDArray h, InputPreProcessor pre, Layer out, int rows) {
        if (pre != null) h = pre.preProcess(h, rows, LayerWorkspaceMgr.noWorkspaces());
        INDArray z = h.castTo(DataType.FLOAT).mmul(out.getParam("W").castTo(DataType.FLOAT));
        INDArray b = out.getParam("b");
        if (b != null) z.addiRowVector(b.castTo(DataType.FLOAT));
        return NdRows.toRowMajor(z);
    }

    /** Activations of layer {@code layer} (after its activation function), flattened per row. */
    public static float[] hidden(MultiLayerNetwork net, int layer, float[] x, int rows, int numFeatures) {
        List<INDArray> acts = net.feedForwardToLayer(layer, NdRows.of(x, rows, numFeatures), false);
        INDArray a = acts.get(layer + 1);
        return NdRows.toRowMajor(a.reshape('c', rows, a.length() / rows));
    }

    /** The flattened width of layer {@code layer}'s activations. */
    public static int width(MultiLayerNetwork net, int layer, int numFeatures) {
        return hidden(net, layer, new float[numFeatures], 1, numFeatures).length;
    }

    /** Vertex {@code vertex}'s activations of a graph (inference mode), each row flattened in C order (images: NCHW). */
    public static float[] hidden(org.deeplearning4j.nn.graph.ComputationGraph g, String vertex, float[] x, int rows, int numFeatures) {
        INDArray a = g.feedForward(NdRows.of(x, rows, numFeatures), false).get(vertex);
        if (a == null) throw new IllegalStateException("graph has no vertex " + vertex);
        return NdRows.toRowMajor(a.reshape('c', rows, a.length() / rows));
    }

    /** The flattened width of vertex {@code vertex}'s activations. */
    public static int width(org.deeplearning4j.nn.graph.ComputationGraph g, String vertex, int numFeatures) {
        return hidden(g, vertex, new float[numFeatures], 1, numFeatures).length;
    }
}
