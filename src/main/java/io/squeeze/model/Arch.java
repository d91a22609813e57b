package io.squeeze.model;

import io.squeeze.core.BadInputException;

import java.util.Arrays;

/** A network architecture as {@code train --arch} names it; manifests store that name ({@link #toString}). */
public sealed interface Arch {
    /** The name {@link #parse} reads back. */
    @com.fasterxml.jackson.annotation.JsonValue
    String toString();

    /** Fully connected ReLU layers of the given widths, then a softmax output (e.g. LeNet-300-100). */
    record Mlp(int[] hidden) implements Arch {
        public Mlp {
            if (hidden.length == 0) throw new BadInputException("--arch mlp needs at least one hidden size, e.g. mlp:300,100");
            for (int h : hidden) if (h <= 0) throw new BadInputException("--arch mlp hidden sizes must be > 0, got " + h);
        }

        @Override
        public String toString() {
            return "mlp:" + String.join(",", Arrays.stream(hidden).mapToObj(Integer::toString).toList());
        }
    }

    /** LeCun et al. 1998's LeNet-5: conv 6@5×5 (same), max-pool, conv 16@5×5, max-pool, dense 120, 84, softmax. */
    record LeNet5() implements Arch {
        @Override
        public String toString() {
            return "lenet5";
        }
    }

    /**
     * LeNet-5 with batch normalization (Ioffe &amp; Szegedy 2015) after each convolution and hidden dense layer, as
     * modern networks place it: convolution or dense layer without bias or activation, batch normalization, ReLU layer
     * — the form {@link BatchNormFold} folds for inference and quantization.
     */
    record LeNet5Bn() implements Arch {
        @Override
        public String toString() {
            return "lenet5-bn";
        }
    }

    /**
     * Caffe's LeNet-5 (examples/mnist/lenet_train_test.prototxt), the network of Han et al.'s pruning and Deep
     * Compression tables: conv 20@5×5, max-pool, conv 50@5×5, max-pool, dense 500 ReLU, softmax — 431,080 parameters
     * on 28×28 images (1,724 KB in fp32).
     */
    record LeNet5Caffe() implements Arch {
        @Override
        public String toString() {
            return "lenet5-caffe";
        }
    }

    /** A DL4J {@code MultiLayerConfiguration} JSON file on any Hadoop filesystem. */
    record JsonFile(String path) implements Arch {
        @Override
        public String toString() {
            return path;
        }
    }

    @com.fasterxml.jackson.annotation.JsonCreator
    static Arch parse(String s) {
        if (s == null || s.isBlank()) throw new BadInputException("--arch must be given (mlp:300,100, lenet5, lenet5-bn, lenet5-caffe or a DL4J JSON file)");
        if (s.equals("lenet5")) return new LeNet5();
        if (s.equals("lenet5-caffe")) return new LeNet5Caffe();
        if (s.equals("lenet5-bn")) return new LeNet5Bn();
        if (s.startsWith("mlp:")) {
            try {
                return new Mlp(Arrays.stream(s.substring(4).split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray());
            } catch (NumberFormatException e) {
                throw new BadInputException("--arch '" + s + "': hidden sizes must be integers, e.g. mlp:300,100");
            }
        }
        if (s.endsWith(".json")) return new JsonFile(s);
        throw new BadInputException("--arch '" + s + "' is not mlp:H1,H2,..., lenet5, lenet5-bn, lenet5-caffe or a .json DL4J configuration");
    }
}
