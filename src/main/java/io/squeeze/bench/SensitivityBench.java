package io.squeeze.bench;

import io.squeeze.core.BadInputException;
import io.squeeze.core.LayerSelector;
import io.squeeze.data.DataFormat;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Normalizer;
import io.squeeze.data.Split;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelMeta;
import io.squeeze.model.SourceKind;
import io.squeeze.search.Probe;
import io.squeeze.search.Sensitivity;
import io.squeeze.spark.Execution;
import io.squeeze.spark.SensitivityJob;
import io.squeeze.spark.SparkSessions;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.File;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Sensitivity analysis of LeNet-300-100 (3 layers × 8 prune levels = 24 trials, all 60,000 MNIST training rows):
 * the data-parallel job on local[2] against local[1] (fresh Spark contexts) and against the same trials run one
 * after another in this process; data-parallel against trial-parallel on local[2], on those rows and on the 10,000
 * test rows; then the wall time of a {@code squeeze run} that skips every stage (a separate
 * {@code jobs/squeeze} process, as a scheduler's retry starts it) against the run that did the work.
 */
final class SensitivityBench implements Bench.Benchmark {
    static final int FEATURES = 784, CLASSES = 10;

    static double mean(List<Double> v) {
        return v.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
    }

    @Override
    public List<Bench.Result> run(SparkSession spark, PrintStream progress) throws Exception {
        if (!new File("data/mnist/train-images-idx3-ubyte").isFile() && !new File("data/mnist/train-images-idx3-ubyte.gz").isFile())
            throw new BadInputException("the sensitivity benchmark needs MNIST in data/mnist: run jobs/get-mnist");
        MultiLayerNetwork net = new MultiLayerNetwork(Architectures.build(new Arch.Mlp(new int[]{300, 100}), FEATURES, CLASSES, null,
                new Architectures.Hyper(1, 1e-3, 0), null));
        net.init();
        LoadedModel model = new LoadedModel(net, new ModelMeta(FEATURES, CLASSES, null, Normalizer.NONE, "bench"), "", "bench-lenet-300-100", SourceKind.DL4J_ZIP, 0);
        DataSpec data = new DataSpec(DataFormat.IDX, "data/mnist", Split.TRAIN, false);
        SensitivityJob.Config cfg = new SensitivityJob.Config(new Probe.Prune(), null, LayerSelector.ALL, 256);
        PrintWriter quiet = new PrintWriter(new StringWriter());
        spark.stop();
        String[] masters = {"local[1]", "local[2]"};
        double[] secs = new double[2];
        double inProcess = 0, trialsBig = 0, dataSmall = 0, trialsSmall = 0;
        Sensitivity first = null;
        for (int k = 0; k < 2; k++) {
            SparkSession s = SparkSession.builder().config(SparkSessions.defaults("squeeze bench sensitivity").setMaster(masters[k])).getOrCreate();
            List<Double> runs = new ArrayList<>(), seq = new ArrayList<>();
            for (int rep = -1; rep < 2; rep++) {
                long t0 = System.nanoTime();
                Sensitivity r = SensitivityJob.run(s, new Execution.OnSpark(SparkSessions.jsc(s)), data, model, cfg, quiet);
                double sec = (System.nanoTime() - t0) / 1e9;
                if (first == null) first = r;
                else if (!first.layers().equals(r.layers()) && k == 0) throw new IllegalStateException("curves differ between runs");
                if (rep >= 0) runs.add(sec);
                progress.printf(Locale.ROOT, "bench: sensitivity %s run %d: %.2f s (%d trials)%n", masters[k], rep, sec, r.run().trials());
                if (k == 1 && rep >= 0) {
                    long t1 = System.nanoTime();
                    SensitivityJob.run(s, new Execution.InProcess(), data, model, cfg, quiet);
                    double q = (System.nanoTime() - t1) / 1e9;
                    seq.add(q);
                    progress.printf(Locale.ROOT, "bench: sensitivity in process (trials one after another) run %d: %.2f s%n", rep, q);
                }
            }
            secs[k] = mean(runs);
            if (k == 1) {
                inProcess = mean(seq);
                // the same trials, trial-parallel, on the 60,000 rows and on the 10,000 test rows (and data-parallel there)
                SensitivityJob.Config byTrials = new SensitivityJob.Config(cfg.probe(), null, LayerSelector.ALL, 256, SensitivityJob.Parallelism.TRIALS);
                DataSpec test = new DataSpec(DataFormat.IDX, "data/mnist", Split.TEST, false);
                trialsBig = timed(s, data, model, byTrials, first, progress, "trial-parallel, 60,000 rows");
                dataSmall = timed(s, test, model, cfg, null, progress, "data-parallel, 10,000 rows");
                trialsSmall = timed(s, test, model, byTrials, null, progress, "trial-parallel, 10,000 rows");
            }
            s.stop();
        }
        double[] resume = resumedRun(progress);
        return List.of(
                new Bench.Result("sensitivity.24_trials_local2_vs_local1", 1 / secs[1], "analyses/s", 1 / secs[0], secs[0] / secs[1],
                        String.format(Locale.ROOT, "local[2] %.2f s vs local[1] %.2f s, 60,000 rows x 25 passes", secs[1], secs[0])),
                new Bench.Result("sensitivity.24_trials_local2_vs_in_process", 1 / secs[1], "analyses/s", 1 / inProcess, inProcess / secs[1],
                        String.format(Locale.ROOT, "local[2] %.2f s vs trials one after another in process %.2f s", secs[1], inProcess)),
                new Bench.Result("sensitivity.24_trials_local2_data_vs_trial_parallel", 1 / secs[1], "analyses/s", 1 / trialsBig, trialsBig / secs[1],
                        String.format(Locale.ROOT, "60,000 rows on local[2]: data-parallel %.2f s vs trial-parallel %.2f s", secs[1], trialsBig)),
                new Bench.Result("sensitivity.24_trials_10k_rows_data_vs_trial_parallel", 1 / dataSmall, "analyses/s", 1 / trialsSmall, trialsSmall / dataSmall,
                        String.format(Locale.ROOT, "10,000 rows on local[2]: data-parallel %.2f s vs trial-parallel %.2f s", dataSmall, trialsSmall)),
                new Bench.Result("run.resumed_all_skipped_vs_first", 1 / resume[1], "runs/s", 1 / resume[0], resume[0] / resume[1],
                        String.format(Locale.ROOT, "a rerun skipping both stages %.1f s (JVM and Spark start included) vs the run that did them %.1f s", resume[1], resume[0])));
    }

    /** Mean seconds of two runs after a warm-up; the curves must equal {@code same}'s accuracies when given. */
    static double timed(SparkSession s, DataSpec data, LoadedModel model, SensitivityJob.Config cfg, Sensitivity same, PrintStream progress, String what) {
        PrintWriter quiet = new PrintWriter(new StringWriter());
        List<Double> runs = new ArrayList<>();
        for (int rep = -1; rep < 2; rep++) {
            long t0 = System.nanoTime();
            Sensitivity r = SensitivityJob.run(s, new Execution.OnSpark(SparkSessions.jsc(s)), data, model, cfg, quiet);
            double sec = (System.nanoTime() - t0) / 1e9;
            if (same != null)
                for (int l = 0; l < r.layers().size(); l++)
                    for (int i = 0; i < r.levels().size(); i++)
                        if (r.layers().get(l).curve().get(i).accuracy() != same.layers().get(l).curve().get(i).accuracy())
                            throw new IllegalStateException(what + ": accuracy differs from the data-parallel run at layer " + l + " level " + i);
            if (rep >= 0) runs.add(sec);
            progress.printf(Locale.ROOT, "bench: sensitivity %s run %d: %.2f s%n", what, rep, sec);
        }
        return mean(runs);
    }

    /** Wall seconds of a two-stage recipe's first run and of its rerun, each a {@code jobs/squeeze run} process. */
    static double[] resumedRun(PrintStream progress) throws Exception {
        Path dir = Files.createTempDirectory("squeeze-bench-run");
        Path recipe = Files.writeString(dir.resolve("bench.yaml"), String.join("\n", "name: bench-resume",
                "data: {train: \"idx:data/mnist\", eval: \"idx:data/mnist\"}", "stages:",
                "  - train: {arch: \"mlp:300,100\", epochs: 1, sync-every: 5}",
                "  - prune: {method: global, amount: 0.9, fine-tune-epochs: 1, sync-every: 5}", ""));
        double[] t = new double[2];
        for (int i = 0; i < 2; i++) {
            long t0 = System.nanoTime();
            ProcessBuilder pb = new ProcessBuilder("jobs/squeeze", "run", recipe.toString(), "--out", dir.resolve("out").toString())
                    .redirectErrorStream(true).redirectOutput(dir.resolve("run-" + i + ".log").toFile());
            pb.environment().remove("SQUEEZE_MAIN_CLASS"); // jobs/bench's: the child is squeeze itself
            Process p = pb.start();
            int code = p.waitFor();
            t[i] = (System.nanoTime() - t0) / 1e9;
            if (code != 0) throw new IllegalStateException("jobs/squeeze run exited " + code + "; see " + dir.resolve("run-" + i + ".log"));
            progress.printf(Locale.ROOT, "bench: squeeze run %s: %.1f s%n", i == 0 ? "first" : "rerun", t[i]);
        }
        String rerun = Files.readString(dir.resolve("run-1.log"));
        if (rerun.lines().filter(l -> l.endsWith(", skipped")).count() != 2) throw new IllegalStateException("the rerun did work:\n" + rerun);
        return t;
    }
}
