package io.squeeze.cli;

import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A recipe stage's technique: the command it runs, what it produces, and which of that command's options the
 * recipe fills in itself (the input model, the output, the data a stage needs when the recipe's {@code data}
 * names it). A stage takes exactly the options of its command, spelled without {@code --}.
 */
enum Technique {
    TRAIN("train", "train", Output.MODEL),
    PRUNE("prune", "prune", Output.MODEL),
    /**
     * Fine-tuning with the input's masks enforced: {@code prune --method l1 --amount 0} (prunes nothing more) with
     * {@code --fine-tune-*}; its options are {@code epochs}, {@code lr}, {@code data} and prune's others.
     */
    FINE_TUNE("fine-tune", "prune", Output.MODEL),
    LOTTERY("lottery", "lottery", Output.TICKET),
    FACTORIZE("factorize", "factorize", Output.MODEL),
    LORA("lora", "lora", Output.MODEL),
    QUANTIZE("quantize", "quantize", Output.MODEL),
    SOFT_TARGETS("soft-targets", "soft-targets", Output.SOFT_TARGETS),
    DISTILL("distill", "distill", Output.MODEL),
    EVALUATE("evaluate", "evaluate", Output.REPORT),
    EXPORT("export", "export", Output.FILE);

    /** What a stage leaves in its directory. */
    enum Output {
        /** An artifact: the stage directory is the next stage's model. */
        MODEL,
        /** A lottery directory: its {@code ticket/} artifact is the next stage's model. */
        TICKET,
        /** A soft-target set, read by a later {@code distill}. */
        SOFT_TARGETS,
        /** {@code report.json} of an evaluation. */
        REPORT,
        /** An exported file ({@code model.onnx} or {@code model.zip}). */
        FILE
    }

    final String key, command;
    final Output output;

    Technique(String key, String command, Output output) {
        this.key = key;
        this.command = command;
        this.output = output;
    }

    boolean makesModel() {
        return output == Output.MODEL || output == Output.TICKET;
    }

    static Technique of(String key) {
        for (Technique t : values()) if (t.key.equals(key)) return t;
        return null;
    }

    static String names() {
        return String.join(", ", java.util.Arrays.stream(values()).map(t -> t.key).toList());
    }

    /** Options the recipe sets for this technique; a stage may not. */
    Set<String> reserved() {
        return switch (this) {
            case TRAIN, LOTTERY -> Set.of("out", "overwrite");
            case SOFT_TARGETS -> Set.of("teacher", "out", "overwrite");
            case DISTILL -> Set.of("soft-targets", "out", "overwrite", "teacher");
            case EVALUATE -> Set.of("model", "report", "overwrite");
            case FINE_TUNE -> Set.of("model", "out", "overwrite", "method", "amount", "fine-tune-epochs", "fine-tune-lr", "fine-tune-data");
            default -> Set.of("model", "out", "overwrite");
        };
    }

    /** Recipe spellings of command options ({@code fine-tune: {epochs: 2}} is {@code prune --fine-tune-epochs 2}). */
    String option(String key) {
        if (this == FINE_TUNE) return Map.of("epochs", "fine-tune-epochs", "lr", "fine-tune-lr", "data", "fine-tune-data").getOrDefault(key, key);
        return key;
    }

    /** The file an {@code export} stage writes for {@code format}. */
    static String exportFile(String format) {
        return "dl4j".equals(format == null ? "" : format.toLowerCase(Locale.ROOT)) ? "model.zip" : "model.onnx";
    }
}
