package io.squeeze.spark;

import io.squeeze.TestSpark;
import io.squeeze.artifact.Models;
import io.squeeze.cli.CliRun;
import io.squeeze.core.LayerSelector;
import io.squeeze.core.Storage;
import io.squeeze.data.DataSpec;
import io.squeeze.data.Split;
import io.squeeze.model.LoadedModel;
import io.squeeze.search.Probe;
import io.squeeze.search.Sensitivity;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Sensitivity on local[2] equals the same trials in one process, and each trial equals the compressed model the
 * technique's command writes, evaluated by {@code squeeze evaluate}.
 */
class SensitivityJobTest {
    static final String TEST = "csv:data/digits/digits-test.csv.gz";
    @TempDir
    static Path dir;
    static LoadedModel model;
    static final Storage st = new Storage(new Configuration());

    @BeforeAll
    static void train() {
        model = Models.load(st, CliRun.digitsMlp(dir.resolve("m").toString()));
    }

    static Sensitivity run(Execution e, Probe p, List<Double> levels) {
        return run(e, p, levels, SensitivityJob.Parallelism.DATA);
    }

    static Sensitivity run(Execution e, Probe p, List<Double> levels, SensitivityJob.Parallelism par) {
        return SensitivityJob.run(TestSpark.get(), e, DataSpec.parse(TEST, Split.TEST, false), model,
                new SensitivityJob.Config(p, levels, LayerSelector.ALL, 64, par), new PrintWriter(new StringWriter()));
    }

    @Test
    void trialParallelSlicesEqualTheSingleProcessTrials() {
        // 3 layers x 3 levels + the model = 10 trials cut into 2 slices (local[2]): the cut falls inside layer 1's levels
        Probe p = new Probe.Prune();
        List<Double> levels = List.of(0.5, 0.8, 0.95);
        Sensitivity t = run(new Execution.OnSpark(TestSpark.jsc()), p, levels, SensitivityJob.Parallelism.TRIALS),
                s = run(new Execution.InProcess(), p, levels);
        assertTrue(t.run().parallelism().startsWith("trial-parallel on local["), t.run().parallelism());
        assertEquals(s.run().rows(), t.run().rows());
        assertSame(s, t);
        assertTrue(t.layer(2).at(0.95).accuracy() < t.layer(2).at(0.5).accuracy());
    }

    @Test
    void distributedTrialsEqualTheSingleProcessOnesForEveryTechnique() {
        for (Probe p : List.of(new Probe.Prune(), new Probe.Quantize(), new Probe.Factorize())) {
            Sensitivity d = run(new Execution.OnSpark(TestSpark.jsc()), p, null), s = run(new Execution.InProcess(), p, null);
            assertEquals(3, d.layers().size());
            assertEquals(p.defaultLevels(), d.levels());
            assertSame(s, d);
        }
    }

    /** Equal curves: accuracy and storage exactly, loss to float rounding. */
    static void assertSame(Sensitivity s, Sensitivity d) {
        assertEquals(s.baseline().accuracy(), d.baseline().accuracy());
        assertEquals(s.baseline().loss(), d.baseline().loss(), 1e-6 * Math.max(1, s.baseline().loss()));
        assertEquals(s.levels(), d.levels());
        assertEquals(s.layers().size(), d.layers().size());
        for (int l = 0; l < s.layers().size(); l++)
            for (int i = 0; i < d.levels().size(); i++) {
                Sensitivity.Point a = d.layers().get(l).curve().get(i), b = s.layers().get(l).curve().get(i);
                assertEquals(b.accuracy(), a.accuracy(), s.technique() + " layer " + l + " level " + a.level());
                // partitions batch the rows differently and a task's BLAS runs on one thread: a float sum's last bits differ
                assertEquals(b.loss(), a.loss(), 1e-6 * Math.max(1, b.loss()));
                assertEquals(b.bitsSaved(), a.bitsSaved());
            }
    }

    @Test
    void aPruneTrialIsThePrunedModelOfSqueezePrune() {
        Sensitivity s = run(new Execution.OnSpark(TestSpark.jsc()), new Probe.Prune(), List.of(0.3, 0.9));
        // the curve falls as more of a layer goes, and pruning 90 % of the output layer costs accuracy
        Sensitivity.LayerCurve out = s.layer(2);
        assertTrue(out.at(0.9).accuracy() < out.at(0.3).accuracy());
        assertEquals(Math.round(0.9 * 640) * 32.0, out.at(0.9).bitsSaved());
        String pruned = dir.resolve("p").toString();
        assertEquals(0, CliRun.run("prune", "--model", dir.resolve("m").toString(), "--method", "l1", "--amount", "2:0.9", "--out", pruned).code());
        CliRun ev = CliRun.run("evaluate", "--model", pruned, "--data", TEST);
        assertTrue(ev.out().contains(String.format(java.util.Locale.ROOT, "%.4f", out.at(0.9).accuracy())), ev.out());
    }
}
