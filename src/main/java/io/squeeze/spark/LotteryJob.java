package io.squeeze.spark;

import io.squeeze.core.TensorKey;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Manifest;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Normalization;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import io.squeeze.data.Example;
import io.squeeze.model.ModelMeta;
import io.squeeze.core.Mask;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.PrintWriter;
import java.util.List;
import java.util.Map;

/**
 * Iterative magnitude pruning with rewinding — the lottery ticket procedure of Frankle and Carbin, "The Lottery
 * Ticket Hypothesis" (ICLR 2019), with late rewinding (Frankle et al., "Stabilizing the Lottery Ticket
 * Hypothesis", 2019): train; prune {@code rate} of the remaining weights of every layer ({@code outputRate} for
 * the output layer) by magnitude; reset the surviving weights to their values at initialisation (or after
 * {@code rewindEpochs} epochs); retrain with the masks enforced; repeat. The control retrains the same masks from
 * a fresh random initialisation. Training runs on Spark (parameter averaging); validation after every epoch. The
 * rounds are {@link LotteryRounds}, for layer stacks (the ticket an artifact) and for graph architectures such as
 * {@code resnet:N} ({@link #runGraph}; the ticket a DL4J graph zip).
 */
public final class LotteryJob {
    private LotteryJob() {}

    /**
     * {@code squeeze lottery} as a record, stored as the ticket's {@code config}: {@code squeeze rerun} of the ticket's
     * manifest runs the whole procedure again and writes the directory (ticket and table).
     *
     * @param data     the training data
     * @param testData the validation data evaluated after every epoch
     * @param arch     the architecture
     * @param normalize the feature transform fitted on the training data
     * @param hyper    seed, learning rate
     * @param training epochs per round, minibatch, averaging, in process or not
     * @param rounds   the pruning schedule
     */
    public record Config(DataSpec data, DataSpec testData, Arch arch, Normalization normalize, Architectures.Hyper hyper,
                         SparkTrainer.Config training, Rounds rounds) implements JobConfig {
        public Config {
            if (data == null || testData == null) throw new io.squeeze.core.BadInputException("lottery needs --data and --test-data");
            if (arch == null) throw new io.squeeze.core.BadInputException("--arch must be given (mlp:300,100, lenet5 or a DL4J JSON file)");
            if (normalize == null) normalize = Normalization.NONE;
            if (hyper == null || training == null || rounds == null) throw new io.squeeze.core.BadInputException("lottery needs its settings");
        }

        @Override
        public String source() {
            return data.uri();
        }

        @Override
        public List<String> inputs() {
            return List.of(data.path(), testData.path());
        }

        @Override
        public ArtifactWriter.Content run(SparkSession spark, String out, List<String> argv, PrintWriter progress) {
            TrainJob.Prepared p = TrainJob.prepare(spark, data, arch, normalize, hyper, progress);
            ModelMeta meta = p.meta();
            SparkData.Loaded te = SparkData.read(spark, testData, meta.numFeatures(), "the training data");
            Result r = LotteryJob.run(SparkSessions.jsc(spark), p.rows(), TrainJob.normalized(te.rdd(), meta.normalizer()), p.conf(), meta,
                    training, rounds, progress);
            return new ArtifactWriter.Content(r.ticket(), meta, new ArtifactWriter.Provenance(source(), "", argv, Jobs.toMap(this)), Map.of(),
                    Map.of("lottery", r.rows()), r.masks());
        }

        /** The ticket (an artifact) and {@code lottery.json} (the table), together or not at all; returns the ticket's manifest. */
        @Override
        public Manifest publish(Storage st, String out, boolean overwrite, ArtifactWriter.Content c, boolean dl4jZip) {
            Manifest[] ticket = new Manifest[1];
            st.publish(st.path(out), overwrite, tmp -> {
                ticket[0] = ArtifactWriter.write(st, new Path(tmp, "ticket").toString(), false, c, dl4jZip);
                st.write(new Path(tmp, "lottery.json"), io.squeeze.model.Json.bytes(c.metrics().get("lottery")));
            });
            return ticket[0];
        }
    }

    /** The pruning schedule. */
    public record Rounds(int rounds, double rate, double outputRate, int rewindEpochs, boolean control, long controlSeed) {
        public Rounds {
            if (rounds <= 0) throw new io.squeeze.core.BadInputException("--rounds must be > 0, got " + rounds);
            if (!(rate >= 0 && rate <= 1)) throw new io.squeeze.core.BadInputException("lottery.rate must be in [0,1], got " + rate);
            if (!(outputRate >= 0 && outputRate <= 1))
                throw new io.squeeze.core.BadInputException("lottery.output-rate must be in [0,1], got " + outputRate);
            if (rewindEpochs < 0) throw new io.squeeze.core.BadInputException("--rewind-epoch must be >= 0, got " + rewindEpochs);
        }
    }

    /** One row of the table. */
    public record Row(int round, String run, double weightsRemaining, double testAccuracy, double testLoss,
                      int bestEpoch, @com.fasterxml.jackson.annotation.JsonProperty("iterations_to_best_validation_loss") long iterationsToBest) {}

    /** The final ticket, its masks and the table. */
    public record Result(MultiLayerNetwork ticket, Map<TensorKey, Mask> masks, List<Row> rows, List<MultiLayerNetwork> perRound) {}

    public static Result run(JavaSparkContext jsc, JavaRDD<Example> train, JavaRDD<Example> test, MultiLayerConfiguration conf,
                             ModelMeta meta, SparkTrainer.Config tc, Rounds lc, PrintWriter progress) {
        var o = LotteryRounds.run(LotteryRounds.stack(conf), jsc, train, test, meta, tc, lc, progress);
        return new Result(o.ticket(), o.masks(), o.rows(), o.perRound());
    }

    /** The ticket of a graph architecture ({@code resnet:N}, a ComputationGraph JSON), its masks (by layer of the graph) and the table. */
    public record GraphResult(org.deeplearning4j.nn.graph.ComputationGraph ticket, Map<TensorKey, Mask> masks, ModelMeta meta, List<Row> rows) {}

    /** Runs {@code c} for a graph architecture: the same rounds ({@link LotteryRounds#graph}). */
    public static GraphResult runGraph(SparkSession spark, Config c, PrintWriter progress) {
        TrainJob.Prepared p = TrainJob.prepare(spark, c.data(), c.arch(), c.normalize(), c.hyper(), progress);
        ModelMeta meta = p.meta();
        SparkData.Loaded te = SparkData.read(spark, c.testData(), meta.numFeatures(), "the training data");
        var o = LotteryRounds.run(LotteryRounds.graph(p.graphConf()), SparkSessions.jsc(spark), p.rows(), TrainJob.normalized(te.rdd(), meta.normalizer()),
                meta, c.training(), c.rounds(), progress);
        return new GraphResult(o.ticket(), o.masks(), meta, o.rows());
    }

    /**
     * Writes a graph's ticket and {@code OUT/lottery.json} together or not at all, the ticket as a graph artifact
     * ({@code OUT/ticket}, format 3) as a stack's is: its masks stored, so that pruning again and fine-tuning keep them,
     * the pruned weights sparse; {@code dl4jZip} adds its DL4J zip.
     */
    public static void publishGraph(Storage st, String out, boolean overwrite, GraphResult r, Config c, List<String> argv, boolean dl4jZip) {
        st.publish(st.path(out), overwrite, tmp -> {
            ArtifactWriter.writeGraph(st, new Path(tmp, "ticket").toString(), false, new ArtifactWriter.GraphContent(r.ticket(), r.meta(),
                    new ArtifactWriter.Provenance(c.source(), "", argv, Jobs.toMap(c)), Map.of(), Map.of("lottery", r.rows()), r.masks(), null), dl4jZip);
            st.write(new Path(tmp, "lottery.json"), io.squeeze.model.Json.bytes(r.rows()));
        });
    }
}
