package io.squeeze.spark;

import io.squeeze.data.DataSpec;
import io.squeeze.data.Example;
import io.squeeze.data.Split;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelMeta;
import io.squeeze.model.SourceKind;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.function.BiConsumer;

/**
 * Validation during training: after each epoch, the network being trained (the averaged one on Spark) is evaluated
 * on the evaluation data with the distributed evaluator ({@link SparkEvaluator}, the model's own input
 * normalization applied) and the epoch's accuracy and loss are printed with the training progress. The hooks only read
 * a copy of the network ({@link EpochWatcher}), so short epochs may run several to a stage and be validated
 * one after another when it ends. The rows are read again each epoch rather than cached, so validation holds no
 * executor memory between epochs.
 */
public final class Validation {
    private Validation() {}

    /** The hook for {@code evalData} (its test split for IDX); does nothing without evaluation data. */
    public static EpochWatcher<MultiLayerNetwork> after(SparkSession spark, String evalData, ModelMeta meta, PrintWriter progress) {
        return after(spark, evalData, meta, progress, n -> n);
    }

    /**
     * As above, evaluating {@code view} of a copy of the network being trained: the model it will become (LoRA's
     * adapters merged, distillation's KD loss back to cross-entropy).
     */
    public static EpochWatcher<MultiLayerNetwork> after(SparkSession spark, String evalData, ModelMeta meta, PrintWriter progress,
                                                                 java.util.function.UnaryOperator<MultiLayerNetwork> view) {
        if (evalData == null) return EpochWatcher.none(); // no copy of the network to make
        BiConsumer<Integer, LoadedModel> check = validator(spark, evalData, meta, progress);
        return (e, n) -> check.accept(e, new LoadedModel(view.apply(n.clone()), meta, "", "epoch " + e, SourceKind.DL4J_ZIP, 0));
    }

    /** The hook for a graph being trained (a ResNet). */
    public static EpochWatcher<org.deeplearning4j.nn.graph.ComputationGraph> afterGraph(SparkSession spark, String evalData, ModelMeta meta,
                                                                                                  PrintWriter progress) {
        if (evalData == null) return EpochWatcher.none();
        BiConsumer<Integer, LoadedModel> check = validator(spark, evalData, meta, progress);
        return (e, g) -> check.accept(e, LoadedModel.ofGraph(g.clone(), meta, "", "epoch " + e, SourceKind.DL4J_ZIP, 0));
    }

    private static BiConsumer<Integer, LoadedModel> validator(SparkSession spark, String evalData, ModelMeta meta, PrintWriter progress) {
        DataSpec spec = DataSpec.parse(evalData, Split.TEST, false);
        JavaRDD<Example> rows = SparkData.read(spark, spec, meta.numFeatures(), "evaluation data").rdd();
        return (e, m) -> {
            SparkEvaluator.Result r = SparkEvaluator.evaluate(SparkSessions.jsc(spark), rows, m, null, 256, "validation");
            progress.printf(Locale.ROOT, "train: epoch %d validation accuracy %.4f  loss %.4f  on %s%n", e, r.stats().accuracy(),
                    r.stats().loss(), spec);
            progress.flush();
        };
    }
}
