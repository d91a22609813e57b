package io.squeeze.spark;

import io.squeeze.core.BadInputException;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.quantize.Calibration;
import io.squeeze.quantize.Calibrator;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Example;
import io.squeeze.data.Normalizer;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.NetOps;
import io.squeeze.model.Surgery;
import io.squeeze.quantize.QuantConfig;
import io.squeeze.quantize.QuantPlan;
import io.squeeze.quantize.QuantRunner;
import io.squeeze.quantize.QuantizedModel;
import io.squeeze.quantize.QuantizedTensor;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
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

    /** The quantized model, the network with dequantized weights, per-layer notes and calibration figures. */
    public record Result(QuantizedModel model, MultiLayerNetwork net, Map<Integer, ArtifactWriter.LayerNote> notes,
                         Map<Integer, Calibrator.Range> ranges, long calibrationRows, double calibrationSeconds, int passes) {}

    /** The calibration outcome. */
    public record Calibrated(Map<Integer, Calibrator.Range> ranges, long rows, double seconds, int passes) {}

    public static Result run(SparkSession spark, LoadedModel src, QuantConfig cfg, DataSpec calib, long calibRows, int batch,
                             PrintWriter progress) {
        if (cfg.calibrated() && calib == null)
            throw new BadInputException("quantize --mode " + cfg.mode().name().toLowerCase() + " needs calibration data: --calib-data D");
        List<NetOps.Op> ops = NetOps.of(src.net());
        QuantizedModel qm = QuantizedModel.quantizeWeights(ops, cfg, names(src.net()));
        Calibrated c = null;
        if (cfg.calibrated()) {
            JavaRDD<Example> rows = calibrationRows(spark, src, calib, calibRows);
            c = calibrate(SparkSessions.jsc(spark), rows, qm, src.meta().normalizer(), src.meta().numFeatures(), batch, cfg, calib.toString(), progress);
            qm = qm.withActivations(Calibrator.qparams(c.ranges()));
        }
        return result(src.net(), qm, c);
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

    /** One or two distributed calibration passes; fails on empty data. */
    public static Calibrated calibrate(JavaSparkContext jsc, JavaRDD<Example> rows, QuantizedModel qm, Normalizer norm, int nf, int batch,
                                       QuantConfig cfg, String where, PrintWriter progress) {
        long t0 = System.nanoTime();
        Broadcast<QuantizedModel> bc = jsc.broadcast(qm);
        try {
            Calibration first = pass(jsc, rows, bc, norm, nf, batch, Calibrator.firstPass(cfg.observer()), where, 1);
            if (first.entries().isEmpty() || first.entries().get(-1).count() == 0)
                throw new BadInputException("calibration data " + where + " is empty (no rows)");
            long n = first.entries().get(-1).count() / nf;
            progress.printf("quantize: calibration pass 1 over %d rows (%s)%n", n, cfg.observer());
            progress.flush();
            Calibration.Pass p2 = Calibrator.secondPass(cfg.observer(), first);
            Calibration second = null;
            if (p2 != null) {
                second = pass(jsc, rows, bc, norm, nf, batch, p2, where, 2);
                progress.printf("quantize: calibration pass 2 (histograms of %d bins)%n", Calibrator.BINS);
                progress.flush();
            }
            return new Calibrated(Calibrator.ranges(cfg.observer(), first, second, cfg.reduceRange()), n,
                    (System.nanoTime() - t0) / 1e9, p2 == null ? 1 : 2);
        } finally {
            bc.destroy();
        }
    }

    static Calibration pass(JavaSparkContext jsc, JavaRDD<Example> rows, Broadcast<QuantizedModel> bc, Normalizer norm, int nf, int batch,
                            Calibration.Pass pass, String where, int number) {
        jsc.setJobDescription("squeeze quantize: calibration pass " + number + " over " + where);
        try {
            byte[] merged = rows.mapPartitions(it -> {
                Nd4jThreads.forTask();
                return List.of(Calibrator.run(it, new QuantRunner(bc.value()), norm, batch, nf, pass, where).toBytes()).iterator();
            }).treeReduce((a, b) -> Calibration.fromBytes(a).merge(Calibration.fromBytes(b)).toBytes());
            return Calibration.fromBytes(merged);
        } finally {
            jsc.clearJobGroup();
            if (jsc.isLocal()) Nd4jThreads.all();
        }
    }

    /** The network with dequantized weights, and notes per layer. */
    static Result result(MultiLayerNetwork src, QuantizedModel qm, Calibrated c) {
        Map<Integer, float[]> deq = new TreeMap<>();
        qm.weights().forEach((l, q) -> deq.put(l, q.dequantize()));
        MultiLayerNetwork net = Surgery.withWeights(src, deq);
        Map<Integer, ArtifactWriter.LayerNote> notes = new TreeMap<>();
        for (QuantPlan.LayerPlan l : qm.plan().layers()) {
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("precision", l.precision().name().toLowerCase());
            QuantizedTensor q = qm.weights().get(l.layer());
            if (l.precision().integer()) {
                d.put("scheme", l.symmetric() ? "symmetric" : "affine");
                d.put("granularity", l.axis() < 0 ? "tensor" : "channel");
                d.put("axis", l.axis() < 0 ? null : l.axis());
                float[] w = Surgery.values(src, l.layer(), "W"), dq = deq.get(l.layer());
                double err = 0, norm = 0;
                for (int i = 0; i < w.length; i++) {
                    err += (w[i] - dq[i]) * (double) (w[i] - dq[i]);
                    norm += w[i] * (double) w[i];
                }
                d.put("weight_relative_error", norm == 0 ? 0 : Math.sqrt(err / norm));
            }
            if (c != null) {
                d.put("output_qparams", qparams(c.ranges().get(l.layer())));
            }
            notes.put(l.layer(), new ArtifactWriter.LayerNote(q == null ? "quantize:fp32" : "quantize:" + l.precision().name().toLowerCase(), d));
        }
        return new Result(qm, net, notes, c == null ? Map.of() : c.ranges(), c == null ? 0 : c.rows(), c == null ? 0 : c.seconds(),
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
