package io.squeeze.artifact;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A builder of one ONNX graph over ONNX's own protobuf classes ({@code onnx-ml.proto}, as generated in Tribuo's
 * {@code tribuo-util-onnx}): initializers, nodes with unique names, inputs and outputs. Tensors are stored little
 * endian in {@code raw_data}, as the ONNX spec requires. A weight tensor whose zeros make a sparse form smaller than
 * its dense 4 bytes per value is stored as a {@code Constant} node's {@code sparse_value} (COO with linear int64
 * indices: 12 bytes per non-zero, so below one third non-zero), which the graph sees as the dense tensor and ONNX
 * Runtime densifies once when it loads the model.
 */
final class OnnxGraph {
    private final OnnxMl.GraphProto.Builder g = OnnxMl.GraphProto.newBuilder();
    private final Map<String, Integer> used = new LinkedHashMap<>();
    private int sparse;

    OnnxGraph(String name) {
        g.setName(name);
    }

    /** A fresh value name from {@code base} (base, base_1, base_2, ...). */
    String name(String base) {
        int n = used.merge(base, 1, Integer::sum);
        return n == 1 ? base : base + "_" + (n - 1);
    }

    /** How many weight tensors were stored sparse. */
    int sparseWeights() {
        return sparse;
    }

    /** A float32 initializer. */
    String floats(String base, float[] v, long... dims) {
        return floats(base, false, v, dims);
    }

    /** A float32 weight tensor; stored sparse when {@code mayBeSparse} and that is smaller. */
    String floats(String base, boolean mayBeSparse, float[] v, long... dims) {
        String n = name(base);
        long nnz = 0;
        for (float x : v) if (x != 0f) nnz++;
        if (mayBeSparse && v.length > 0 && nnz * 12 < (long) v.length * 4) {
            ByteBuffer vals = le(nnz * 4), idx = le(nnz * 8);
            for (int i = 0; i < v.length; i++)
                if (v[i] != 0f) {
                    vals.putFloat(v[i]);
                    idx.putLong(i);
                }
            OnnxMl.SparseTensorProto.Builder s = OnnxMl.SparseTensorProto.newBuilder()
                    .setValues(tensor(n, OnnxMl.TensorProto.DataType.FLOAT, vals, nnz))
                    .setIndices(tensor(n + "_indices", OnnxMl.TensorProto.DataType.INT64, idx, nnz));
            for (long d : dims) s.addDims(d);
            // a Constant with a sparse_value: a dense tensor to the graph (a sparse_initializer would be typed
            // sparse_tensor by ONNX's shape inference, which Gemm/Conv do not take)
            g.addNode(OnnxMl.NodeProto.newBuilder().setOpType("Constant").setName(name("Constant_" + n)).addOutput(n)
                    .addAttribute(OnnxMl.AttributeProto.newBuilder().setName("sparse_value")
                            .setType(OnnxMl.AttributeProto.AttributeType.SPARSE_TENSOR).setSparseTensor(s)));
            sparse++;
            return n;
        }
        ByteBuffer b = le(v.length * 4L);
        for (float x : v) b.putFloat(x);
        g.addInitializer(tensor(n, OnnxMl.TensorProto.DataType.FLOAT, b, dims));
        return n;
    }

    /** A float16 initializer from IEEE half bit patterns. */
    String halves(String base, short[] v, long... dims) {
        String n = name(base);
        ByteBuffer b = le(v.length * 2L);
        for (short x : v) b.putShort(x);
        g.addInitializer(tensor(n, OnnxMl.TensorProto.DataType.FLOAT16, b, dims));
        return n;
    }

    /** An int8 ({@code signed}) or uint8 initializer. */
    String bytes(String base, boolean signed, int[] v, long... dims) {
        String n = name(base);
        ByteBuffer b = le(v.length);
        for (int x : v) b.put((byte) x);
        g.addInitializer(tensor(n, signed ? OnnxMl.TensorProto.DataType.INT8 : OnnxMl.TensorProto.DataType.UINT8, b, dims));
        return n;
    }

    String int32s(String base, int[] v, long... dims) {
        String n = name(base);
        ByteBuffer b = le(v.length * 4L);
        for (int x : v) b.putInt(x);
        g.addInitializer(tensor(n, OnnxMl.TensorProto.DataType.INT32, b, dims));
        return n;
    }

    String int64s(String base, long[] v, long... dims) {
        String n = name(base);
        ByteBuffer b = le(v.length * 8L);
        for (long x : v) b.putLong(x);
        g.addInitializer(tensor(n, OnnxMl.TensorProto.DataType.INT64, b, dims));
        return n;
    }

    private static ByteBuffer le(long bytes) {
        return ByteBuffer.allocate(Math.toIntExact(bytes)).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static OnnxMl.TensorProto tensor(String name, OnnxMl.TensorProto.DataType t, ByteBuffer b, long... dims) {
        OnnxMl.TensorProto.Builder tb = OnnxMl.TensorProto.newBuilder().setName(name).setDataType(t.getNumber())
                .setRawData(ByteString.copyFrom(b.array()));
        for (long d : dims) tb.addDims(d);
        return tb.build();
    }

    /**
     * {@code x} reshaped as {@code r} says: flat rows to images {@code [N, c, h, w]} — rows in (height, width,
     * channel) order ({@code r.hwc()}) reshaped to {@code [N, h, w, c]} then transposed channels first — or images
     * to flat rows.
     */
    String reshape(io.squeeze.model.NetOps.Reshape r, String x, String out) {
        long[] shape = !r.toImage() ? new long[]{-1, (long) r.c() * r.h() * r.w()}
                : r.hwc() ? new long[]{-1, r.h(), r.w(), r.c()} : new long[]{-1, r.c(), r.h(), r.w()};
        String y = node("Reshape", out, new String[]{x, int64s(out + "_shape", shape, shape.length)});
        return r.hwc() ? node("Transpose", out + "_chw", new String[]{y}, "perm", new long[]{0, 3, 1, 2}) : y;
    }

    /** A node of {@code op} with one output named from {@code out}; attributes as name/value pairs. */
    String node(String op, String out, String[] inputs, Object... attrs) {
        String o = name(out);
        node(op, new String[]{o}, inputs, attrs);
        return o;
    }

    /** A node with several (already named) outputs. */
    void node(String op, String[] outputs, String[] inputs, Object... attrs) {
        OnnxMl.NodeProto.Builder n = OnnxMl.NodeProto.newBuilder().setOpType(op).setName(name(op + "_" + outputs[0]));
        for (String i : inputs) n.addInput(i);
        for (String o : outputs) n.addOutput(o);
        for (int a = 0; a < attrs.length; a += 2) n.addAttribute(attribute((String) attrs[a], attrs[a + 1]));
        g.addNode(n);
    }

    private static OnnxMl.AttributeProto attribute(String name, Object v) {
        OnnxMl.AttributeProto.Builder a = OnnxMl.AttributeProto.newBuilder().setName(name);
        if (v instanceof Integer i) a.setType(OnnxMl.AttributeProto.AttributeType.INT).setI(i);
        else if (v instanceof Long l) a.setType(OnnxMl.AttributeProto.AttributeType.INT).setI(l);
        else if (v instanceof Float f) a.setType(OnnxMl.AttributeProto.AttributeType.FLOAT).setF(f);
        else if (v instanceof long[] ls) {
            a.setType(OnnxMl.AttributeProto.AttributeType.INTS);
            for (long l : ls) a.addInts(l);
        } else if (v instanceof String[] ss) {
            a.setType(OnnxMl.AttributeProto.AttributeType.STRINGS);
            for (String x : ss) a.addStrings(com.google.protobuf.ByteString.copyFromUtf8(x));
        } else throw new IllegalArgumentException("attribute " + name + " of type " + v.getClass());
        return a.build();
    }

    /** A float32 graph input or output [N, dims...] with a symbolic batch dimension. */
    void input(String name, long... dims) {
        g.addInput(valueInfo(name, dims));
    }

    void output(String name, long... dims) {
        g.addOutput(valueInfo(name, dims));
    }

    private static OnnxMl.ValueInfoProto valueInfo(String name, long... dims) {
        OnnxMl.TensorShapeProto.Builder s = OnnxMl.TensorShapeProto.newBuilder()
                .addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimParam("N"));
        for (long d : dims) s.addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        return OnnxMl.ValueInfoProto.newBuilder().setName(name).setType(OnnxMl.TypeProto.newBuilder()
                .setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(OnnxMl.TensorProto.DataType.FLOAT.getNumber()).setShape(s))).build();
    }

    /** The model: IR version 7, the default domain at {@code opset}, producer and metadata as given. */
    OnnxMl.ModelProto model(int opset, String producer, String version, Map<String, String> metadata) {
        OnnxMl.ModelProto.Builder m = OnnxMl.ModelProto.newBuilder().setIrVersion(7).setProducerName(producer).setProducerVersion(version)
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset)).setGraph(g);
        metadata.forEach((k, v) -> m.addMetadataProps(OnnxMl.StringStringEntryProto.newBuilder().setKey(k).setValue(v)));
        return m.build();
    }
}
