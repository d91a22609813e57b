package io.squeeze.spark;

import io.squeeze.core.BadInputException;
import io.squeeze.core.TensorKey;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Loaded;
import io.squeeze.artifact.Models;
import io.squeeze.data.Split;
import io.squeeze.quantize.Calibration;
import io.squeeze.quantize.Calibrator;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Example;
import io.squeeze.data.Normalizer;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.BatchNormFold;
import io.squeeze.model.NetOps;
import io.squeeze.model.Surgery;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.quantize.QuantPlan;
import io.squeeze.quantize.QuantRunner;
import io.squeeze.quantize.QuantizedModel;
import io.squeeze.quantize.QuantizedTensor;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import scala.Tuple2;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code squeeze quantize} as a job: weights are quantized on the driver (a pure kernel, milliseconds); activation
 * ranges (static, QAT) come from calibration passes on executors — each partition streams its rows through the
 * float network once, updating a {@link Calibration} per partition, and partitions merge with {@code treeReduce}
 * over their byte form. Min/max and percentile observers need one pass, histogram and entropy two (the second
 * with bin edges from the first).
 */
public final class QuantizeJob {
    private QuantizeJob() {}

    /**
     * {@code squeeze quantize} as a record: everything the command runs, stored as the artifact's {@code config}.
     *
     * @param model     the source model (qualified URI)
     * @param quant     precisions, scheme, granularity, observer, per-layer overrides
     * @param calibData calibration data (static, QAT), or null
     * @param calibRows the first rows of it to use, 0 for all
     * @param batch     rows per batch (calibration, QAT minibatches)
     * @param qat       QAT's training, null unless the mode is QAT
     * @param distributed calibration on executors (false: in this process; min/max and histogram ranges are the same for
     *                    dense layers, to float rounding with convolutions)
     * @param evalData  data to evaluate the result (integer path) against the source on, or null
     */
    public record Config(String model, QuantConfig quant, String calibData, long calibRows, int batch, Qat qat, boolean distributed,
                         String evalData) implements JobConfig.OfModel {
        public Config {
            if (model == null || model.isBlank()) throw new BadInputException("--model must be given");
            if (quant == null) throw new BadInputException("quantize needs a configuration");
            if (calibRows < 0) throw new BadInputException("quantize.calib-rows must be >= 0, got " + calibRows);
            if (batch <= 0) throw new BadInputException("--batch must be > 0, got " + batch);
            if (quant.mode() == QuantConfig.Mode.QAT && qat == null) throw new BadInputException("quantize --mode qat needs training data: --data D");
            if (quant.mode() != QuantConfig.Mode.QAT) qat = null;
            if (qat != null && !quant.calibrated()) throw new BadInputException("quantize --mode qat needs integer layers (--bits 8|4); fp16 needs no training");
            if (quant.mode() == QuantConfig.Mode.DYNAMIC && calibData != null && quant.rounding() != QuantConfig.Rounding.GPTQ)
                throw new BadInputException("quantize --mode dynamic takes no calibration data (each batch is quantized from its own range; --rounding gptq uses it); got --calib-data " + calibData);
            if (quant.needsCalibrationData() && calibData == null)
                throw new BadInputException("quantize --mode " + quant.mode().name().toLowerCase(java.util.Locale.ROOT)
                        + (quant.rounding() == QuantConfig.Rounding.GPTQ ? " --rounding gptq" : "") + " needs calibration data: --calib-data D");
        }

        @Override
        public ArtifactWriter.Content run(SparkSession spark, String out, List<String> argv, PrintWriter progress) {
            return execute(spark, this, out, argv, progress).content();
        }
    }

    /**
     * Quantization-aware training: fake-quantized fine-tuning on {@code data}.
     *
     * @param lr learning rate, or null for the model's own
     */
    public record Qat(String data, int epochs, Double lr, Integer syncEvery) {
        public Qat {
            syncEvery = SparkTrainer.syncEvery(syncEvery); // 5 in a manifest from before the option
            if (data == null || data.isBlank()) throw new BadInputException("quantize --mode qat needs training data: --data D");
            if (epochs <= 0) throw new BadInputException("--epochs must be > 0, got " + epochs);
            if (lr != null && !(lr > 0 && lr < 10)) throw new BadInputException("quantize.lr must be in (0, 10), got " + lr);
        }
    }

    /** The artifact content, the quantization's figures and the source model. */
    public record Outcome(ArtifactWriter.Content content, Result result, LoadedModel source) {}

    /**
     * Runs {@code c}: loads the model, quantizes its weights, calibrates on executors (static), or trains fake-quantized
     * (QAT), evaluates the integer path against the source; the calibration's rows, passes and seconds go into the
     * metrics.
     */
    public static Outcome execute(SparkSession spark, Config c, String out, List<String> argv, PrintWriter progress) {
        io.squeeze.core.Storage st = new io.squeeze.core.Storage(spark.sparkContext().hadoopConfiguration());
        Loaded srcRun = Models.loadRunnable(st, c.model());
        LoadedModel unfolded = Models.requireFloat(srcRun, "quantize", c.model());
        DataSpec calib = c.calibData() == null ? null : DataSpec.parse(c.calibData(), Split.TRAIN, false);
        checkOverrides(unfolded.net(), c.quant());
        BatchNormFold.Folded folded = BatchNormFold.fold(unfolded.net());
        LoadedModel src = BatchNormFold.fold(unfolded, folded);
        QuantConfig cfg = c.quant().reindexed(folded.toFolded());
        folded.folded().forEach((bn, host) -> progress.printf("quantize: batch normalization layer %d folded into layer %d%n", bn, host));
        Result r = c.qat() != null
                ? QatJob.run(spark, src, cfg, DataSpec.parse(c.qat().data(), Split.TRAIN, false), new SparkTrainer.Config(c.qat().epochs(), c.batch(), c.qat().syncEvery(), 0, !c.distributed()),
                c.qat().lr(), calib, c.calibRows(), c.evalData(), progress)
                : run(spark, Execution.of(SparkSessions.jsc(spark), !c.distributed()), src, cfg, calib, c.calibRows(), c.batch(), progress);
        r = withFoldNotes(r, unfolded.net(), folded);
        Loaded result = new Loaded(new LoadedModel(r.net(), src.meta(), "", out, io.squeeze.model.SourceKind.ARTIFACT, 0, src.masks()), r.model());
        Map<String, Object> metrics = new java.util.LinkedHashMap<>(EvaluateJob.againstSource(spark, c.evalData(), Split.TEST, result, srcRun));
        if (r.passes() > 0) metrics.put("calibration", Map.of("rows", r.calibrationRows(), "passes", r.passes(), "seconds", r.calibrationSeconds()));
        ArtifactWriter.Content content = new ArtifactWriter.Content(r.net(), src.meta(),
                new ArtifactWriter.Provenance(src.source(), src.sha256(), argv, Jobs.toMap(c)), r.notes(), metrics, src.masks(), r.model());
        return new Outcome(content, r, src);
    }

    /** The quantized model, the network with dequantized weights, per-layer notes and calibration figures. */
    public record Result(QuantizedModel model, MultiLayerNetwork net, Map<Integer, ArtifactWriter.LayerNote> notes,
                         Map<Integer, Calibrator.Range> ranges, long calibrationRows, double calibrationSeconds, int passes) {}

    /** The calibration outcome. */
    public record Calibrated(Map<Integer, Calibrator.Range> ranges, long rows, double seconds, int passes, Map<Integer, io.squeeze.quantize.Gram> grams) {}

    public static Result run(SparkSession spark, Execution exec, LoadedModel src, QuantConfig cfg, DataSpec calib, long calibRows, int batch,
                             PrintWriter progress) {
        if (cfg.needsCalibrationData() && calib == null)
            throw new BadInputException("quantize --mode " + cfg.mode().name().toLowerCase() + " needs calibration data: --calib-data D");
        for (int i = 0; i < src.net().getnLayers(); i++) {
            var layer = src.net().getLayer(i).conf().getLayer();
            if (layer instanceof io.squeeze.model.FactoredRecurrent)
                throw new BadInputException("quantize: layer " + i + " ('" + layer.getLayerName() + "') is " + io.squeeze.model.Recurrent.kind(layer)
                        + "; Squeeze quantizes recurrent layers with whole W and RW (quantize or factorize one, not both)");
        }
        List<NetOps.Op> ops = NetOps.of(src.net());
        for (NetOps.Op op : ops)
            if (op instanceof NetOps.Rnn && (cfg.mode() != QuantConfig.Mode.DYNAMIC || cfg.rounding() == QuantConfig.Rounding.GPTQ))
                throw new BadInputException("quantize: layer " + op.layer() + " is " + ((NetOps.Rnn) op).kind()
                        + ", which Squeeze quantizes in dynamic mode with nearest"
                        + " rounding (as PyTorch's quantize_dynamic), got --mode " + cfg.mode().name().toLowerCase(java.util.Locale.ROOT)
                        + " --rounding " + cfg.rounding().name().toLowerCase(java.util.Locale.ROOT));
        QuantizedModel qm = QuantizedModel.quantizeWeights(ops, cfg, names(src.net()));
        Calibrated c = null;
        if (cfg.needsCalibrationData()) {
            JavaRDD<Example> rows = calibrationRows(spark, src, calib, calibRows);
            c = calibrate(exec, rows, qm, src.meta().normalizer(), src.meta().numFeatures(), batch, cfg, calib.toString(), progress);
            if (cfg.rounding() == QuantConfig.Rounding.GPTQ) {
                long t0 = System.nanoTime();
                qm = qm.withGptq(c.grams(), QuantConfig.GPTQ_DAMP, true, src.masks());
                progress.printf("quantize: GPTQ rounding of %d layers (%.1f s)%n", c.grams().size(), (System.nanoTime() - t0) / 1e9);
                progress.flush();
            }
            if (cfg.calibrated()) qm = qm.withActivations(Calibrator.qparams(c.ranges()));
        }
        return result(src.net(), qm, c, cfg.rounding());
    }

    /** {@code r} whose notes say, on each layer that took a batch normalization, which one (by source index and name). */
    static Result withFoldNotes(Result r, MultiLayerNetwork source, BatchNormFold.Folded f) {
        if (f.folded().isEmpty()) return r;
        Map<Integer, ArtifactWriter.LayerNote> notes = new TreeMap<>(r.notes());
        f.folded().forEach((bn, host) -> {
            int at = f.toFolded()[host];
            ArtifactWriter.LayerNote n = notes.get(at);
            Map<String, Object> d = new LinkedHashMap<>(n == null || n.details() == null ? Map.of() : n.details());
            String name = source.getLayer(bn).conf().getLayer().getLayerName();
            d.put("folded_batch_norm", "layer " + bn + (name == null ? "" : " '" + name + "'"));
            notes.put(at, new ArtifactWriter.LayerNote(n == null ? "quantize:fp32" : n.method(), d));
        });
        return new Result(r.model(), r.net(), notes, r.ranges(), r.calibrationRows(), r.calibrationSeconds(), r.passes());
    }

    /** Every {@code --layer-precision} selector must name a layer with weights. */
    static void checkOverrides(MultiLayerNetwork net, QuantConfig cfg) {
        for (QuantConfig.LayerOverride o : cfg.overrides()) requireWeightedLayer(net, o.layers());
    }

    /** {@code layers} (a {@code --layer-precision} selector) must name a layer with weights. */
    static void requireWeightedLayer(MultiLayerNetwork net, io.squeeze.core.LayerSelector layers) {
        boolean any = false;
        for (int i = 0; i < net.getnLayers() && !any; i++)
            any = net.getLayer(i).paramTable().containsKey("W") && layers.matches(i, net.getLayer(i).conf().getLayer().getLayerName());
        layers.requireMatch(any, "--layer-precision");
    }

    static Map<Integer, String> names(MultiLayerNetwork net) {
        Map<Integer, String> n = new TreeMap<>();
        for (int i = 0; i < net.getnLayers(); i++) {
            String name = net.getLayer(i).conf().getLayer().getLayerName();
            if (name != null) n.put(i, name);
        }
        return n;
    }

    /** The calibration rows: the first {@code limit} rows in the data's order (all when limit ≤ 0). */
    static JavaRDD<Example> calibrationRows(SparkSession spark, LoadedModel src, DataSpec calib, long limit) {
        SparkData.Loaded d = SparkData.read(spark, calib, src.meta().numFeatures(), "model " + src.source());
        if (limit <= 0) return d.rdd();
        return d.rdd().zipWithIndex().filter(t -> t._2() < limit).map(Tuple2::_1);
    }

    /** One or two calibration passes (on executors or in this process); fails on empty data. */
    public static Calibrated calibrate(Execution exec, JavaRDD<Example> rows, QuantizedModel qm, Normalizer norm, int nf, int batch,
                                       QuantConfig cfg, String where, PrintWriter progress) {
        long t0 = System.nanoTime();
        try (Execution.Shared<QuantizedModel> shared = exec.share(qm)) {
            Calibration.Pass p1 = cfg.observer().firstPass();
            if (cfg.rounding() == QuantConfig.Rounding.GPTQ) p1 = p1.withGrams(gptqLayers(qm));
            Calibration first = pass(exec, rows, shared, norm, nf, batch, p1, where, 1);
            if (first.entries().isEmpty() || first.entries().get(-1).count() == 0)
                throw new BadInputException("calibration data " + where + " is empty (no rows)");
            long n = first.entries().get(-1).count() / nf;
            progress.printf("quantize: calibration pass 1 over %d rows (%s)%n", n, cfg.observer());
            progress.flush();
            Calibration.Pass p2 = cfg.observer().secondPass(first);
            Calibration second = null;
            if (p2 != null) {
                second = pass(exec, rows, shared, norm, nf, batch, p2, where, 2);
                progress.printf("quantize: calibration pass 2 (histograms of %d bins)%n", Calibrator.BINS);
                progress.flush();
            }
            return new Calibrated(Calibrator.ranges(cfg.observer(), first, second, cfg.reduceRange()), n,
                    (System.nanoTime() - t0) / 1e9, p2 == null ? 1 : 2, first.grams());
        }
    }

    /** The layers whose weights are integers: GPTQ rounds them. */
    static java.util.Set<Integer> gptqLayers(QuantizedModel qm) {
        java.util.Set<Integer> s = new java.util.TreeSet<>();
        qm.weights().forEach((l, t) -> {
            if (t.format().integer()) s.add(l);
        });
        return s;
    }

    /** One pass: every partition's {@link Calibration}, merged over their byte form. */
    static Calibration pass(Execution exec, JavaRDD<Example> rows, Execution.Shared<QuantizedModel> qm, Normalizer norm, int nf, int batch,
                            Calibration.Pass pass, String where, int number) {
        return Calibration.fromBytes(exec.fold(rows, it -> Calibrator.run(it, new QuantRunner(qm.value()), norm, batch, nf, pass, where).toBytes(),
                (a, b) -> Calibration.fromBytes(a).merge(Calibration.fromBytes(b)).toBytes(), "quantize: calibration pass " + number + " over " + where));
    }

    /** The network with dequantized weights, and notes per layer. */
    static Result result(MultiLayerNetwork src, QuantizedModel qm, Calibrated c, QuantConfig.Rounding rounding) {
        boolean ranges = c != null && qm.plan().mode() != QuantConfig.Mode.DYNAMIC;
        Map<TensorKey, float[]> deq = qm.dequantized();
        MultiLayerNetwork net = Surgery.withTensors(src, deq);
        Map<Integer, ArtifactWriter.LayerNote> notes = new TreeMap<>();
        for (QuantPlan.LayerPlan l : qm.plan().layers()) {
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("precision", l.precision().name().toLowerCase());
            QuantizedTensor q = qm.weights().get(l.layer());
            if (l.precision().integer()) {
                d.put("scheme", l.symmetric() ? "symmetric" : "affine");
                d.put("granularity", l.axis() < 0 ? "tensor" : "channel");
                d.put("axis", l.axis() < 0 ? null : l.axis());
                d.put("rounding", rounding.name().toLowerCase(java.util.Locale.ROOT));
                double err = 0, norm = 0; // over the layer's tensors (an LSTM's W and RW), in their stacked order
                for (Map.Entry<TensorKey, float[]> e : deq.entrySet()) {
                    if (e.getKey().layer() != l.layer()) continue;
                    float[] w = Surgery.values(src, l.layer(), e.getKey().param()), dq = e.getValue();
                    for (int i = 0; i < w.length; i++) {
                        err += (w[i] - dq[i]) * (double) (w[i] - dq[i]);
                        norm += w[i] * (double) w[i];
                    }
                }
                d.put("weight_relative_error", norm == 0 ? 0 : Math.sqrt(err / norm));
            }
            if (ranges) {
                d.put("output_qparams", qparams(c.ranges().get(l.layer())));
            }
            notes.put(l.layer(), new ArtifactWriter.LayerNote(q == null ? "quantize:fp32" : "quantize:" + l.precision().name().toLowerCase(), d));
        }
        return new Result(qm, net, notes, !ranges ? Map.of() : c.ranges(), c == null ? 0 : c.rows(), c == null ? 0 : c.seconds(),
                c == null ? 0 : c.passes());
    }

    static Map<String, Object> qparams(Calibrator.Range r) {
        if (r == null) return null;
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("observed_min", r.observedMin());
        m.put("observed_max", r.observedMax());
        m.put("range_min", r.lo());
        m.put("range_max", r.hi());
        m.put("scale", r.qparams().scale());
        m.put("zero_point", r.qparams().zeroPoint());
        return m;
    }
}
