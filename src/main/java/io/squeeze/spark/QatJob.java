package io.squeeze.spark;

import io.squeeze.quantize.Calibrator;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Example;
import io.squeeze.quantize.FakeQuantSurgery;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.NetOps;
import io.squeeze.model.Surgery;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.quantize.QuantizedModel;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.PrintWriter;
import java.util.Map;

/**
 * Quantization-aware training on Spark: the model is calibrated once, its integer layers get fake-quantized
 * weights and activations ({@link FakeQuantSurgery}), it is fine-tuned with parameter averaging (straight-through
 * gradients), the activation ranges are re-calibrated (on executors, or in process with {@code --local}) after every epoch and written into the
 * configuration the workers receive next (with evaluation data, the fake-quantized network is then validated, as
 * training validates), and the trained float weights are finally quantized and calibrated as
 * in static mode. A pruned source keeps its zeros (mask constraints ride along).
 */
public final class QatJob {
    private QatJob() {}

    public static QuantizeJob.Result run(SparkSession spark, LoadedModel src, QuantConfig cfg, DataSpec train, SparkTrainer.Config tc,
                                         Double lr, DataSpec calib, long calibRows, String evalData, PrintWriter progress) {
        if (lr != null && !(lr > 0 && lr < 10)) throw new io.squeeze.core.BadInputException("quantize.lr must be in (0, 10), got " + lr);
        JavaSparkContext jsc = SparkSessions.jsc(spark);
        var meta = src.meta();
        Map<Integer, String> names = QuantizeJob.names(src.net());
        JavaRDD<Example> calibRdd = QuantizeJob.calibrationRows(spark, src, calib, calibRows);
        QuantizedModel qm = QuantizedModel.quantizeWeights(NetOps.of(src.net()), cfg, names);
        QuantizeJob.Calibrated c0 = QuantizeJob.calibrate(Execution.of(jsc, tc.local()), calibRdd, qm, meta.normalizer(), meta.numFeatures(), tc.batchSize(), cfg,
                calib.toString(), progress);
        MultiLayerNetwork start = src.masks().isEmpty() ? src.net() : Surgery.withMaskConstraints(src.net(), src.masks());
        MultiLayerNetwork qat = FakeQuantSurgery.attach(start, qm.plan(), Calibrator.qparams(c0.ranges()));
        if (lr != null) qat.setLearningRate(lr);
        SparkData.Loaded d = TrainJob.trainingData(spark, train, meta, src.source());
        JavaRDD<Example> rows = TrainJob.normalized(d.rdd(), meta.normalizer());
        progress.printf("quantize: QAT for %d epochs on %s%n", tc.epochs(), train);
        var validate = Validation.after(spark, evalData, meta, progress);
        MultiLayerNetwork trained = SparkTrainer.train(jsc, rows, qat, meta.numFeatures(), meta.numClasses(), tc, train.toString(), progress,
                (epoch, n) -> {
                    if (epoch < tc.epochs()) { // after the last epoch the final calibration follows
                        QuantizedModel q = QuantizedModel.quantizeWeights(NetOps.of(FakeQuantSurgery.strip(n)), cfg, names);
                        QuantizeJob.Calibrated c = QuantizeJob.calibrate(Execution.of(jsc, tc.local()), calibRdd, q, meta.normalizer(), meta.numFeatures(),
                                tc.batchSize(), cfg, calib.toString(), progress);
                        FakeQuantSurgery.update(n, Calibrator.qparams(c.ranges()));
                    }
                    validate.accept(epoch, n);
                });
        MultiLayerNetwork plain = Surgery.withoutMaskConstraints(FakeQuantSurgery.strip(trained));
        Surgery.applyMasks(plain, src.masks());
        QuantizedModel fq = QuantizedModel.quantizeWeights(NetOps.of(plain), cfg, names);
        QuantizeJob.Calibrated c = QuantizeJob.calibrate(Execution.of(jsc, tc.local()), calibRdd, fq, meta.normalizer(), meta.numFeatures(), tc.batchSize(), cfg,
                calib.toString(), progress);
        return QuantizeJob.result(plain, fq.withActivations(Calibrator.qparams(c.ranges())), c, QuantConfig.Rounding.NEAREST);
    }
}
