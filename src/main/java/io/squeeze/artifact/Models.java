package io.squeeze.artifact;

import io.squeeze.BadInputException;
import io.squeeze.model.LoadedModel;
import io.squeeze.model.ModelIO;
import org.apache.hadoop.fs.Path;

/** Resolves a model path as the CLI accepts it: an artifact directory, a DL4J zip or a Keras .h5. */
public final class Models {
    private Models() {}

    public static LoadedModel load(Storage st, String uri) {
        if (uri == null || uri.isBlank()) throw new BadInputException("--model must be given");
        Path p = st.path(uri);
        if (!st.exists(p)) throw new BadInputException("model " + p + " does not exist");
        if (st.isDirectory(p)) return Artifact.load(st, uri).model();
        return ModelIO.loadFile(st, p);
    }
}
