package io.squeeze.ml;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.core.BadInputException;
import io.squeeze.core.Storage;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.fs.Path;
import org.apache.spark.ml.util.MLReader;
import org.apache.spark.ml.util.MLWriter;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@link SqueezeModel}'s persistence in Spark ML's layout: {@code metadata/} (one JSON line, as Spark's
 * {@code DefaultParamsWriter} writes it: class, timestamp, Spark version, uid, the set and default params, plus
 * {@code squeezeModel}, the name of the model's copy) and {@code data/}, holding that copy.
 */
final class SqueezeModelIO {
    private static final ObjectMapper JSON = new ObjectMapper();

    private SqueezeModelIO() {}

    static final class Writer extends MLWriter {
        private final SqueezeModel m;

        Writer(SqueezeModel m) {
            this.m = m;
        }

        @Override
        public void saveImpl(String path) {
            var conf = sparkSession().sparkContext().hadoopConfiguration();
            Storage st = new Storage(conf);
            Path src = st.path(m.modelPath()), dst = new Path(new Path(path, "data"), src.getName());
            try {
                if (!FileUtil.copy(st.fs(src), src, st.fs(dst), dst, false, conf))
                    throw new IllegalStateException("could not copy " + src + " to " + dst);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("SqueezeModel: copying " + src + " to " + dst, e);
            }
            Map<String, Object> meta = new LinkedHashMap<>();
            meta.put("class", SqueezeModel.class.getName());
            meta.put("timestamp", System.currentTimeMillis());
            meta.put("sparkVersion", sparkSession().version());
            meta.put("uid", m.uid());
            meta.put("paramMap", params(m, false));
            meta.put("defaultParamMap", params(m, true));
            meta.put("squeezeModel", src.getName());
            try {
                String line = JSON.writeValueAsString(meta);
                org.apache.spark.api.java.JavaSparkContext.fromSparkContext(sparkSession().sparkContext()).parallelize(List.of(line), 1)
                        .saveAsTextFile(new Path(path, "metadata").toString());
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    private static Map<String, String> params(SqueezeModel m, boolean defaults) {
        Map<String, String> out = new LinkedHashMap<>();
        for (var p : List.of(m.featuresCol(), m.predictionCol(), m.probabilityCol())) {
            var v = defaults ? m.getDefault(p) : m.get(p);
            if (v.isDefined()) out.put(p.name(), v.get());
        }
        return out;
    }

    static final class Reader extends MLReader<SqueezeModel> {
        @Override
        public SqueezeModel load(String path) {
            String line = sparkSession().sparkContext().textFile(new Path(path, "metadata").toString(), 1).first();
            JsonNode meta;
            try {
                meta = JSON.readTree(line);
            } catch (java.io.IOException e) {
                throw new BadInputException("SqueezeModel " + path + ": metadata is not JSON (" + e.getMessage() + ")");
            }
            if (!SqueezeModel.class.getName().equals(meta.path("class").asText()))
                throw new BadInputException("SqueezeModel " + path + " holds a " + meta.path("class").asText() + ", not a " + SqueezeModel.class.getName());
            Path model = new Path(new Path(path, "data"), meta.path("squeezeModel").asText());
            SqueezeModel m = SqueezeModel.restored(meta.path("uid").asText(), model.toString());
            meta.path("paramMap").fields().forEachRemaining(e -> m.set(m.getParam(e.getKey()), e.getValue().asText()));
            return m;
        }
    }
}
