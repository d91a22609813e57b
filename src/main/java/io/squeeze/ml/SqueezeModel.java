package io.squeeze.ml;

import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import io.squeeze.spark.PredictJob;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.ml.param.Param;
import org.apache.spark.ml.param.ParamMap;
import org.apache.spark.ml.util.Identifiable$;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWritable;
import org.apache.spark.ml.util.MLWriter;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * A Squeeze model as a Spark ML {@link Transformer}: a features column (arrays of numbers or ML vectors, the raw
 * features the model was trained on) becomes a {@code prediction} column (double, the arg max) and a
 * {@code probability} column (ML vector, the model's outputs), scored as {@code squeeze predict --runtime auto}
 * scores (ONNX Runtime on the model's export, else Squeeze's own runtimes): the model broadcast once, a runtime per
 * task, batches of 256 rows, the rows' order and other columns kept.
 *
 * <p>Saved in Spark ML's own layout ({@link MLWritable}): {@code metadata/part-00000} (class, uid, Spark version
 * and params as JSON, as {@code DefaultParamsWriter} writes them) and {@code data/model/}, a copy of the model's
 * files (the artifact directory, verified again when loaded, or the {@code .onnx}/zip/{@code .h5} file), so it loads
 * in a {@code PipelineModel} and with {@link #load(String)}.
 */
public final class SqueezeModel extends Transformer implements MLWritable {
    private static final long serialVersionUID = 1L;
    static final int BATCH = 256;

    private final String uid;
    private final String modelPath;
    private transient PredictJob.Resolved resolved;
    // Spark ML finds a stage's params by its public no-argument methods returning a Param (Scala vals), not fields
    private final Param<String> featuresCol, predictionCol, probabilityCol;

    public Param<String> featuresCol() {
        return featuresCol;
    }

    public Param<String> predictionCol() {
        return predictionCol;
    }

    public Param<String> probabilityCol() {
        return probabilityCol;
    }

    private SqueezeModel(String uid, String modelPath) {
        this.uid = uid; // before the params: a Param takes its parent's uid when it is made
        this.modelPath = modelPath;
        featuresCol = new Param<>(this, "featuresCol", "features column: arrays of numbers or ML vectors");
        predictionCol = new Param<>(this, "predictionCol", "prediction column name (double)");
        probabilityCol = new Param<>(this, "probabilityCol", "probability column name (ML vector)");
        setDefault(featuresCol, "features");
        setDefault(predictionCol, "prediction");
        setDefault(probabilityCol, "probability");
    }

    /** The model at {@code path} (an artifact directory, DL4J zip, Keras .h5 or .onnx file on any Hadoop filesystem). */
    public static SqueezeModel of(String path) {
        SqueezeModel m = new SqueezeModel(Identifiable$.MODULE$.randomUID("squeezeModel"), Storage.withSparkDefaults().path(path).toString());
        m.resolved();
        return m;
    }

    @Override
    public String uid() {
        return uid;
    }

    /** Where the model's files are. */
    public String modelPath() {
        return modelPath;
    }

    public SqueezeModel setFeaturesCol(String v) {
        set(featuresCol, v);
        return this;
    }

    public SqueezeModel setPredictionCol(String v) {
        set(predictionCol, v);
        return this;
    }

    public SqueezeModel setProbabilityCol(String v) {
        set(probabilityCol, v);
        return this;
    }

    PredictJob.Resolved resolved() {
        if (resolved == null) resolved = PredictJob.resolve(Storage.withSparkDefaults(), modelPath, PredictJob.Runtime.AUTO);
        return resolved;
    }

    @Override
    public StructType transformSchema(StructType schema) {
        String in = $(featuresCol);
        if (!java.util.Arrays.asList(schema.fieldNames()).contains(in))
            throw new BadInputException("SqueezeModel: the data has no column '" + in + "' (columns: " + java.util.Arrays.toString(schema.fieldNames()) + ")");
        DataType t = schema.apply(in).dataType();
        boolean ok = t.equals(SQLDataTypes.VectorType()) || (t instanceof ArrayType a && a.elementType() instanceof NumericType);
        if (!ok) throw new BadInputException("SqueezeModel: column '" + in + "' is " + t.simpleString() + "; expected an array of numbers or an ML vector");
        for (String out : List.of($(predictionCol), $(probabilityCol)))
            if (java.util.Arrays.asList(schema.fieldNames()).contains(out))
                throw new BadInputException("SqueezeModel: the output column '" + out + "' exists already");
        return schema.add(new StructField($(predictionCol), DataTypes.DoubleType, false, org.apache.spark.sql.types.Metadata.empty()))
                .add(new StructField($(probabilityCol), SQLDataTypes.VectorType(), false, org.apache.spark.sql.types.Metadata.empty()));
    }

    @Override
    public Dataset<Row> transform(Dataset<?> dataset) {
        StructType out = transformSchema(dataset.schema());
        PredictJob.Resolved m = resolved();
        Dataset<Row> df = dataset.toDF();
        int col = java.util.Arrays.asList(df.schema().fieldNames()).indexOf($(featuresCol));
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(df.sparkSession().sparkContext());
        Broadcast<PredictJob.Scorer> bc = jsc.broadcast(m.scorer());
        int nf = m.numFeatures(), k = m.numClasses();
        String what = "SqueezeModel " + m.source();
        JavaRDD<Row> rows = df.javaRDD().mapPartitions(it -> scored(it, bc.value().open(), col, nf, k, what));
        return df.sparkSession().createDataFrame(rows, out);
    }

    /** Appends prediction and probability to each row, one batch of {@link #BATCH} rows at a time. */
    static Iterator<Row> scored(Iterator<Row> it, io.squeeze.distill.Teacher.Runner runner, int col, int nf, int k, String what) {
        return new Iterator<>() {
            final java.util.ArrayDeque<Row> ready = new java.util.ArrayDeque<>();

            @Override
            public boolean hasNext() {
                if (!ready.isEmpty() || !it.hasNext()) return !ready.isEmpty();
                List<Row> batch = new ArrayList<>(BATCH);
                while (it.hasNext() && batch.size() < BATCH) batch.add(it.next());
                float[] x = new float[batch.size() * nf];
                for (int r = 0; r < batch.size(); r++) features(batch.get(r).get(col), x, r * nf, nf, what);
                float[] p = runner.logits(x, batch.size());
                for (int r = 0; r < batch.size(); r++) {
                    double[] v = new double[k];
                    int best = 0;
                    for (int j = 0; j < k; j++) {
                        v[j] = p[r * k + j];
                        if (p[r * k + j] > p[r * k + best]) best = j;
                    }
                    Row in = batch.get(r);
                    Object[] vals = new Object[in.length() + 2];
                    for (int j = 0; j < in.length(); j++) vals[j] = in.get(j);
                    vals[in.length()] = (double) best;
                    vals[in.length() + 1] = Vectors.dense(v);
                    ready.add(RowFactory.create(vals));
                }
                return true;
            }

            @Override
            public Row next() {
                if (!hasNext()) throw new java.util.NoSuchElementException();
                return ready.poll();
            }
        };
    }

    static void features(Object cell, float[] x, int off, int nf, String what) {
        if (cell == null) throw new BadInputException(what + ": a row has no features (null)");
        if (cell instanceof Vector v) {
            if (v.size() != nf) throw new BadInputException(what + " takes " + nf + " features, a row has " + v.size());
            for (int j = 0; j < nf; j++) x[off + j] = (float) v.apply(j);
            return;
        }
        List<?> l = cell instanceof scala.collection.Seq<?> s ? scala.collection.JavaConverters.seqAsJavaList(s) : (List<?>) cell;
        if (l.size() != nf) throw new BadInputException(what + " takes " + nf + " features, a row has " + l.size());
        for (int j = 0; j < nf; j++) x[off + j] = ((Number) l.get(j)).floatValue();
    }

    @Override
    public SqueezeModel copy(ParamMap extra) {
        SqueezeModel c = new SqueezeModel(uid, modelPath);
        c.resolved = resolved;
        return copyValues(c, extra);
    }

    @Override
    public MLWriter write() {
        return new SqueezeModelIO.Writer(this);
    }

    /** Spark ML's reader ({@code PipelineModel.load} finds it by reflection). */
    public static MLReader<SqueezeModel> read() {
        return new SqueezeModelIO.Reader();
    }

    public static SqueezeModel load(String path) {
        return read().load(path);
    }

    /** A model restored by the reader: its uid and where its copied files are. */
    static SqueezeModel restored(String uid, String modelPath) {
        SqueezeModel m = new SqueezeModel(uid, modelPath);
        m.resolved();
        return m;
    }
}
