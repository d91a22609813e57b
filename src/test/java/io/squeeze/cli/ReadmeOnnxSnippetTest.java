package io.squeeze.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.squeeze.artifact.OnnxExportTest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's ONNX Runtime snippet, run as written: the lines between the markers below appear verbatim in the
 * README, and scoring an exported int8 model with them gives the probabilities the test harness's own ONNX Runtime
 * call gives.
 */
class ReadmeOnnxSnippetTest {
    @TempDir
    Path dir;

    static float[][] score(String modelPath, float[][] rows) throws Exception {
        // README:begin
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession session = env.createSession(modelPath, new OrtSession.SessionOptions());
             OnnxTensor input = OnnxTensor.createTensor(env, rows);            // raw features, [N][784]
             OrtSession.Result result = session.run(Map.of("input", input))) {
            float[][] probabilities = (float[][]) result.get("output").get().getValue();
            // README:end
            return probabilities;
        }
    }

    @Test
    void theReadmeSnippetScoresAnExportedInt8Model() throws Exception {
        String src = Files.readString(Path.of("src/test/java/io/squeeze/cli/ReadmeOnnxSnippetTest.java"));
        String snippet = src.substring(src.indexOf("// README:begin\n") + "// README:begin\n".length(), src.indexOf("            // README:end"));
        String readme = Files.readString(Path.of("README.md"));
        for (String line : snippet.lines().map(String::strip).toList())
            assertTrue(readme.contains(line), "README lacks the snippet line: " + line);

        Path onnx = dir.resolve("int8.onnx");
        CliRun r = CliRun.run("export", "--model", "src/test/resources/fixtures/artifacts-v2/pruned-int8-static", "--format", "onnx",
                "--out", onnx.toString());
        assertEquals(0, r.code(), r.err());
        OnnxExportTest.Rows rows = OnnxExportTest.digits();
        float[][] x = new float[rows.n()][rows.features()];
        for (int i = 0; i < rows.n(); i++) System.arraycopy(rows.x(), i * rows.features(), x[i], 0, rows.features());
        float[][] p = score(onnx.toString(), x);
        assertArrayEquals(OnnxExportTest.runOnnx(Files.readAllBytes(onnx), rows).get("output"), OnnxExportTest.flat(p), 0f);
    }
}
