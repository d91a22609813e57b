package io.squeeze.spark;

import io.squeeze.core.BadInputException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class FineTuneTest {
    @Test
    void theDecayedRateIsSetAfterEveryEpochButTheLastAfterTheValidation() {
        FineTune ft = new FineTune("csv:x", 3, 64, 0.002, null, 0.5);
        List<String> calls = new ArrayList<>();
        var hook = ft.<StringBuilder>decaying((e, n) -> calls.add("validate " + e), (n, lr) -> calls.add("lr " + lr));
        for (int e = 1; e <= 3; e++) hook.accept(e, new StringBuilder());
        assertEquals(List.of("validate 1", "lr 0.001", "validate 2", "lr 5.0E-4", "validate 3"), calls);
        // without a decay only the validation runs
        List<String> plain = new ArrayList<>();
        var constant = new FineTune("csv:x", 2, 64, 0.002, null).<StringBuilder>decaying((e, n) -> plain.add("validate " + e), (n, lr) -> plain.add("lr"));
        constant.accept(1, new StringBuilder());
        constant.accept(2, new StringBuilder());
        assertEquals(List.of("validate 1", "validate 2"), plain);
    }

    @Test
    void aDecayNeedsTheFirstEpochsRateAndARangeOfZeroToOne() {
        assertEquals("--fine-tune-lr-decay needs --fine-tune-lr (the first epoch's rate)",
                assertThrows(BadInputException.class, () -> new FineTune("csv:x", 2, 64, null, null, 0.5)).getMessage());
        assertEquals("--fine-tune-lr-decay must be in (0, 1], got 1.5",
                assertThrows(BadInputException.class, () -> new FineTune("csv:x", 2, 64, 0.01, null, 1.5)).getMessage());
    }
}
