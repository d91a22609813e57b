package io.squeeze.spark;

import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.data.DataSummary;
import io.squeeze.data.Example;
import io.squeeze.data.Normalization;
import io.squeeze.data.Normalizer;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.ModelMeta;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.PrintWriter;
import java.util.List;
import java.util.Map;

/**
 * {@code squeeze train} as a job: one summary pass (rows, classes, feature statistics; checks labels and
 * features before training starts), the normalization fitted from it, then parameter-averaging training.
 */
public final class TrainJob {
    private TrainJob() {}

    /**
     * {@code squeeze train} as a record: everything the command runs, stored as the artifact's {@code config}.
     *
     * @param data      the training data
     * @param arch      the architecture
     * @param normalize the feature transform fitted on the data
     * @param hyper     seed, learning rate, L2, dropouts
     * @param training  epochs, minibatch, minibatches between averages
     * @param evalData  data to validate on after every epoch and to evaluate the model on (its test split), or null
     */
    public record Config(DataSpec data, Arch arch, Normalization normalize, Architectures.Hyper hyper, SparkTrainer.Config training,
                         String evalData) implements JobConfig {
        public Config {
            if (data == null) throw new BadInputException("--data must be given");
            if (arch == null) throw new BadInputException("--arch must be given (mlp:300,100, lenet5 or a DL4J JSON file)");
            if (normalize == null) normalize = Normalization.NONE;
            if (hyper == null || training == null) throw new BadInputException("train needs its hyper-parameters and epochs");
        }

        @Override
        public String source() {
            return data.uri();
        }

        @Override
        public List<String> inputs() {
            return List.of(data.path());
        }

        @Override
        public ArtifactWriter.Content run(SparkSession spark, String out, List<String> argv, PrintWriter progress) {
            Prepared p = prepare(spark, data, arch, normalize, hyper, progress);
            if (p.conf() == null) // a graph reaches here only from a recipe's train stage (squeeze train writes graphs itself)
                throw new BadInputException("--arch " + arch + " is a graph, which Squeeze writes as a DL4J zip (squeeze train --out X.zip); "
                        + "a recipe's train stage writes an artifact directory");
            var validate = Validation.after(spark, evalData, p.meta(), progress);
            MultiLayerNetwork net = SparkTrainer.train(SparkSessions.jsc(spark), p.rows(), p.conf(), p.meta().numFeatures(),
                    p.meta().numClasses(), training, data.toString(), progress,
                    SparkTrainer.decaying(validate, hyper, training.epochs(), MultiLayerNetwork::setLearningRate));
            Map<String, Object> metrics = EvaluateJob.againstSource(spark, evalData, io.squeeze.data.Split.TEST,
                    io.squeeze.artifact.Loaded.plain(new io.squeeze.model.LoadedModel(net, p.meta(), "", "trained", io.squeeze.model.SourceKind.DL4J_ZIP, 0)),
                    null);
            return ArtifactWriter.Content.dense(net, p.meta(), new ArtifactWriter.Provenance(data.toString(), "", argv, Jobs.toMap(this)), metrics);
        }
    }

    /** A trained graph (a ResNet) with its metadata and the metrics on the evaluation data. */
    public record TrainedGraph(org.deeplearning4j.nn.graph.ComputationGraph graph, ModelMeta meta, Map<String, Object> metrics) {}

    /** Trains {@code c}'s graph architecture (a ResNet or a ComputationGraph JSON) as {@link Config#run} trains a layer stack. */
    public static TrainedGraph trainGraph(SparkSession spark, Config c, PrintWriter progress) {
        Prepared p = prepare(spark, c.data(), c.arch(), c.normalize(), c.hyper(), progress);
        var g = new org.deeplearning4j.nn.graph.ComputationGraph(p.graphConf());
        g.init();
        var validate = Validation.afterGraph(spark, c.evalData(), p.meta(), progress);
        g = SparkTrainer.trainGraph(SparkSessions.jsc(spark), p.rows(), g, p.meta().numFeatures(), p.meta().numClasses(), c.training(),
                c.data().toString(), progress,
                SparkTrainer.decaying(validate, c.hyper(), c.training().epochs(), org.deeplearning4j.nn.graph.ComputationGraph::setLearningRate));
        Map<String, Object> metrics = EvaluateJob.againstSource(spark, c.evalData(), io.squeeze.data.Split.TEST,
                io.squeeze.artifact.Loaded.plain(io.squeeze.model.LoadedModel.ofGraph(g, p.meta(), "", "trained", io.squeeze.model.SourceKind.DL4J_ZIP, 0)),
                null);
        return new TrainedGraph(g, p.meta(), metrics);
    }

    public static DataSummary summarize(SparkSession spark, JavaRDD<Example> rows, String what) {
        SparkSessions.jsc(spark).setJobDescription("squeeze: summarize " + what);
        return rows.treeAggregate(DataSummary.empty(), DataSummary::update, DataSummary::merge);
    }

    /**
     * Reads data to continue training an existing model on (fine-tuning, QAT, LoRA), checked in one pass before any
     * training: rows present, each labelled with one of the model's classes, every field a finite number (a bad row is
     * bad input naming its row, not a failure inside training).
     */
    public static SparkData.Loaded trainingData(SparkSession spark, DataSpec spec, io.squeeze.model.ModelMeta meta, String model) {
        SparkData.Loaded d = SparkData.read(spark, spec, meta.numFeatures(), "model " + model);
        DataSummary s = summarize(spark, d.rdd(), spec.toString());
        if (s.rows() == 0) throw new BadInputException("data " + spec + " is empty (no rows)");
        if (s.unlabelled() > 0) throw new BadInputException("data " + spec + ": " + s.unlabelled() + " rows have no label; training needs labels");
        if (s.numClasses() > meta.numClasses())
            throw new BadInputException("data " + spec + " has label " + (s.numClasses() - 1) + " but model " + model + " has "
                    + meta.numClasses() + " classes (labels 0.." + (meta.numClasses() - 1) + ")");
        return d;
    }

    /**
     * Training data checked, summarized and normalized, with the model's metadata and configuration: a layer stack's
     * ({@code conf}) or a graph's ({@code graphConf}), the other null.
     */
    public record Prepared(JavaRDD<Example> rows, ModelMeta meta, MultiLayerConfiguration conf, DataSummary summary,
                           org.deeplearning4j.nn.conf.ComputationGraphConfiguration graphConf) {}

    /** The summary pass and its checks, the normalization fitted from it, and the architecture built for the data. */
    public static Prepared prepare(SparkSession spark, DataSpec spec, Arch arch, Normalization norm, Architectures.Hyper hyper,
                                   PrintWriter progress) {
        SparkData.Loaded data = SparkData.read(spark, spec, -1, null);
        DataSummary s = summarize(spark, data.rdd(), spec.toString());
        if (s.rows() == 0) throw new BadInputException("data " + spec + " is empty (no rows)");
        if (s.unlabelled() > 0) throw new BadInputException("data " + spec + ": " + s.unlabelled() + " rows have no label; training needs labels");
        if (s.distinctLabels() < 2)
            throw new BadInputException("data " + spec + " has a single class (" + (s.numClasses() - 1) + "); training needs at least two");
        int nf = data.numFeatures(), k = s.numClasses();
        progress.printf("train: %s: %d rows, %d features, %d classes, normalization %s%n", spec, s.rows(), nf, k,
                norm.name().toLowerCase(java.util.Locale.ROOT));
        progress.flush();
        Normalizer normalizer = Normalizer.fit(norm, s.features());
        ModelMeta meta = new ModelMeta(nf, k, data.imageShape(), normalizer, spec.toString());
        Storage st = new Storage(spark.sparkContext().hadoopConfiguration());
        if (Architectures.isGraph(arch, st)) { // the image shape the graph reads the rows as (a square for data without one)
            var g = Architectures.graph(arch, nf, k, data.imageShape(), hyper, st);
            int[] shape = io.squeeze.model.Graphs.deriveMeta(g, "--arch " + arch).inputShape();
            return new Prepared(normalized(data.rdd(), normalizer), new ModelMeta(nf, k, shape, normalizer, spec.toString()), null, s, g);
        }
        MultiLayerConfiguration conf = Architectures.build(arch, nf, k, data.imageShape(), hyper, st);
        return new Prepared(normalized(data.rdd(), normalizer), meta, conf, s, null);
    }

    /** Rows with the normalizer applied (the same rows when it is the identity). */
    public static JavaRDD<Example> normalized(JavaRDD<Example> rows, Normalizer n) {
        return n.isIdentity() ? rows : rows.map(e -> new Example(e.id(), n.apply(e.features().clone()), e.label()));
    }
}
