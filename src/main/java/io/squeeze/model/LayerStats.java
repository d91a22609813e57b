package io.squeeze.model;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One row of {@code inspect}: a layer's parameters and how many of them are zero.
 *
 * @param index     position in the network
 * @param name      DL4J layer name
 * @param type      DL4J configuration class (DenseLayer, ConvolutionLayer, ...)
 * @param shapes    parameter key (W, b, ...) to shape, DL4J's own shapes
 * @param params    parameter count
 * @param nonzeros  parameters that are not exactly zero
 * @param denseBytes parameters as dense fp32
 */
public record LayerStats(int index, String name, String type, Map<String, long[]> shapes, long params, long nonzeros, long denseBytes) {

    public double sparsity() {
        return params == 0 ? 0 : 1.0 - (double) nonzeros / params;
    }

    /** The row reports show: index, name, type, params, nonzeros, sparsity (a mutable, ordered map). */
    public Map<String, Object> row() {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("index", index);
        r.put("name", name);
        r.put("type", type);
        r.put("params", params);
        r.put("nonzeros", nonzeros);
        r.put("sparsity", sparsity());
        return r;
    }

    public static List<LayerStats> of(MultiLayerNetwork net) {
        return of(net.getLayers());
    }

    /** A stack's layers in order, or a graph's layers in topological order. */
    public static List<LayerStats> of(Layer[] layers) {
        List<LayerStats> out = new ArrayList<>();
        for (int i = 0; i < layers.length; i++) {
            var conf = layers[i].conf().getLayer();
            Map<String, long[]> shapes = new LinkedHashMap<>();
            long params = 0, nz = 0;
            for (Map.Entry<String, INDArray> e : layers[i].paramTable().entrySet()) {
                shapes.put(e.getKey(), e.getValue().shape());
                params += e.getValue().length();
                for (float v : e.getValue().dup().data().asFloat()) if (v != 0f) nz++;
            }
            out.add(new LayerStats(i, conf.getLayerName(), conf.getClass().getSimpleName(), shapes, params, nz, params * 4));
        }
        return out;
    }

    public static long totalParams(List<LayerStats> ls) {
        return ls.stream().mapToLong(LayerStats::params).sum();
    }

    public static long totalNonzeros(List<LayerStats> ls) {
        return ls.stream().mapToLong(LayerStats::nonzeros).sum();
    }
}
