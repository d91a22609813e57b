package io.squeeze.prune;

import io.squeeze.core.Mask;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Masks equal PyTorch 1.13's torch.nn.utils.prune on tie-free weights (reference vectors written by
 * src/test/resources/reference/make_prune_reference.py). PyTorch's linear weight is [out, in]; DL4J's dense W is
 * [nIn, nOut], so weights are transposed in and masks transposed back; conv weights share the [out, in, kh, kw] layout.
 */
class PyTorchReferenceTest {
    static JsonNode cases;

    @BeforeAll
    static void load() throws Exception {
        cases = new ObjectMapper().readTree(new File("src/test/resources/reference/prune_reference.json")).get("cases");
        assertTrue(cases.size() >= 18);
    }

    static JsonNode find(String name) {
        for (JsonNode c : cases) if (c.get("name").asText().equals(name)) return c;
        throw new AssertionError("no case " + name);
    }

    static float[] floats(JsonNode a) {
        float[] f = new float[a.size()];
        for (int i = 0; i < f.length; i++) f[i] = (float) a.get(i).asDouble();
        return f;
    }

    static boolean[] bools(JsonNode a) {
        boolean[] b = new boolean[a.size()];
        for (int i = 0; i < b.length; i++) b[i] = a.get(i).asInt() == 1;
        return b;
    }

    /** A PyTorch tensor as a DL4J target: linear [out, in] becomes W [nIn, nOut]; conv stays. */
    static Target target(int id, long[] torchShape, float[] w, boolean[] torchKept, Amount amount) {
        if (torchShape.length == 2) {
            int out = (int) torchShape[0], in = (int) torchShape[1];
            float[] t = new float[w.length];
            boolean[] k = new boolean[w.length];
            for (int o = 0; o < out; o++) for (int i = 0; i < in; i++) {
                t[i * out + o] = w[o * in + i];
                k[i * out + o] = torchKept == null || torchKept[o * in + i];
            }
            return new Target(id, id, "W", new long[]{in, out}, t, Mask.of(k), amount, 1, 0);
        }
        return new Target(id, id, "W", torchShape, w, torchKept == null ? Mask.all(w.length) : Mask.of(torchKept), amount, 0, 1);
    }

    /** A DL4J mask back in PyTorch's layout. */
    static boolean[] torchLayout(Mask m, long[] torchShape) {
        boolean[] b = new boolean[m.size()];
        if (torchShape.length == 2) {
            int out = (int) torchShape[0], in = (int) torchShape[1];
            for (int o = 0; o < out; o++) for (int i = 0; i < in; i++) b[o * in + i] = m.kept(i * out + o);
        } else for (int i = 0; i < b.length; i++) b[i] = m.kept(i);
        return b;
    }

    static long[] shape(JsonNode c) {
        long[] s = new long[c.get("shape").size()];
        for (int i = 0; i < s.length; i++) s[i] = c.get("shape").get(i).asLong();
        return s;
    }

    static Amount amount(JsonNode c) {
        JsonNode a = c.get("amount");
        return a.isInt() ? Amount.count(a.asLong()) : Amount.fraction(a.asDouble());
    }

    static Mask run(PruneMethod m, Target t, int chunk) {
        return Pruner.masks(List.of(t), m, t.amount(), chunk).get(t.id());
    }

    @Test
    void l1MatchesIncludingRoundHalfEvenCountsAndChunking() {
        for (String name : new String[]{"l1-0.3", "l1-0.25", "l1-0.35", "l1-7"}) {
            JsonNode c = find(name);
            for (int chunk : new int[]{Chunk.DEFAULT_SIZE, 7, 1}) {
                Target t = target(0, shape(c), floats(c.get("weights")), null, amount(c));
                Mask m = run(new L1Unstructured(), t, chunk);
                assertArrayEquals(bools(c.get("mask")), torchLayout(m, shape(c)), name + " chunk " + chunk);
                assertEquals(c.get("pruned").asLong(), m.prunedCount(), name);
            }
        }
    }

    @Test
    void l1ComposesOnTheRemainingEntries() {
        JsonNode c = find("l1-compose");
        float[] w = floats(c.get("weights"));
        Mask first = run(new L1Unstructured(), target(0, shape(c), w, null, Amount.fraction(0.5)), 3);
        assertArrayEquals(bools(c.get("first_mask")), torchLayout(first, shape(c)));
        Mask second = run(new L1Unstructured(), target(0, shape(c), w, torchLayout(first, shape(c)), Amount.fraction(0.5)), 3);
        assertArrayEquals(bools(c.get("mask")), torchLayout(second, shape(c)));
        assertEquals(7, second.prunedCount(), "0.5 then 0.5 of 10 -> 7 zeros");
    }

    @Test
    void globalMatchesAcrossLayers() {
        JsonNode c = find("global-0.4");
        List<Target> ts = new ArrayList<>();
        for (int i = 0; i < c.get("tensors").size(); i++) {
            JsonNode t = c.get("tensors").get(i);
            ts.add(target(i, shape(t), floats(t.get("weights")), null, Amount.fraction(0.4)));
        }
        for (int chunk : new int[]{Chunk.DEFAULT_SIZE, 5}) {
            Map<Integer, Mask> m = Pruner.masks(ts, new GlobalUnstructured(), Amount.fraction(0.4), chunk);
            long pruned = 0;
            for (int i = 0; i < ts.size(); i++) {
                JsonNode t = c.get("tensors").get(i);
                assertArrayEquals(bools(t.get("mask")), torchLayout(m.get(i), shape(t)), "tensor " + i);
                pruned += m.get(i).prunedCount();
            }
            assertEquals(Math.rint(0.4 * (12 + 20 + 10)), pruned);
        }
    }

    @Test
    void lnStructuredMatchesForEveryNormAndDim() {
        for (String norm : new String[]{"1", "2", "inf"}) {
            for (String dim : new String[]{"out", "in"}) {
                JsonNode c = find("ln-" + norm + "-" + dim);
                Target t = target(0, shape(c), floats(c.get("weights")), null, amount(c));
                Mask m = run(new LnStructured(PruneMethod.Norm.parse(norm), PruneMethod.Dim.valueOf(dim.toUpperCase())), t, 1 << 20);
                assertArrayEquals(bools(c.get("mask")), torchLayout(m, shape(c)), c.get("name").asText());
            }
        }
        JsonNode conv = find("ln-2-out-conv");
        Target t = target(0, shape(conv), floats(conv.get("weights")), null, amount(conv));
        Mask m = run(new LnStructured(PruneMethod.Norm.L2, PruneMethod.Dim.OUT), t, 1 << 20);
        assertArrayEquals(bools(conv.get("mask")), torchLayout(m, shape(conv)));
        assertEquals(24, m.prunedCount(), "2 of 4 output channels of 3x2x2");
    }

    @Test
    void lnComposesOnTheRemainingChannels() {
        JsonNode c = find("ln-compose");
        float[] w = floats(c.get("weights"));
        LnStructured ln = new LnStructured(PruneMethod.Norm.L1, PruneMethod.Dim.OUT);
        Mask first = run(ln, target(0, shape(c), w, null, Amount.fraction(0.25)), 1 << 20);
        assertArrayEquals(bools(c.get("first_mask")), torchLayout(first, shape(c)));
        float[] masked = w.clone();
        boolean[] fk = torchLayout(first, shape(c));
        for (int i = 0; i < masked.length; i++) if (!fk[i]) masked[i] = 0;
        Mask second = run(ln, target(0, shape(c), masked, fk, Amount.fraction(0.5)), 1 << 20);
        assertArrayEquals(bools(c.get("mask")), torchLayout(second, shape(c)));
    }

    @Test
    void randomPrunesPyTorchsCountAndIsSeeded() {
        for (String name : new String[]{"random-0.35-17", "random-0.25-10", "random-0.35-10", "random-0.5-9"}) {
            JsonNode c = find(name);
            Target t = target(0, shape(c), floats(c.get("weights")), null, amount(c));
            Mask a = run(new RandomUnstructured(5), t, 4);
            assertEquals(c.get("pruned").asLong(), a.prunedCount(), name);
            assertEquals(a, run(new RandomUnstructured(5), t, 1 << 20), "chunking does not change the draw");
        }
        Target big = target(0, new long[]{50, 40}, new float[2000], null, Amount.fraction(0.5));
        assertNotEquals(run(new RandomUnstructured(1), big, 1 << 20), run(new RandomUnstructured(2), big, 1 << 20));
    }
}
