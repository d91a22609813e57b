package io.squeeze.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.BigModel;
import io.squeeze.ChildSqueeze;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Global pruning of a model whose weights (570 MB) exceed the whole JVM (512 MB heap; ND4J's off-heap limit follows
 * the heap) on embedded Spark, {@code local[2]}: the driver reads the configuration only, tasks read their own tensors,
 * and the artifact is written one layer at a time. The cluster suite runs the same with a 512 MB driver.
 */
class PruneBeyondHeapTest {
    @TempDir
    static Path dir;

    @Test
    void globalPruningOfAModelLargerThanTheJvm() throws Exception {
        Path src = dir.resolve("big.zip");
        long weights = BigModel.write(src, 7);
        assertTrue(weights * 4 > 540L << 20, "weights " + weights); // more than the child's whole heap
        String out = dir.resolve("big-g80").toString();
        ChildSqueeze.Result r = ChildSqueeze.run(List.of("-Xmx512m"), line -> false,
                "prune", "--model", src.toString(), "--method", "global", "--amount", "0.8", "--with-dl4j-zip", "--out", out);
        assertEquals(0, r.code(), r.log());
        assertTrue(r.log().contains("each read on an executor"), r.log());
        long pruned = BigModel.checkGlobal(src, Path.of(out, "model.zip"), 0.8);
        JsonNode m = new ObjectMapper().readTree(Path.of(out, "manifest.json").toFile());
        long nonzeros = 0, params = 0;
        for (JsonNode l : m.get("layers")) {
            nonzeros += l.get("nonzeros").asLong();
            params += l.get("params").asLong();
        }
        assertEquals(params - pruned, nonzeros);
        assertTrue(Files.size(Path.of(out, "packed", "tensors.bin")) < Files.size(src) / 2);
    }
}
