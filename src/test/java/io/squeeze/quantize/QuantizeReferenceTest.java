package io.squeeze.quantize;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.squeeze.core.BadInputException;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/** Qparams and quantized integers equal PyTorch 1.13's (reference vectors from make_quant_reference.py). */
class QuantizeReferenceTest {
    @Test
    void perTensorAndPerChannelMatchPyTorch() throws Exception {
        JsonNode cases = new ObjectMapper().readTree(new File("src/test/resources/reference/quant_reference.json")).get("cases");
        assertEquals(35, cases.size());
        for (JsonNode c : cases) {
            String what = c.get("data").asText() + " " + c.get("dtype").asText() + (c.get("symmetric").asBoolean() ? " sym" : " affine")
                    + (c.get("reduce_range").asBoolean() ? " rr" : "");
            QDtype dt = c.get("dtype").asText().equals("qint8") ? QDtype.QINT8 : QDtype.QUINT8;
            boolean sym = c.get("symmetric").asBoolean(), rr = c.get("reduce_range").asBoolean();
            int rows = c.get("shape").get(0).asInt(), cols = c.get("shape").get(1).asInt();
            float[] x = new float[rows * cols];
            for (int i = 0; i < x.length; i++) x[i] = (float) c.get("x").get(i).asDouble();
            QParams t = new MinMaxObserver(1).update(x, new long[]{rows, cols}, 0).qparams(dt, sym, rr)[0];
            assertEquals((float) c.get("scale").asDouble(), t.scale(), 0f, what + " scale");
            assertEquals(c.get("zero_point").asInt(), t.zeroPoint(), what + " zero point");
            for (int i = 0; i < x.length; i++) assertEquals(c.get("q").get(i).asInt(), t.quantize(x[i], dt), what + " q[" + i + "] of " + x[i]);
            QParams[] ch = new MinMaxObserver(rows).update(x, new long[]{rows, cols}, 0).qparams(dt, sym, rr);
            for (int r = 0; r < rows; r++) {
                assertEquals((float) c.get("channel_scale").get(r).asDouble(), ch[r].scale(), 0f, what + " channel " + r + " scale");
                assertEquals(c.get("channel_zero_point").get(r).asInt(), ch[r].zeroPoint(), what + " channel " + r + " zp");
                for (int j = 0; j < cols; j++)
                    assertEquals(c.get("channel_q").get(r * cols + j).asInt(), ch[r].quantize(x[r * cols + j], dt), what + " channel q");
            }
        }
    }

    @Test
    void observersMergeExactlyInAnyOrderAndEmptyChangesNothing() {
        Random r = new Random(5);
        float[] x = new float[4 * 250];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian() * (1 + i % 4);
        long[] shape = {250, 4};
        MinMaxObserver single = new MinMaxObserver(4).update(x, shape, 1);
        List<MinMaxObserver> parts = new ArrayList<>();
        for (int p = 0; p < 5; p++) {
            float[] slice = java.util.Arrays.copyOfRange(x, p * 200, (p + 1) * 200);
            parts.add(new MinMaxObserver(4).update(slice, new long[]{50, 4}, 1));
        }
        for (long seed = 0; seed < 4; seed++) {
            Collections.shuffle(parts, new Random(seed));
            MinMaxObserver m = new MinMaxObserver(4);
            for (MinMaxObserver p : parts) m.merge(MinMaxObserver.fromBytes(p.toBytes()));
            m.merge(new MinMaxObserver(4));
            assertArrayEquals(single.toBytes(), m.toBytes());
            assertArrayEquals(single.qparams(QDtype.QINT8, true, false), m.qparams(QDtype.QINT8, true, false));
        }
        assertEquals(new QParams(QParams.EPS, -128), new MinMaxObserver(1).qparams(QDtype.QINT8, false, false)[0],
                "an observer that saw nothing gives PyTorch's qparams for the range [0, 0]");
        assertEquals(new QParams(QParams.EPS, 0), new MinMaxObserver(1).qparams(QDtype.QINT8, true, false)[0]);
        QParams constant = QParams.fromMinMax(0f, 0f, QDtype.QUINT8, false, false);
        assertEquals(QParams.EPS, constant.scale(), "a collapsed range gets float32 eps, not a division by zero");
        assertEquals(0, constant.zeroPoint());
        assertThrows(BadInputException.class, () -> QParams.fromMinMax(-1, 1, QDtype.QUINT8, true, true));
    }
}
