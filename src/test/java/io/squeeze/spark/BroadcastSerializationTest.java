package io.squeeze.spark;

import io.squeeze.quantize.Observer;
import io.squeeze.TestModels;
import io.squeeze.data.Normalizer;
import io.squeeze.distill.Teacher;
import io.squeeze.model.NetOps;
import io.squeeze.model.NetPayload;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.quantize.QuantRunner;
import io.squeeze.quantize.QuantizedModel;
import org.apache.spark.SparkConf;
import org.apache.spark.serializer.JavaSerializer;
import org.apache.spark.serializer.KryoSerializer;
import org.apache.spark.serializer.Serializer;
import org.apache.spark.serializer.SerializerInstance;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import scala.reflect.ClassTag$;

import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Every payload Squeeze sends to executors (broadcasts) survives Spark's Kryo serializer, configured as a job
 * configures it, and Java serialization — as an executor in another JVM reads it. Local mode never deserializes a
 * broadcast, so without this a payload holding {@code List.of} passed every local test and failed on a cluster.
 */
class BroadcastSerializationTest {
    private static final List<Serializer> SERIALIZERS = List.of(
            new KryoSerializer(new SparkConf(false).set("spark.kryo.registrator", SqueezeKryoRegistrator.CHAIN)),
            new JavaSerializer(new SparkConf(false)));

    @SuppressWarnings("unchecked")
    private static <T> T roundTrip(Serializer s, T value) {
        SerializerInstance in = s.newInstance();
        var bytes = in.serialize(value, ClassTag$.MODULE$.AnyRef());
        return (T) s.newInstance().deserialize(bytes, ClassTag$.MODULE$.AnyRef());
    }

    @Test
    void sensitivityTrialsComeBackComputingTheSameWeights() {
        java.util.Random r = new java.util.Random(3);
        float[] v = new float[12 * 5];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        var w = new io.squeeze.search.Probe.Weights(0, new long[]{12, 5}, v, io.squeeze.core.Mask.all(v.length), false);
        // and a recurrent layer's W and RW as one unit
        var rw = new io.squeeze.search.Probe.Weights(1, new long[]{4, 5}, java.util.Arrays.copyOf(v, 20), io.squeeze.core.Mask.all(20), false, "RW");
        var units = List.of(new io.squeeze.search.Probe.Unit(0, List.of(w)), new io.squeeze.search.Probe.Unit(1, List.of(w, rw)));
        for (io.squeeze.search.Probe p : List.of(new io.squeeze.search.Probe.Prune(), new io.squeeze.search.Probe.Quantize(), new io.squeeze.search.Probe.Factorize())) {
            var trials = new SensitivityJob.Trials(units, new SensitivityJob.Config(p, null, null, 64));
            for (Serializer s : SERIALIZERS) {
                SensitivityJob.Trials back = roundTrip(s, trials);
                assertEquals(trials.config().levels(), back.config().levels());
                assertEquals("RW", back.tensors().get(1).tensors().get(1).param());
                for (double level : trials.config().levels())
                    for (int u = 0; u < 2; u++) {
                        float[][] want = p.apply(units.get(u), level), got = back.config().probe().apply(back.tensors().get(u), level);
                        for (int j = 0; j < want.length; j++) assertArrayEquals(want[j], got[j], s.getClass().getSimpleName() + " " + p.key());
                    }
            }
        }
    }

    @Test
    void factoredRecurrentLayersComeBackComputingTheSameOutputs() {
        MultiLayerNetwork net = io.squeeze.quantize.LstmRuntimeTest.net(8);
        java.util.function.BiFunction<String, Integer, io.squeeze.model.Factorization.Factors> f = (param, k) -> {
            var w = net.getLayer(0).getParam(param);
            return io.squeeze.lowrank.LayerFactors.factor(w.dup('c').data().asFloat(), (int) w.rows(), (int) w.columns(), k,
                    new io.squeeze.lowrank.SvdMethod.Exact()).factors();
        };
        MultiLayerNetwork factored = io.squeeze.model.Factorization.rewrite(net, Map.of(),
                Map.of(0, new io.squeeze.model.Factorization.RecurrentFactors(f.apply("W", 2), f.apply("RW", 3))));
        MultiLayerNetwork rnn = io.squeeze.quantize.SimpleRnnRuntimeTest.net(8);
        var w = rnn.getLayer(0).getParam("RW");
        MultiLayerNetwork factoredRnn = io.squeeze.model.Factorization.rewrite(rnn, Map.of(), Map.of(0, new io.squeeze.model.Factorization.RecurrentFactors(null,
                io.squeeze.lowrank.LayerFactors.factor(w.dup('c').data().asFloat(), 6, 6, 2, new io.squeeze.lowrank.SvdMethod.Exact()).factors())));
        var x = org.nd4j.linalg.factory.Nd4j.linspace(-1, 1, 5 * 12).reshape(5, 12).castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT);
        for (Serializer s : SERIALIZERS)
            for (MultiLayerNetwork n : List.of(factored, factoredRnn)) {
                MultiLayerNetwork back = roundTrip(s, NetPayload.of(n)).build();
                assertEquals(n.getLayer(0).conf().getLayer(), back.getLayer(0).conf().getLayer(), s.getClass().getSimpleName());
                assertEquals(n.output(x), back.output(x), s.getClass().getSimpleName());
            }
    }

    @Test
    void jdkUnmodifiableCollectionsComeBackEqual() {
        List<Object> values = List.of(List.of(), List.of(1), List.of(1, 2, 3), Stream.of(4, 5).toList(),
                Set.of(7, 8, 9), Map.of(1, "a", 2, "b"), Map.of(3, "c"),
                Collections.unmodifiableList(Arrays.asList(1, 2)), Arrays.asList("x", "y"),
                Collections.unmodifiableSet(new TreeSet<>(Set.of(3, 1))), Collections.unmodifiableMap(new HashMap<>(Map.of(1, 2))),
                Collections.unmodifiableSortedMap(new TreeMap<>(Map.of(2, 1, 1, 2))), Collections.unmodifiableNavigableSet(new TreeSet<>(Set.of(5, 4))),
                new Holder(List.of(List.of(1.5, 2.5), List.of()), Map.of("k", List.of("v"))));
        for (Serializer s : SERIALIZERS)
            for (Object v : values) {
                Object back = roundTrip(s, v);
                assertEquals(v, back, s.getClass().getSimpleName() + " " + v.getClass().getName());
                assertEquals(v.getClass().getName().contains("Sorted") || v.getClass().getName().contains("Navigable"),
                        back.getClass().getName().contains("Sorted") || back.getClass().getName().contains("Navigable"), "sortedness of " + v);
            }
    }

    record Holder(List<List<Double>> nested, Map<String, List<String>> map) implements java.io.Serializable {}

    @Test
    void aCalibratedQuantizedModelComesBackComputingTheSameIntegers() {
        MultiLayerNetwork net = TestModels.mlp(16, new int[]{8}, 3, 4);
        QuantConfig cfg = new QuantConfig(QuantConfig.Mode.STATIC, QuantConfig.Precision.INT8, QuantConfig.Granularity.CHANNEL,
                QuantConfig.Scheme.SYMMETRIC, false, new Observer.MinMax(), List.of());
        QuantizedModel qm = QuantizedModel.quantizeWeights(NetOps.of(net), cfg, Map.of(0, "dense0"));
        float[] x = new float[5 * 16];
        Random r = new Random(2);
        for (int i = 0; i < x.length; i++) x[i] = r.nextFloat();
        io.squeeze.quantize.Calibration c = new io.squeeze.quantize.Calibration(cfg.observer().firstPass());
        new QuantRunner(qm).run(x, 5, 16, QuantRunner.Path.FLOAT, c::update);
        qm = qm.withActivations(io.squeeze.quantize.Calibrator.qparams(
                io.squeeze.quantize.Calibrator.ranges(cfg.observer(), c, null, false)));
        float[] expected = new QuantRunner(qm).run(x, 5, 16, QuantRunner.Path.INTEGER, null);
        for (Serializer s : SERIALIZERS) {
            QuantizedModel back = roundTrip(s, qm);
            assertEquals(qm.plan(), back.plan(), s.getClass().getSimpleName());
            assertEquals(qm.weights().keySet(), back.weights().keySet());
            assertArrayEquals(expected, new QuantRunner(back).run(x, 5, 16, QuantRunner.Path.INTEGER, null), s.getClass().getSimpleName());
        }
    }

    @Test
    void aDynamicallyQuantizedLstmComesBackComputingTheSameOutputs() {
        MultiLayerNetwork net = io.squeeze.quantize.LstmRuntimeTest.net(21);
        QuantConfig cfg = new QuantConfig(QuantConfig.Mode.DYNAMIC, QuantConfig.Precision.INT8, QuantConfig.Granularity.CHANNEL,
                QuantConfig.Scheme.SYMMETRIC, false, new Observer.MinMax(), List.of());
        QuantizedModel qm = QuantizedModel.quantizeWeights(NetOps.of(net), cfg, Map.of());
        float[] x = new float[3 * 12];
        Random r = new Random(4);
        for (int i = 0; i < x.length; i++) x[i] = r.nextFloat();
        float[] expected = new QuantRunner(qm).run(x, 3, 12, QuantRunner.Path.INTEGER, null);
        NetPayload p = NetPayload.of(net); // the configuration travels as JSON, its sequence preprocessors with it
        for (Serializer s : SERIALIZERS) {
            QuantizedModel back = roundTrip(s, qm);
            assertArrayEquals(expected, new QuantRunner(back).run(x, 3, 12, QuantRunner.Path.INTEGER, null), s.getClass().getSimpleName());
            TestModels.assertSameWeights(net, roundTrip(s, p).build());
            assertEquals(net.getLayerWiseConfigurations(), roundTrip(s, p).build().getLayerWiseConfigurations());
        }
    }

    @Test
    void theEpochLossListenerComesBackCounting() {
        // the copies add to accumulators of their own; they reach the driver's only when deserialized in a task
        // (DL4J's workers travel in the task closure), which EpochLossTest checks on Spark
        EpochLoss loss = new EpochLoss(SparkSessions.jsc(io.squeeze.TestSpark.get()));
        var net = TestModels.mlp(4, new int[]{3}, 2, 1);
        for (Serializer s : SERIALIZERS) {
            EpochLoss back = roundTrip(s, loss);
            back.take();
            net.setScore(2.0);
            back.iterationDone(net, 0, 0);
            net.setScore(4.0);
            back.iterationDone(net, 1, 0);
            assertEquals(3.0, back.take(), 1e-12, s.getClass().getSimpleName());
        }
    }

    @Test
    void aCalibratedQuantizedGraphComesBackComputingTheSameIntegers() {
        var g = io.squeeze.model.ResNetGraphTest.randomized(io.squeeze.model.ResNetGraphTest.mnist(1, 5), 8);
        float[] x = io.squeeze.model.ResNetGraphTest.images(3, 9).data().asFloat();
        QuantConfig cfg = new QuantConfig(QuantConfig.Mode.STATIC, QuantConfig.Precision.INT8, QuantConfig.Granularity.CHANNEL,
                QuantConfig.Scheme.SYMMETRIC, false, new Observer.MinMax(), List.of());
        QuantizedModel qm = QuantizedModel.quantizeWeights(io.squeeze.model.GraphOps.of(g, "test"), cfg);
        io.squeeze.quantize.Calibration c = new io.squeeze.quantize.Calibration(cfg.observer().firstPass());
        new QuantRunner(qm).run(x, 3, 784, QuantRunner.Path.FLOAT, c::update);
        qm = qm.withActivations(io.squeeze.quantize.Calibrator.qparams(io.squeeze.quantize.Calibrator.ranges(cfg.observer(), c, null, false)));
        float[] expected = new QuantRunner(qm).run(x, 3, 784, QuantRunner.Path.INTEGER, null);
        for (Serializer s : SERIALIZERS) {
            QuantizedModel back = roundTrip(s, qm);
            org.junit.jupiter.api.Assertions.assertTrue(back.isGraph(), s.getClass().getSimpleName());
            assertEquals(qm.plan(), back.plan(), s.getClass().getSimpleName());
            for (int i = 0; i < qm.wiring().size(); i++) assertArrayEquals(qm.wiring().get(i), back.wiring().get(i));
            assertArrayEquals(expected, new QuantRunner(back).run(x, 3, 784, QuantRunner.Path.INTEGER, null), s.getClass().getSimpleName());
        }
    }

    @Test
    void aResNetGraphComesBackComputingTheSameOutputsAndLogits() {
        var g = io.squeeze.model.ResNetGraphTest.mnist(1, 5);
        NetPayload p = NetPayload.of(g);
        float[] x = new float[2 * 784];
        Random r = new Random(6);
        for (int i = 0; i < x.length; i++) x[i] = r.nextFloat();
        var in = org.nd4j.linalg.factory.Nd4j.create(x, new long[]{2, 784}, 'c');
        var dl4j = new Teacher.Dl4j(p, Normalizer.NONE, 784, 10, "resnet", "", "dl4j_zip");
        float[] logits = dl4j.open().logits(x.clone(), 2);
        for (Serializer s : SERIALIZERS) {
            NetPayload back = roundTrip(s, p);
            assertEquals(g.getConfiguration(), back.buildGraph().getConfiguration());
            assertEquals(g.outputSingle(false, in), back.buildGraph().outputSingle(false, in), s.getClass().getSimpleName());
            assertArrayEquals(logits, roundTrip(s, dl4j).open().logits(x.clone(), 2), 0f, s.getClass().getSimpleName());
        }
    }

    @Test
    void aGraphConfigurationWithMaskConstraintsOrLoraAdaptersComesBackEnforcingAndAdaptingTheSame() {
        // what parameter averaging ships of a masked fine-tuning or a LoRA graph: the configuration object and its JSON
        var g = io.squeeze.model.ResNetGraphTest.mnist(1, 5);
        var names = io.squeeze.model.GraphMasks.names(g);
        int conv = names.indexOf("s3b1_conv2");
        boolean[] kept = new boolean[(int) g.getLayers()[conv].getParam("W").length()];
        for (int i = 0; i < kept.length; i += 3) kept[i] = true;
        var masks = java.util.Map.of(new io.squeeze.core.TensorKey(conv, "W"), io.squeeze.core.Mask.of(kept));
        var masked = io.squeeze.model.GraphMasks.withMaskConstraints(g, masks);
        for (Serializer s : SERIALIZERS) {
            var back = roundTrip(s, masked.getConfiguration());
            for (var c : List.of(back, org.deeplearning4j.nn.conf.ComputationGraphConfiguration.fromJson(back.toJson()))) {
                var layer = ((org.deeplearning4j.nn.conf.graph.LayerVertex) c.getVertices().get("s3b1_conv2")).getLayerConf().getLayer();
                var mc = (io.squeeze.model.MaskConstraint) layer.getConstraints().stream().filter(x -> x instanceof io.squeeze.model.MaskConstraint)
                        .findFirst().orElseThrow();
                assertEquals(io.squeeze.core.Mask.of(kept), mc.mask("W"), s.getClass().getSimpleName());
                var rebuilt = new org.deeplearning4j.nn.graph.ComputationGraph(c);
                rebuilt.init(masked.params().dup(), false);
                rebuilt.getLayer("s3b1_conv2").getParam("W").addi(1f); // an update, then the constraint as DL4J applies it
                rebuilt.getLayer("s3b1_conv2").applyConstraints(0, 0);
                float[] w = rebuilt.getLayer("s3b1_conv2").getParam("W").dup('c').data().asFloat();
                for (int i = 0; i < w.length; i++) if (!kept[i]) assertEquals(0f, w[i], "pruned entry " + i);
            }
        }
        var lora = io.squeeze.model.Lora.attach(io.squeeze.model.KerasImportTest.residual(), java.util.Set.of("d1", "left"), 2, 4, 7, null);
        for (Serializer s : SERIALIZERS) {
            var back = new org.deeplearning4j.nn.graph.ComputationGraph(roundTrip(s, lora.getConfiguration()));
            back.init(lora.params().dup(), false);
            var x = org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 3, 6);
            assertEquals(lora.outputSingle(false, x), back.outputSingle(false, x), s.getClass().getSimpleName());
            org.junit.jupiter.api.Assertions.assertInstanceOf(io.squeeze.model.LoraDense.class, back.getLayer("d1").conf().getLayer());
        }
        // convolution adapters (strided, unbiased, 1x1 projections) of a ResNet
        var convLora = io.squeeze.model.Lora.attach(io.squeeze.model.ResNetGraphTest.mnist(1, 2), java.util.Set.of("stem", "s2b1_conv1", "s3b1_proj"), 2, 4, 7, null);
        for (Serializer s : SERIALIZERS) {
            var c = roundTrip(s, convLora.getConfiguration());
            assertEquals(convLora.getConfiguration(), c, s.getClass().getSimpleName());
            var back = new org.deeplearning4j.nn.graph.ComputationGraph(c);
            back.init(convLora.params().dup(), false);
            var x = org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 2, 784);
            assertEquals(convLora.outputSingle(false, x), back.outputSingle(false, x), s.getClass().getSimpleName());
            org.junit.jupiter.api.Assertions.assertInstanceOf(io.squeeze.model.LoraConv.class, back.getLayer("s2b1_conv1").conf().getLayer());
        }
    }

    @Test
    void gptqPassesAndConfigsComeBackAndTheirGramMatricesMerge() {
        QuantConfig cfg = new QuantConfig(QuantConfig.Mode.STATIC, QuantConfig.Precision.INT4, null, null, false, new Observer.MinMax(), List.of(),
                QuantConfig.Rounding.GPTQ);
        io.squeeze.quantize.Calibration.Pass pass = cfg.observer().firstPass().withGrams(Set.of(0, 2));
        float[] x = new float[6 * 4];
        for (int i = 0; i < x.length; i++) x[i] = i % 5 - 1.5f;
        for (Serializer s : SERIALIZERS) {
            assertEquals(cfg, roundTrip(s, cfg), s.getClass().getSimpleName());
            var back = roundTrip(s, pass);
            assertEquals(pass.grams(), back.grams(), s.getClass().getSimpleName());
            var c = new io.squeeze.quantize.Calibration(back).updateInput(0, x, 6, 4).updateInput(1, x, 6, 4);
            var merged = io.squeeze.quantize.Calibration.fromBytes(c.toBytes()).merge(io.squeeze.quantize.Calibration.fromBytes(c.toBytes()));
            assertEquals(Set.of(0), merged.grams().keySet(), "only the passes' layers");
            assertEquals(12, merged.grams().get(0).rows());
            assertEquals(2 * c.grams().get(0).get(1, 3), merged.grams().get(0).get(1, 3));
        }
    }

    @Test
    void kerasRgbCnnsReadingKerasRowsComeBackComputingTheSameOutputs() {
        var st = new io.squeeze.core.Storage(new org.apache.hadoop.conf.Configuration());
        var stack = io.squeeze.artifact.Models.load(st, new java.io.File("src/test/resources/keras/keras-cnn-rgb.h5").getAbsolutePath()).net();
        var graph = io.squeeze.model.ModelIO.loadFile(st, new org.apache.hadoop.fs.Path(new java.io.File("src/test/resources/keras/keras-resnet-rgb.h5").getAbsolutePath()), true).graph();
        float[] x = new float[3 * 192];
        Random r = new Random(8);
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        var in = org.nd4j.linalg.factory.Nd4j.create(x, new long[]{3, 192}, 'c');
        for (Serializer s : SERIALIZERS) {
            var backStack = roundTrip(s, NetPayload.of(stack)).build();
            assertEquals(new io.squeeze.model.HwcRows(8, 8, 3), backStack.getLayerWiseConfigurations().getInputPreProcess(0));
            assertEquals(stack.output(in), backStack.output(in), s.getClass().getSimpleName());
            var backGraph = roundTrip(s, NetPayload.of(graph)).buildGraph();
            assertEquals(graph.getConfiguration(), backGraph.getConfiguration());
            assertEquals(graph.outputSingle(false, in), backGraph.outputSingle(false, in), s.getClass().getSimpleName());
        }
    }

    @Test
    void networksTeachersAndHistogramBinsComeBackEqual() {
        MultiLayerNetwork net = TestModels.mlp(12, new int[]{6}, 3, 9);
        NetPayload p = NetPayload.of(net);
        Teacher.Dl4j dl4j = new Teacher.Dl4j(p, Normalizer.NONE, 12, 3, "teacher.zip", "ab12", "dl4j");
        Teacher.Onnx onnx = new Teacher.Onnx("k", new byte[]{1, 2, 3}, "in", "out", new long[]{-1, 12}, 12, 3, "t.onnx", "cd34");
        HashMap<Integer, Integer> bins = new HashMap<>(Map.of(0, 3, 2, 7));
        for (Serializer s : SERIALIZERS) {
            NetPayload pb = roundTrip(s, p);
            assertEquals(p.key(), pb.key());
            assertEquals(p.confJson(), pb.confJson());
            assertArrayEquals(p.params(), pb.params());
            TestModels.assertSameWeights(net, pb.build());
            Teacher.Dl4j db = roundTrip(s, dl4j);
            assertArrayEquals(dl4j.payload().params(), db.payload().params());
            assertEquals(List.of(dl4j.numFeatures(), dl4j.numClasses(), dl4j.source(), dl4j.sha256(), dl4j.kind()),
                    List.of(db.numFeatures(), db.numClasses(), db.source(), db.sha256(), db.kind()));
            Teacher.Onnx ob = roundTrip(s, onnx);
            assertArrayEquals(onnx.model(), ob.model());
            assertArrayEquals(onnx.inputShape(), ob.inputShape());
            assertEquals(onnx.output(), ob.output());
            assertEquals(bins, roundTrip(s, bins));
        }
    }

    @Test
    void predictionScorersComeBackScoringTheSame() {
        MultiLayerNetwork net = TestModels.mlp(16, new int[]{8}, 3, 4);
        QuantConfig cfg = new QuantConfig(QuantConfig.Mode.DYNAMIC, QuantConfig.Precision.INT8, QuantConfig.Granularity.CHANNEL,
                QuantConfig.Scheme.SYMMETRIC, false, new Observer.MinMax(), List.of());
        QuantizedModel qm = QuantizedModel.quantizeWeights(NetOps.of(net), cfg, Map.of());
        float[] x = new float[5 * 16];
        Random r = new Random(3);
        for (int i = 0; i < x.length; i++) x[i] = r.nextFloat();
        List<PredictJob.Scorer> scorers = List.of(new PredictJob.Network(NetPayload.of(net), Normalizer.NONE, 16, true),
                new PredictJob.Network(NetPayload.of(net), Normalizer.NONE, 16, false), new PredictJob.Quantized(qm, Normalizer.NONE, 16));
        PredictJob.Config c = new PredictJob.Config("m", io.squeeze.data.DataSpec.parse("csv:d.csv", io.squeeze.data.Split.TEST, false),
                PredictJob.Runtime.ONNX, 2, true, 64);
        for (Serializer s : SERIALIZERS) {
            for (PredictJob.Scorer sc : scorers)
                assertArrayEquals(sc.open().logits(x.clone(), 5), roundTrip(s, sc).open().logits(x.clone(), 5), 0f, s.getClass().getSimpleName() + " " + sc.getClass());
            assertEquals(c, roundTrip(s, c));
        }
    }

    @Test
    void pruningTargetsAndTheirLayoutComeBack() {
        // a task's plan (no values, no mask), the tensor a reader hands over a shuffle, and the layout it reads by
        var t = new io.squeeze.prune.Target(3, 2, "W", new long[]{2, 3}, null, null, io.squeeze.prune.Amount.fraction(0.5), 1, 0);
        var loaded = t.withValues(new float[]{1, -2, 3, -4, 5, -6});
        var layout = io.squeeze.model.ParamLayout.of(io.squeeze.TestModels.mlp(4, new int[]{3}, 2, 1).getLayerWiseConfigurations());
        for (Serializer s : SERIALIZERS) {
            var p = roundTrip(s, t);
            assertEquals(6, p.size());
            assertEquals(null, p.values());
            assertEquals(io.squeeze.core.Mask.all(6), p.withValues(new float[6]).mask());
            var l = roundTrip(s, loaded);
            assertArrayEquals(loaded.values(), l.values());
            assertEquals(loaded.mask(), l.mask());
            assertEquals("0.5", l.amount().toString());
            assertEquals(layout.toString(), roundTrip(s, layout).toString());
            assertEquals(layout.total(), roundTrip(s, layout).total());
        }
    }

    @Test
    void masksByTensorKeyComeBackEqual() {
        Map<io.squeeze.core.TensorKey, io.squeeze.core.Mask> masks = new TreeMap<>(Map.of(io.squeeze.core.TensorKey.weights(2),
                io.squeeze.core.Mask.of(new boolean[]{true, false, true}), new io.squeeze.core.TensorKey(0, "b"), io.squeeze.core.Mask.all(4)));
        for (Serializer s : SERIALIZERS) {
            Map<io.squeeze.core.TensorKey, io.squeeze.core.Mask> back = roundTrip(s, masks);
            assertEquals(masks, back, s.getClass().getSimpleName());
            assertEquals(List.of("0_b", "2_W"), back.keySet().stream().map(Object::toString).toList(), "ordered by layer");
        }
        assertEquals(new io.squeeze.core.TensorKey(12, "W"), io.squeeze.core.TensorKey.parse("12_W"));
    }

    @Test
    void theBadRowGuardComesBackAndStillStopsAtABadRow() {
        BadRows bad = new BadRows(io.squeeze.spark.SparkSessions.jsc(io.squeeze.TestSpark.get()));
        for (Serializer s : SERIALIZERS) {
            BadRows back = roundTrip(s, bad);
            var it = back.guard(Stream.<Integer>of(1, 2, 3).map(x -> {
                if (x == 3) throw new io.squeeze.core.BadInputException("row 2: bad");
                return x;
            }).iterator());
            List<Integer> seen = new java.util.ArrayList<>();
            it.forEachRemaining(seen::add);
            assertEquals(List.of(1, 2), seen, s.getClass().getSimpleName());
        }
        bad.guard(Stream.<Integer>of(1).map(x -> {
            throw new io.squeeze.core.BadInputException("row 0: bad");
        }).iterator()).hasNext();
        var e = org.junit.jupiter.api.Assertions.assertThrows(io.squeeze.core.BadInputException.class, bad::check);
        assertEquals("row 0: bad", e.getMessage());
    }

    @Test
    void theTrainingHooksComeBackAndTheDropoutSeedDrawsTheSameMasks() {
        var net = io.squeeze.TestModels.mlp(8, new int[]{4}, 3, 1);
        var mb = new org.nd4j.linalg.dataset.DataSet(org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 5, 8),
                org.nd4j.linalg.factory.Nd4j.eye(5).getColumns(0, 1, 2));
        DropoutSeedHook hook = new DropoutSeedHook(42);
        hook.preUpdate(mb, net);
        double want = org.nd4j.linalg.factory.Nd4j.getRandom().nextDouble();
        for (Serializer s : SERIALIZERS) {
            org.junit.jupiter.api.Assertions.assertNotNull(roundTrip(s, new TaskThreadsHook()));
            org.nd4j.linalg.factory.Nd4j.getRandom().nextDouble(); // another task's draws before this minibatch
            roundTrip(s, hook).preUpdate(mb, net);
            assertEquals(want, org.nd4j.linalg.factory.Nd4j.getRandom().nextDouble(), s.getClass().getSimpleName());
        }
        new DropoutSeedHook(43).preUpdate(mb, net);
        org.junit.jupiter.api.Assertions.assertNotEquals(want, org.nd4j.linalg.factory.Nd4j.getRandom().nextDouble(), "another seed, other masks");
    }

    @Test
    void theRoundRobinPartitionerComesBackDealingTheSameWay() {
        RoundRobin p = new RoundRobin(3);
        for (Serializer s : SERIALIZERS) {
            RoundRobin back = roundTrip(s, p);
            assertEquals(p, back);
            for (long key : new long[]{0, 1, 2, 5, (1L << 32) | 7, (4L << 32) | 1000})
                assertEquals(p.getPartition(key), back.getPartition(key), s.getClass().getSimpleName() + " key " + key);
        }
    }

    @Test
    void anNf4QuantizedModelComesBackWithTheSameWeights() {
        MultiLayerNetwork net = TestModels.mlp(70, new int[]{9}, 3, 6);
        QuantConfig cfg = new QuantConfig(QuantConfig.Mode.DYNAMIC, QuantConfig.Precision.NF4, QuantConfig.Granularity.TENSOR, null, false,
                new Observer.MinMax(), List.of());
        QuantizedModel qm = QuantizedModel.quantizeWeights(NetOps.of(net), cfg, Map.of());
        for (Serializer s : SERIALIZERS) {
            QuantizedModel back = roundTrip(s, qm);
            for (var op : qm.ops()) if (QuantizedModel.shape(op) != null)
                assertArrayEquals(qm.effectiveWeights(op), back.effectiveWeights(op), s.getClass().getSimpleName());
        }
    }

    @Test
    void aCodebookTaskAndItsClustersComeBackClusteringTheSameWay() {
        float[] w = new float[3000];
        Random r = new Random(4);
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        boolean[] keep = new boolean[w.length];
        for (int i = 0; i < keep.length; i++) keep[i] = i % 4 != 0;
        CodebookJob.Task t = new CodebookJob.Task(2, w, io.squeeze.core.Mask.of(keep).toBytes(), 16);
        var expected = io.squeeze.quantize.WeightSharing.cluster(t.w(), t.kept(), t.k(), 300);
        for (Serializer s : SERIALIZERS) {
            CodebookJob.Task back = roundTrip(s, t);
            var c = io.squeeze.quantize.WeightSharing.cluster(back.w(), back.kept(), back.k(), 300);
            assertArrayEquals(expected.centroids(), c.centroids(), s.getClass().getSimpleName());
            assertArrayEquals(expected.assignment(), c.assignment());
            var cb = roundTrip(s, c);
            assertArrayEquals(c.centroids(), cb.centroids());
            assertArrayEquals(c.assignment(), cb.assignment());
            assertEquals(c.sse(), cb.sse());
        }
    }

    /** Codebook fine-tuning's listener, which parameter averaging's worker carries to executors, comes back tying gradients. */
    @Test
    void theTiedGradientsListenerComesBackSummingEachClustersGradients() {
        var setup = io.squeeze.model.TiedGradientsTest.setup(new org.nd4j.linalg.learning.config.Sgd(0.1), 5);
        var batch = io.squeeze.model.TiedGradientsTest.batch(16, 6);
        float[] g = io.squeeze.model.TiedGradientsTest.gradient(setup.plain(), batch, "0_W").dup('c').data().asFloat();
        float[] want = io.squeeze.model.CodebookConstraint.sumGradients(g.clone(), setup.cluster(), 4);
        for (Serializer s : SERIALIZERS) {
            var back = roundTrip(s, new io.squeeze.model.TiedGradients());
            var net = setup.tied();
            net.setInput(batch.getFeatures());
            net.setLabels(batch.getLabels());
            net.computeGradientAndScore();
            back.onGradientCalculation(net);
            assertArrayEquals(want, net.gradient().getGradientFor("0_W").dup('c').data().asFloat(), 0f, s.getClass().getSimpleName());
        }
    }
}
