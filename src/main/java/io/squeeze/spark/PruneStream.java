package io.squeeze.spark;

import io.squeeze.artifact.ArtifactStream;
import io.squeeze.artifact.ArtifactWriter;
import io.squeeze.artifact.Manifest;
import io.squeeze.core.BadInputException;
import io.squeeze.core.Mask;
import io.squeeze.core.Storage;
import io.squeeze.core.TensorKey;
import io.squeeze.model.ModelZipStream;
import io.squeeze.model.ParamLayout;
import io.squeeze.prune.Amount;
import io.squeeze.prune.Target;
import org.apache.hadoop.fs.Path;
import org.apache.spark.HashPartitioner;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import scala.Tuple2;

import java.io.PrintWriter;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.TreeMap;

/**
 * {@code squeeze prune} of a DL4J zip too large for the driver: the driver reads the model's configuration and
 * parameter layout ({@link ParamLayout}) only; one task streams {@code coefficients.bin} and hands each chosen tensor to
 * its own partition (a shuffle keyed by tensor), where the method's kernel runs — per tensor, or the exact global
 * k-selection of {@link SparkPruner} over chunks; the driver receives histograms and mask bits (one bit per weight).
 * The artifact is then written by {@link ArtifactStream}, reading the source once more, one layer at a time. Masks and
 * files are those of the in-memory path ({@link PruneJob#run(Execution, io.squeeze.model.LoadedModel, PruneJob.Plan)}),
 * tested equal.
 *
 * <p>Used when nothing needs the whole network on the driver: masks computed on executors from a DL4J zip, without
 * fine-tuning, {@code --shrink} or {@code --eval-data}.
 */
public final class PruneStream {
    private PruneStream() {}

    /** What was written, with the masks (for the command's table). */
    public record Outcome(Manifest manifest, Map<TensorKey, Mask> masks, List<String> layerNames, long params) {}

    /** Whether {@code c} can run without the network on the driver (see the class comment). */
    public static boolean applies(Storage st, PruneJob.Config c) {
        if (!c.distributed() || c.fineTune().runs() || c.shrink() || c.evalData() != null) return false;
        Path p = st.path(c.model());
        if (!st.exists(p) || st.isDirectory(p)) return false;
        String n = p.getName().toLowerCase(Locale.ROOT);
        return !(n.endsWith(".h5") || n.endsWith(".hdf5") || n.endsWith(".keras"));
    }

    /**
     * Runs {@code c} and writes its artifact; null when the zip's parameters are not a plain FLOAT vector, or when
     * {@code ln} meets an LSTM (whose units group three tensors): the in-memory path then runs.
     */
    public static Outcome run(JavaSparkContext jsc, Storage st, PruneJob.Config c, String out, boolean overwrite, boolean dl4jZip, List<String> argv,
                              PrintWriter err) {
        Path src = st.path(c.model());
        ModelZipStream.Header h = ModelZipStream.read(st, src);
        if (h == null) return null;
        ParamLayout layout = ParamLayout.of(h.conf());
        if (!h.isFloat() || h.count() != layout.total() || !layout.contiguous()) return null;
        if (c.plan().method() instanceof io.squeeze.prune.LnStructured
                && h.conf().getConfs().stream().anyMatch(x -> io.squeeze.model.Recurrent.is(x.getLayer())))
            return null; // an LSTM's units are one group over W, RW and b (PruneJob.run), not a tensor per task

        Map<TensorKey, long[]> shapes = new HashMap<>();
        for (ParamLayout.Slice s : layout.inFlatOrder()) shapes.put(new TensorKey(s.layer(), s.param()), s.shape());
        PruneJob.Plan plan = c.plan();
        List<Target> targets = PruneJob.targets(h.conf(), shapes, plan, Map.of(), key -> null);
        err.printf("prune: %s on %d tensors of %s, each read on an executor%n", plan.method().label(), targets.size(), src.getName());
        err.flush();
        Amount global = plan.amount() == null ? Amount.fraction(0) : plan.amount();
        Map<Integer, Mask> fresh = SparkPruner.masks(jsc, targets, read(jsc, st, src, h.prefix().length, layout, targets),
                plan.method(), global, plan.chunkSize());
        Map<TensorKey, Mask> masks = new TreeMap<>();
        Map<Integer, ArtifactWriter.LayerNote> notes = PruneJob.notes(targets, fresh, plan.method(), masks);
        err.println("prune: writing " + st.path(out) + " one layer at a time");
        err.flush();
        Manifest m = ArtifactStream.write(st, out, overwrite, src, h, layout, masks, notes,
                new ArtifactWriter.Provenance(src.toString(), h.sha256(), argv, Jobs.toMap(c)), Map.of(), dl4jZip);
        List<String> names = h.conf().getConfs().stream().map(x -> x.getLayer().getLayerName()).toList();
        return new Outcome(m, masks, names, layout.total());
    }

    /**
     * The chosen tensors with their values, one partition each: a single task streams the zip's parameters once and
     * a shuffle keyed by tensor id spreads them over the executors.
     */
    static JavaRDD<Target> read(JavaSparkContext jsc, Storage st, Path src, int prefix, ParamLayout layout, List<Target> targets) {
        SerializableConf conf = new SerializableConf(st.conf());
        String path = src.toString();
        HashMap<TensorKey, Target> wanted = new HashMap<>();
        for (Target t : targets) wanted.put(t.key(), t.plan()); // masks (all kept) are made on the executor
        return jsc.parallelize(List.of(path), 1)
                .flatMap(x -> new Reader(new Storage(conf.get()), new Path(x), prefix, layout, wanted))
                .mapToPair(t -> new Tuple2<>(t.id(), t))
                .partitionBy(new HashPartitioner(Math.max(1, targets.size())))
                .values();
    }

    /** Streams a zip's parameters, returning each wanted tensor (C order) and skipping the rest. */
    private static final class Reader implements Iterator<Target> {
        private final ModelZipStream.Coefficients in;
        private final Iterator<ParamLayout.Slice> slices;
        private final Map<TensorKey, Target> wanted;
        private final String source;
        private int left;
        private Target next;
        private boolean closed;

        Reader(Storage st, Path p, int prefix, ParamLayout layout, Map<TensorKey, Target> wanted) {
            this.in = ModelZipStream.Coefficients.open(st, p, prefix);
            this.slices = layout.inFlatOrder().iterator();
            this.wanted = wanted;
            this.source = p.toString();
            this.left = wanted.size();
        }

        @Override
        public boolean hasNext() {
            while (next == null && left > 0 && slices.hasNext()) {
                ParamLayout.Slice s = slices.next();
                Target t = wanted.get(new TensorKey(s.layer(), s.param()));
                if (t == null) {
                    in.skip(s.length());
                    continue;
                }
                float[] v = s.toC(in.next(s.length()));
                io.squeeze.model.LayerSupport.checkFinite(v, s.layer(), s.param(), source);
                next = t.withValues(v);
                left--;
            }
            if (next == null && !closed) {
                closed = true;
                in.close();
            }
            return next != null;
        }

        @Override
        public Target next() {
            if (!hasNext()) throw new NoSuchElementException();
            Target t = next;
            next = null;
            return t;
        }
    }
}
