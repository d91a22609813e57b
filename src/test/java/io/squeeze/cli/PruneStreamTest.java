package io.squeeze.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.squeeze.TestModels;
import io.squeeze.core.Storage;
import io.squeeze.model.Arch;
import io.squeeze.model.Architectures;
import io.squeeze.model.ModelIO;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code squeeze prune} of a DL4J zip on executors (each tensor read there, the artifact written one layer at a time)
 * writes the same artifact as the in-memory path ({@code --local}): every file byte for byte, the same layer records.
 */
class PruneStreamTest {
    static final Storage ST = new Storage(new Configuration());
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path dir;

    static Path zip(String name, MultiLayerNetwork net) {
        Path p = dir.resolve(name);
        ModelIO.writeZip(ST, new org.apache.hadoop.fs.Path(p.toString()), net, TestModels.meta(784, 10), false);
        return p;
    }

    static MultiLayerNetwork lenet() {
        MultiLayerNetwork net = new MultiLayerNetwork(Architectures.build(new Arch.LeNet5(), 784, 10, new int[]{28, 28, 1},
                new Architectures.Hyper(9, 1e-3, 0), null));
        net.init();
        return net;
    }

    @Test
    void streamedArtifactIsTheInMemoryOne() throws Exception {
        Path mlp = zip("mlp.zip", TestModels.mlp(784, new int[]{64, 32}, 10, 3)), conv = zip("lenet.zip", lenet());
        List<List<String>> cases = List.of(
                List.of(mlp.toString(), "--method", "global", "--amount", "0.8"),
                List.of(mlp.toString(), "--method", "l1", "--amount", "0:0.5,2:0.3", "--include-bias"),
                List.of(mlp.toString(), "--method", "ln", "--amount", "0.25", "--dim", "out", "--norm", "2"),
                List.of(conv.toString(), "--method", "global", "--amount", "0.6", "--include-bias"),
                List.of(conv.toString(), "--method", "threshold", "--threshold", "0.05"));
        int n = 0;
        for (List<String> cs : cases) {
            // lean and with a DL4J zip, by turns: the streamed writer makes both as the in-memory one does
            boolean zip = n % 2 == 1;
            String streamed = dir.resolve("s" + n).toString(), local = dir.resolve("l" + n++).toString();
            List<String> c = new java.util.ArrayList<>(cs);
            if (zip) c.add("--with-dl4j-zip");
            CliRun s = run(c, "--out", streamed), l = run(c, "--local", "--out", local);
            assertEquals(0, s.code(), s.err());
            assertEquals(0, l.code(), l.err());
            assertTrue(s.err().contains("each read on an executor"), s.err());
            assertFalse(l.err().contains("each read on an executor"), l.err());
            assertEquals(s.out().replaceAll("wrote .*", ""), l.out().replaceAll("wrote .*", ""), cs.toString());
            JsonNode ms = JSON.readTree(Path.of(streamed, "manifest.json").toFile()), ml = JSON.readTree(Path.of(local, "manifest.json").toFile());
            assertEquals(zip ? 5 : 4, ms.get("files").size(), ms.toString());
            assertEquals(zip, ms.get("files").has("model.zip"), ms.toString());
            assertEquals(ml.get("files"), ms.get("files"), cs + ": every file's size and sha256");
            assertEquals(ml.get("layers"), ms.get("layers"), cs.toString());
            assertEquals(ml.get("source_sha256"), ms.get("source_sha256"));
            assertEquals(ml.get("source_model"), ms.get("source_model"));
            ((ObjectNode) ml.get("config")).remove("distributed");
            ((ObjectNode) ms.get("config")).remove("distributed");
            assertEquals(ml.get("config"), ms.get("config"));
            for (Path f : Files.walk(Path.of(local)).filter(Files::isRegularFile).toList()) {
                String rel = Path.of(local).relativize(f).toString();
                if (rel.equals("manifest.json") || rel.equals("_SUCCESS")) continue;
                assertArrayEquals(Files.readAllBytes(f), Files.readAllBytes(Path.of(streamed, rel)), cs + ": " + rel);
            }
            // and it loads, checksums verified, like any artifact
            assertEquals(0, CliRun.run("inspect", "--model", streamed).code());
        }
    }

    private static CliRun run(List<String> c, String... more) {
        List<String> args = new java.util.ArrayList<>(List.of("prune", "--model"));
        args.addAll(c);
        args.addAll(List.of(more));
        return CliRun.run(args.toArray(String[]::new));
    }
}
