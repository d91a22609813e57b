package io.squeeze.model;

import io.squeeze.core.BadInputException;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.BaseOutputLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.preprocessor.CnnToFeedForwardPreProcessor;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A branching DL4J graph as plain operations ({@link NetOps}) in topological order, each reading the nodes at
 * {@link Node#inputs} (-1: the network input) — the graph form of {@link NetOps#of} for runtimes that execute a
 * network themselves (the quantized runtime). A node's op carries its position in the list as its {@code layer}.
 * <p>
 * Built in one pass over the vertices in DL4J's topological order, with the fusions an integer runtime needs
 * (PyTorch's {@code fuse_modules}: conv-bn-relu, linear-relu, add-relu): a batch normalization whose input is a
 * convolution or dense vertex with the identity activation that nothing else reads is folded into its weights and
 * bias ({@link BatchNormFold}, exact to float rounding); a ReLU activation layer whose input is a convolution, dense
 * layer or add that nothing else reads becomes that node's activation; dropout is skipped (inference). An element-wise
 * {@code Add} vertex is {@link NetOps.Add}, a {@code MergeVertex} a channel {@link NetOps.Concat}, average global
 * pooling of images {@link NetOps.GlobalAvgPool}, max pooling {@link NetOps.MaxPool}, a flat-to-image or image-to-flat
 * preprocessor a {@link NetOps.Reshape} node before its layer. Anything else is refused naming the vertex.
 */
public record GraphOps(List<Node> nodes) implements Serializable {

    /**
     * One operation of the graph.
     *
     * @param name     the vertex it computes (a fused node: its host vertex)
     * @param inputs   node indices it reads, -1 for the network input
     * @param absorbed the vertices folded or fused into it (a batch normalization, a ReLU), in order
     */
    public record Node(String name, int[] inputs, NetOps.Op op, List<String> absorbed) implements Serializable {}

    public GraphOps {
        nodes = List.copyOf(nodes);
    }

    public List<NetOps.Op> ops() {
        return nodes.stream().map(Node::op).toList();
    }

    /** Each node's input indices, in node order. */
    public List<int[]> wiring() {
        return nodes.stream().map(Node::inputs).toList();
    }

    /** Node index → vertex name. */
    public Map<Integer, String> names() {
        Map<Integer, String> m = new java.util.TreeMap<>();
        for (int i = 0; i < nodes.size(); i++) m.put(i, nodes.get(i).name());
        return m;
    }

    /** The nodes of {@code g}; {@code who} names the consumer in a refusal. */
    public static GraphOps of(ComputationGraph g, String who) {
        ComputationGraphConfiguration c = g.getConfiguration();
        if (c.getNetworkInputs().size() != 1 || c.getNetworkOutputs().size() != 1)
            throw new BadInputException(who + " runs graphs of one input and one output; this one has " + c.getNetworkInputs()
                    + " and " + c.getNetworkOutputs());
        Map<String, Integer> readers = new HashMap<>();
        c.getVertexInputs().forEach((v, ins) -> ins.forEach(i -> readers.merge(i, 1, Integer::sum)));
        readers.merge(c.getNetworkOutputs().get(0), 1, Integer::sum);
        Builder b = new Builder(g, who, readers);
        b.node.put(c.getNetworkInputs().get(0), -1);
        for (String v : c.getTopologicalOrderStr()) if (c.getVertices().get(v) != null) b.vertex(v, c.getVertices().get(v), c.getVertexInputs().get(v));
        Integer last = b.node.get(c.getNetworkOutputs().get(0));
        if (last == null || last != b.nodes.size() - 1)
            throw new BadInputException(who + ": the graph's output vertex '" + c.getNetworkOutputs().get(0) + "' is not its last operation");
        List<Node> out = new ArrayList<>();
        for (int i = 0; i < b.nodes.size(); i++) out.add(b.nodes.get(i).build());
        return new GraphOps(out);
    }

    /** A node while the graph is read: its op may still take a batch normalization or a ReLU. */
    private static final class Draft {
        final String name;
        final int[] inputs;
        NetOps.Op op;
        final List<String> absorbed = new ArrayList<>();

        Draft(String name, int[] inputs, NetOps.Op op) {
            this.name = name;
            this.inputs = inputs;
            this.op = op;
        }

        Node build() {
            return new Node(name, inputs, op, List.copyOf(absorbed));
        }
    }

    private static final class Builder {
        final ComputationGraph g;
        final String who;
        final Map<String, Integer> readers, node = new HashMap<>();
        final List<Draft> nodes = new ArrayList<>();

        Builder(ComputationGraph g, String who, Map<String, Integer> readers) {
            this.g = g;
            this.who = who;
            this.readers = readers;
        }

        BadInputException refuse(String v, String what) {
            return new BadInputException("vertex '" + v + "' is " + what + ", which " + who + " does not support");
        }

        int add(String name, int[] inputs, java.util.function.IntFunction<NetOps.Op> op) {
            int i = nodes.size();
            nodes.add(new Draft(name, inputs, op.apply(i)));
            return i;
        }

        void vertex(String v, GraphVertex gv, List<String> ins) {
            int[] in = ins.stream().mapToInt(this::resolve).toArray();
            if (gv instanceof ElementWiseVertex ew) {
                if (ew.getOp() != ElementWiseVertex.Op.Add || in.length != 2) throw refuse(v, "an element-wise " + ew.getOp() + " of " + in.length + " inputs");
                node.put(v, add(v, in, i -> new NetOps.Add(i, NetOps.Act.IDENTITY)));
                return;
            }
            if (gv instanceof MergeVertex) {
                node.put(v, add(v, in, NetOps.Concat::new));
                return;
            }
            if (!(gv instanceof LayerVertex lv)) throw refuse(v, "a " + gv.getClass().getSimpleName());
            if (in.length != 1) throw refuse(v, "a layer with " + in.length + " inputs");
            InputPreProcessor pre = lv.getPreProcessor();
            if (pre instanceof CnnToFeedForwardPreProcessor f && f.getFormat() != CNN2DFormat.NCHW)
                throw refuse(v, "a layer after a " + f.getFormat() + " flattening");
            NetOps.Reshape reshape = NetOps.Reshape.of(-1, pre);
            if (reshape != null) in = new int[]{add(v + (reshape.toImage() ? "_image" : "_flat"), in, i -> NetOps.Reshape.of(i, pre))};
            else if (pre != null) throw refuse(v, "a layer with a " + pre.getClass().getSimpleName());
            layer(v, lv.getLayerConf().getLayer(), in, pre == null ? ins.get(0) : null);
        }

        /**
         * A layer vertex; {@code from} is the vertex it reads when nothing sits between (a preprocessor does), for
         * the fusions.
         */
        void layer(String v, org.deeplearning4j.nn.conf.layers.Layer l, int[] in, String from) {
            var layer = g.getLayer(v);
            if (l.getClass() == ConvolutionLayer.class) {
                ConvolutionLayer c = (ConvolutionLayer) l;
                if (c.getCnn2dDataFormat() != CNN2DFormat.NCHW) throw refuse(v, "a " + c.getCnn2dDataFormat() + " convolution");
                if (c.getDilation()[0] != 1 || c.getDilation()[1] != 1) throw refuse(v, "a dilated convolution");
                float[] w = Surgery.floats(layer.getParam("W")), b = layer.paramTable().containsKey("b") ? Surgery.floats(layer.getParam("b")) : new float[(int) c.getNOut()];
                NetOps.Act act = NetOps.act(who, -1, c.getActivationFn());
                node.put(v, add(v, in, i -> new NetOps.Conv(i, (int) c.getNOut(), (int) c.getNIn(), c.getKernelSize()[0], c.getKernelSize()[1],
                        c.getStride()[0], c.getStride()[1], c.getPadding()[0], c.getPadding()[1], c.getConvolutionMode() == ConvolutionMode.Same, w, b, act)));
            } else if (l instanceof DenseLayer || l instanceof BaseOutputLayer) {
                FeedForwardLayer f = (FeedForwardLayer) l;
                float[] w = Surgery.floats(layer.getParam("W")), b = layer.paramTable().containsKey("b") ? Surgery.floats(layer.getParam("b")) : new float[(int) f.getNOut()];
                NetOps.Act act = NetOps.act(who, -1, ((BaseLayer) l).getActivationFn());
                node.put(v, add(v, in, i -> new NetOps.Dense(i, (int) f.getNIn(), (int) f.getNOut(), w, b, act)));
            } else if (l instanceof BatchNormalization bn) {
                Draft host = from == null || in[0] < 0 || readers.getOrDefault(from, 0) != 1 ? null : nodes.get(in[0]);
                NetOps.Op h = host == null ? null : host.op;
                boolean foldable = h instanceof NetOps.Dense d && d.act() == NetOps.Act.IDENTITY
                        || h instanceof NetOps.Conv cv && cv.act() == NetOps.Act.IDENTITY && BatchNormFold.channelsFirst(bn, true);
                if (!foldable) throw refuse(v, "a BatchNormalization that does not directly follow a convolution or dense vertex"
                        + " with the identity activation read by nothing else (only such a batch normalization folds into its weights)");
                BatchNormFold.Affine a = BatchNormFold.affine(bn, layer.paramTable());
                if (h instanceof NetOps.Dense d) {
                    float[][] wb = BatchNormFold.fold(d.w(), d.b(), true, a);
                    host.op = new NetOps.Dense(d.layer(), d.nIn(), d.nOut(), wb[0], wb[1], NetOps.Act.IDENTITY);
                } else {
                    NetOps.Conv cv = (NetOps.Conv) h;
                    float[][] wb = BatchNormFold.fold(cv.w(), cv.b(), false, a);
                    host.op = new NetOps.Conv(cv.layer(), cv.out(), cv.in(), cv.kh(), cv.kw(), cv.sh(), cv.sw(), cv.ph(), cv.pw(), cv.same(), wb[0], wb[1], NetOps.Act.IDENTITY);
                }
                host.absorbed.add(v);
                node.put(v, in[0]);
            } else if (l instanceof ActivationLayer a) {
                NetOps.Act act = NetOps.act(who, -1, a.getActivationFn());
                Draft host = from == null || in[0] < 0 || readers.getOrDefault(from, 0) != 1 ? null : nodes.get(in[0]);
                if (act == NetOps.Act.RELU && host != null && fusesRelu(host.op)) {
                    host.op = withRelu(host.op);
                    host.absorbed.add(v);
                    node.put(v, in[0]);
                } else {
                    node.put(v, add(v, in, i -> new NetOps.Activation(i, act)));
                }
            } else if (l instanceof DropoutLayer) {
                node.put(v, in[0]);
            } else if (l.getClass() == SubsamplingLayer.class && ((SubsamplingLayer) l).getPoolingType() == PoolingType.MAX) {
                SubsamplingLayer s = (SubsamplingLayer) l;
                if (s.getCnn2dDataFormat() != CNN2DFormat.NCHW) throw refuse(v, "a " + s.getCnn2dDataFormat() + " pooling");
                node.put(v, add(v, in, i -> new NetOps.MaxPool(i, s.getKernelSize()[0], s.getKernelSize()[1], s.getStride()[0], s.getStride()[1],
                        s.getPadding()[0], s.getPadding()[1], s.getConvolutionMode() == ConvolutionMode.Same)));
            } else if (l instanceof GlobalPoolingLayer p && p.getPoolingType() == PoolingType.AVG) {
                if (p.getPoolingDimensions() != null && !java.util.Arrays.equals(p.getPoolingDimensions(), new int[]{2, 3}))
                    throw refuse(v, "a global pooling over dimensions " + java.util.Arrays.toString(p.getPoolingDimensions()) + " (not an image's height and width)");
                node.put(v, add(v, in, NetOps.GlobalAvgPool::new));
            } else {
                String kind = l instanceof SubsamplingLayer s ? s.getPoolingType() + " pooling" : l instanceof GlobalPoolingLayer p ? p.getPoolingType() + " global pooling" : "a " + l.getClass().getSimpleName();
                throw refuse(v, kind);
            }
        }

        int resolve(String v) {
            Integer i = node.get(v);
            if (i == null) throw new IllegalStateException("vertex " + v + " read before it is computed");
            return i;
        }
    }

    private static boolean fusesRelu(NetOps.Op op) {
        return op instanceof NetOps.Conv c && c.act() == NetOps.Act.IDENTITY || op instanceof NetOps.Dense d && d.act() == NetOps.Act.IDENTITY
                || op instanceof NetOps.Add a && a.act() == NetOps.Act.IDENTITY;
    }

    private static NetOps.Op withRelu(NetOps.Op op) {
        NetOps.Act r = NetOps.Act.RELU;
        if (op instanceof NetOps.Conv c) return new NetOps.Conv(c.layer(), c.out(), c.in(), c.kh(), c.kw(), c.sh(), c.sw(), c.ph(), c.pw(), c.same(), c.w(), c.b(), r);
        if (op instanceof NetOps.Dense d) return new NetOps.Dense(d.layer(), d.nIn(), d.nOut(), d.w(), d.b(), r);
        return new NetOps.Add(op.layer(), r);
    }

}
