package io.squeeze.spark;

import io.squeeze.TestModels;
import io.squeeze.TestSpark;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import org.apache.spark.SparkConf;
import org.apache.spark.serializer.JavaSerializer;
import org.apache.spark.serializer.KryoSerializer;
import org.apache.spark.serializer.Serializer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import scala.reflect.ClassTag$;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Local SGD is what it says: one worker trains as an in-process fit of the same minibatches in the drawn order
 * (parameters, Adam's moments and step counts carried across rounds); two workers start every round from the mean of
 * their parameters and updater state. Its payloads survive Kryo and Java serialization.
 */
class LocalSgdTest {
    private static final long SEED = 11;

    private static List<DataSet> batches(int n, int rows, int nIn, int classes, long seed) {
        Random r = new Random(seed);
        List<DataSet> out = new ArrayList<>();
        for (int b = 0; b < n; b++) {
            float[] x = new float[rows * nIn], y = new float[rows * classes];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            for (int i = 0; i < rows; i++) y[i * classes + r.nextInt(classes)] = 1;
            out.add(new DataSet(Nd4j.create(x, new long[]{rows, nIn}, 'c'), Nd4j.create(y, new long[]{rows, classes}, 'c')));
        }
        return out;
    }

    private static INDArray updater(Model m) {
        return m instanceof ComputationGraph g ? g.getUpdater().getStateViewArray() : ((MultiLayerNetwork) m).getUpdater().getStateViewArray();
    }

    private static void train(Model net, List<DataSet> data, int partitions, int syncEvery, int epochs) {
        var jsc = TestSpark.jsc();
        var rdd = jsc.parallelize(data.stream().map(TrainingBatch::of).toList(), partitions).cache();
        var sgd = LocalSgd.of(jsc, rdd, net, new SparkTrainer.Config(epochs, 8, syncEvery, SEED), List.of(), List.of());
        for (int e = 1; e <= epochs; e++) assertEquals(data.stream().mapToLong(DataSet::numExamples).sum(), sgd.epoch(e));
        assertFalse(WorkerRound.NETS.isEmpty(), "each worker's network kept between rounds");
        WorkerRound.NETS.forEach((k, m) -> {
            if (k.startsWith(sgd.training + "/")) assertEquals(1, io.squeeze.model.JavaAdam.blocks(m), "each worker trains with Squeeze's Adam kernel");
        });
        sgd.finish();
        assertTrue(WorkerRound.NETS.keySet().stream().noneMatch(k -> k.startsWith(sgd.training + "/")), "and let go at the end");
        rdd.unpersist(false);
    }

    @Test
    void oneWorkerTrainsAsAnInProcessFitOfTheSameMinibatchesAcrossRoundsAndEpochs() {
        List<DataSet> data = batches(10, 8, 6, 3, 1);
        MultiLayerNetwork spark = TestModels.mlp(6, new int[]{5}, 3, 4), local = spark.clone();
        train(spark, data, 1, 3, 2); // 4 rounds an epoch, the last of one minibatch
        for (int e = 1; e <= 2; e++) {
            for (int i : Averaging.order(10, SEED, e, 0)) local.fit(data.get(i));
            local.incrementEpochCount();
        }
        assertArrayEquals(local.params().toFloatVector(), spark.params().toFloatVector(), 1e-6f);
        assertArrayEquals(updater(local).toFloatVector(), updater(spark).toFloatVector(), 1e-6f, "Adam's moments carried between rounds");
        assertEquals(20, spark.getLayerWiseConfigurations().getIterationCount());
        assertEquals(2, spark.getLayerWiseConfigurations().getEpochCount());
        assertNotEquals(0f, spark.params().sub(TestModels.mlp(6, new int[]{5}, 3, 4).params()).norm2Number().floatValue(), "it trained");
    }

    @Test
    void aGraphTrainsAsAnInProcessFitToo() {
        var conf = Architectures.graph(new Arch.ResNet(1), 64, 3, new int[]{1, 8, 8}, new Architectures.Hyper(3, 1e-2, 0), null);
        ComputationGraph spark = new ComputationGraph(conf);
        spark.init();
        ComputationGraph local = spark.clone();
        List<DataSet> data = batches(5, 4, 64, 3, 2);
        var jsc = TestSpark.jsc();
        var rdd = jsc.parallelize(data.stream().map(d -> TrainingBatch.of(new org.nd4j.linalg.dataset.MultiDataSet(d.getFeatures(), d.getLabels()))).toList(), 1);
        assertEquals(20, LocalSgd.of(jsc, rdd, spark, new SparkTrainer.Config(1, 4, 2, SEED), List.of(), List.of()).epoch(1));
        for (int i : Averaging.order(5, SEED, 1, 0)) local.fit(new org.nd4j.linalg.dataset.MultiDataSet(data.get(i).getFeatures(), data.get(i).getLabels()));
        assertArrayEquals(local.params().toFloatVector(), spark.params().toFloatVector(), 1e-5f, "batch norm's running statistics included");
        assertArrayEquals(updater(local).toFloatVector(), updater(spark).toFloatVector(), 1e-5f);
    }

    @Test
    void twoWorkersStartEveryRoundFromTheMeanOfTheirParametersAndAdamMoments() {
        List<DataSet> data = batches(7, 8, 6, 3, 5);
        MultiLayerNetwork spark = TestModels.mlp(6, new int[]{5}, 3, 4), expected = spark.clone();
        train(spark, data, 2, 2, 1); // worker 0 holds minibatches 0-2, worker 1 3-6 (parallelize's slices): 2 rounds
        List<List<DataSet>> shares = List.of(data.subList(0, 3), data.subList(3, 7));
        for (int round = 0; round < 2; round++) {
            List<MultiLayerNetwork> workers = new ArrayList<>();
            int steps = 0;
            for (int w = 0; w < 2; w++) {
                List<DataSet> share = shares.get(w);
                int[] order = Averaging.order(share.size(), SEED, 1, w);
                int from = round * 2, to = Math.min(share.size(), from + 2);
                if (from >= to) continue;
                MultiLayerNetwork n = expected.clone();
                n.getLayerWiseConfigurations().setIterationCount(expected.getLayerWiseConfigurations().getIterationCount());
                for (int i = from; i < to; i++) n.fit(share.get(order[i]));
                workers.add(n);
                steps = Math.max(steps, to - from);
            }
            INDArray p = workers.get(0).params().dup(), u = updater(workers.get(0)).dup();
            for (int w = 1; w < workers.size(); w++) {
                p.addi(workers.get(w).params());
                u.addi(updater(workers.get(w)));
            }
            expected.setParams(p.divi(workers.size()));
            updater(expected).assign(u.divi(workers.size()));
            expected.getLayerWiseConfigurations().setIterationCount(expected.getLayerWiseConfigurations().getIterationCount() + steps);
        }
        assertArrayEquals(expected.params().toFloatVector(), spark.params().toFloatVector(), 1e-6f);
        assertArrayEquals(updater(expected).toFloatVector(), updater(spark).toFloatVector(), 1e-6f);
        assertEquals(4, spark.getLayerWiseConfigurations().getIterationCount(), "2 rounds of at most 2 steps");
    }

    @Test
    void flatVectorsGoInAndOutInBulkWithTheirValues() {
        Nd4j.getRandom().setSeed(4);
        INDArray big = Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 1, 10_000);
        INDArray view = big.get(org.nd4j.linalg.indexing.NDArrayIndex.point(0), org.nd4j.linalg.indexing.NDArrayIndex.interval(123, 9_000)).reshape(1, 8_877);
        assertEquals(123, view.offset());
        assertArrayEquals(view.toFloatVector(), io.squeeze.model.NdRows.toRowMajor(view));
        assertArrayEquals(view.toFloatVector(), io.squeeze.model.NdRows.toRowMajor(view.castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE)), 1e-7f, "other types the slow way");
        float[] v = view.toFloatVector();
        INDArray r = LocalSgd.row(v);
        assertArrayEquals(new long[]{1, 8_877}, r.shape());
        assertEquals(view, r);
    }

    private static java.util.Map<String, Model> nets(LocalSgd sgd) {
        var out = new java.util.TreeMap<String, Model>();
        WorkerRound.NETS.forEach((k, m) -> {
            if (k.startsWith(sgd.training + "/")) out.put(k, m);
        });
        return out;
    }

    @Test
    void aWorkersNetworkIsKeptAcrossEpochsUntilTheConfigurationChanges() {
        var jsc = TestSpark.jsc();
        var rdd = jsc.parallelize(batches(6, 8, 6, 3, 9).stream().map(TrainingBatch::of).toList(), 2).cache();
        MultiLayerNetwork net = TestModels.mlp(6, new int[]{5}, 3, 4);
        var sgd = LocalSgd.of(jsc, rdd, net, new SparkTrainer.Config(3, 8, 2, SEED), List.of(), List.of());
        sgd.epoch(1);
        var first = nets(sgd);
        assertEquals(2, first.size());
        sgd.epoch(2);
        var second = nets(sgd);
        assertEquals(first.keySet(), second.keySet(), "the same configuration (the counts aside): the same networks");
        first.forEach((k, m) -> assertSame(m, second.get(k)));
        net.setLearningRate(1e-4); // the driver changes the configuration between epochs
        sgd.epoch(3);
        var third = nets(sgd);
        assertEquals(2, third.size(), "the old networks let go");
        assertTrue(third.keySet().stream().noneMatch(first::containsKey), "networks built from the new configuration");
        third.values().forEach(m -> assertEquals(1e-4, ((MultiLayerNetwork) m).getLearningRate(0), 1e-12));
        sgd.finish();
        rdd.unpersist(false);
    }

    @Test
    void eachWorkerTrainsItsFirstConvolutionWithoutTheInputGradient() {
        Architectures.Hyper h = new Architectures.Hyper(SEED, 1e-2, 0);
        MultiLayerNetwork net = new MultiLayerNetwork(Architectures.build(new Arch.LeNet5(), 144, 3, new int[]{12, 12, 1}, h, null));
        net.init();
        var jsc = TestSpark.jsc();
        var rdd = jsc.parallelize(batches(4, 8, 144, 3, 5).stream().map(TrainingBatch::of).toList(), 2).cache();
        var sgd = LocalSgd.of(jsc, rdd, net, new SparkTrainer.Config(1, 8, 20, SEED), List.of(), List.of());
        assertEquals(32, sgd.epoch(1));
        var workers = WorkerRound.NETS.entrySet().stream().filter(e -> e.getKey().startsWith(sgd.training + "/")).toList();
        assertEquals(2, workers.size());
        for (var w : workers)
            assertInstanceOf(io.squeeze.model.InputConvGradients.class, ((MultiLayerNetwork) w.getValue()).getLayer(0).getHelper(),
                    "each worker's first convolution skips the input's gradient");
        for (var w : workers)
            assertInstanceOf(io.squeeze.model.StepRelu.class, ((org.deeplearning4j.nn.conf.layers.BaseLayer) ((MultiLayerNetwork) w.getValue()).getLayer(0).conf().getLayer()).getActivationFn(),
                    "each worker's ReLUs back-propagate through StepRelu");
        for (var w : workers)
            assertEquals("JavaMaxPool", ((MultiLayerNetwork) w.getValue()).getLayer(1).getClass().getSimpleName(),
                    "each worker's max pooling runs as JavaMaxPool");
        assertFalse(net.getLayerWiseConfigurations().toJson().contains("StepRelu"), "the network handed back names DL4J's ReLU");
        sgd.finish();
        rdd.unpersist(false);
    }

    /** The RDD ids whose blocks this JVM's block manager holds (in local mode, the executors' own). */
    private static java.util.Set<Integer> cachedRdds() {
        var ids = org.apache.spark.SparkEnv.get().blockManager().getMatchingBlockIds(
                new scala.runtime.AbstractFunction1<org.apache.spark.storage.BlockId, Object>() {
                    @Override
                    public Object apply(org.apache.spark.storage.BlockId id) {
                        return id.isRDD();
                    }
                });
        java.util.Set<Integer> out = new java.util.HashSet<>();
        scala.collection.JavaConverters.seqAsJavaList(ids).forEach(id -> out.add(((org.apache.spark.storage.RDDBlockId) id).rddId()));
        return out;
    }

    /** {@code n} labelled rows of 6 uniform features and 3 classes. */
    private static List<io.squeeze.data.Example> rows(int n, long seed) {
        var r = new java.util.Random(seed);
        List<io.squeeze.data.Example> rows = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) {
            float[] x = new float[6];
            for (int j = 0; j < 6; j++) x[j] = r.nextFloat();
            rows.add(new io.squeeze.data.Example(i, x, r.nextInt(3)));
        }
        return rows;
    }

    @Test
    void aTrainingOnSparkHasRemovedItsCachedMinibatchesWhenItReturns() {
        var jsc = TestSpark.jsc();
        List<io.squeeze.data.Example> rows = rows(48, 5);
        var before = cachedRdds();
        var sink = new java.io.PrintWriter(new java.io.StringWriter());
        var cfg = new SparkTrainer.Config(2, 8, 20, SEED);
        // from rows (minibatches made and cached by SparkTrainer.TrainingData), then from minibatches (cached for the training)
        SparkTrainer.train(jsc, jsc.parallelize(rows, 2), TestModels.mlp(6, new int[]{5}, 3, 4), 6, 3, cfg, "test", sink);
        var after = cachedRdds();
        after.removeAll(before);
        assertEquals(java.util.Set.of(), after, "no block of the training's cached minibatches is left once it returns");
        List<DataSet> data = batches(6, 8, 6, 3, 9);
        SparkTrainer.fit(jsc, jsc.parallelize(data, 2), TestModels.mlp(6, new int[]{5}, 3, 4), cfg, "test", sink, (e, n) -> { });
        after = cachedRdds();
        after.removeAll(before);
        assertEquals(java.util.Set.of(), after, "nor of minibatches cached for one training");
    }

    @Test
    void trainingInProcessUsesSqueezesAdamKernelToo() {
        MultiLayerNetwork net = TestModels.mlp(6, new int[]{5}, 3, 4);
        List<io.squeeze.data.Example> rows = rows(40, 3);
        var sink = new java.io.PrintWriter(new java.io.StringWriter());
        SparkTrainer.train(TestSpark.jsc(), TestSpark.jsc().parallelize(rows, 2), net, 6, 3, new SparkTrainer.Config(1, 8, 20, SEED, true), "test", sink);
        assertEquals(1, io.squeeze.model.JavaAdam.blocks(net));
        assertFalse(net.getLayerWiseConfigurations().toJson().contains("StepRelu"), "trained in process, the network is handed back with DL4J's ReLU");
        assertEquals(org.nd4j.linalg.activations.impl.ActivationReLU.class,
                ((org.deeplearning4j.nn.conf.layers.BaseLayer) net.getLayer(0).conf().getLayer()).getActivationFn().getClass());
        assertEquals(6, net.getLayerWiseConfigurations().getIterationCount(), "two partitions of 20 rows: minibatches of 8, 8 and 4 each");
    }

    @Test
    void theSameSeedAndPartitioningGiveTheSameWeights() {
        List<DataSet> data = batches(12, 8, 6, 3, 6);
        MultiLayerNetwork a = TestModels.mlp(6, new int[]{5}, 3, 4), b = a.clone();
        train(a, data, 2, 2, 2);
        train(b, data, 2, 2, 2);
        assertArrayEquals(a.params().toFloatVector(), b.params().toFloatVector());
    }

    @Test
    void eachEpochDrawsItsOwnOrderFromTheSeed() {
        assertArrayEquals(Averaging.order(50, 3, 1, 0), Averaging.order(50, 3, 1, 0));
        assertFalse(java.util.Arrays.equals(Averaging.order(50, 3, 1, 0), Averaging.order(50, 3, 2, 0)));
        assertFalse(java.util.Arrays.equals(Averaging.order(50, 3, 1, 0), Averaging.order(50, 3, 1, 1)));
        int[] o = Averaging.order(50, 3, 1, 0).clone();
        java.util.Arrays.sort(o);
        for (int i = 0; i < 50; i++) assertEquals(i, o[i], "a permutation");
    }

    private static final List<Serializer> SERIALIZERS = List.of(
            new KryoSerializer(new SparkConf(false).set("spark.kryo.registrator", SqueezeKryoRegistrator.CHAIN)),
            new JavaSerializer(new SparkConf(false)));

    @SuppressWarnings("unchecked")
    private static <T> T roundTrip(Serializer s, T value) {
        var bytes = s.newInstance().serialize(value, ClassTag$.MODULE$.AnyRef());
        return (T) s.newInstance().deserialize(bytes, ClassTag$.MODULE$.AnyRef());
    }

    @Test
    void whatTravelsToAndFromTheExecutorsSurvivesKryoAndJavaSerialization() {
        DataSet d = batches(1, 4, 6, 3, 7).get(0);
        d.setLabelsMaskArray(Nd4j.ones(4, 1));
        var stack = TrainingBatch.of(d);
        var multi = TrainingBatch.of(new org.nd4j.linalg.dataset.MultiDataSet(new INDArray[]{d.getFeatures()},
                new INDArray[]{d.getLabels(), d.getLabels().mul(2)}, null, null));
        MultiLayerNetwork net = TestModels.mlp(6, new int[]{5}, 3, 4);
        var shape = new NetConf(NetConf.conf(net), "t", 1);
        for (Serializer s : SERIALIZERS) {
            TrainingBatch back = roundTrip(s, stack);
            assertEquals(stack, back);
            assertEquals(d.getFeatures(), back.dataSet().getFeatures());
            assertEquals(d.getLabelsMaskArray(), back.dataSet().getLabelsMaskArray());
            assertNull(back.dataSet().getFeaturesMaskArray());
            var m = roundTrip(s, multi).multi();
            assertEquals(d.getLabels().mul(2), m.getLabels(1));
            assertEquals(2, m.numLabelsArrays());
            var st = roundTrip(s, new LocalSgd.State(new float[]{1, 2}, null, 7, 2));
            assertArrayEquals(new float[]{1, 2}, st.params());
            assertEquals(7, st.iteration());
            var r = roundTrip(s, new LocalSgd.Result(1, new float[]{3}, new float[]{4, 5}, 2, 16, 7_000_000_000L, -1));
            assertArrayEquals(new float[]{4, 5}, r.updater());
            assertEquals(7_000_000_000L, r.fitNanos());
            assertEquals(-1, r.waitNanos());
            assertEquals(-1, r.lossCount(), "one job a round: the loss is in the accumulator");
            var e = roundTrip(s, new LocalSgd.Result(0, new float[]{3}, null, 4, 16, 5, 6, 3, 8_000_000_000L, 1.25, 4));
            assertEquals(List.of(3, 8_000_000_000L, 1.25, 4L), List.of(e.epoch(), e.nanos(), e.lossSum(), e.lossCount()));
            Model rebuilt = roundTrip(s, shape).build(net.params());
            assertEquals(net.getLayerWiseConfigurations().toJson(), ((MultiLayerNetwork) rebuilt).getLayerWiseConfigurations().toJson());
            assertEquals(net.params(), rebuilt.params());
        }
    }
}
