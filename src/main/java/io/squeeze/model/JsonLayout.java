package io.squeeze.model;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;

import java.io.IOException;

/**
 * The layout of Squeeze's own JSON files (manifests, reports): Jackson's indented layout for the top-level objects, but
 * every object that is an element of an array - a manifest's layer, a report's row - on one line of its own, with
 * everything inside it. A table of records then reads as a table (one line per layer), and a manifest of a small model
 * is not mostly indentation. Arrays of values stay on one line.
 */
final class JsonLayout extends DefaultPrettyPrinter {
    private static final long serialVersionUID = 1L;

    JsonLayout() {
    }

    @Override
    public DefaultPrettyPrinter createInstance() {
        return new JsonLayout();
    }

    /** Whether the object or array being written lies inside an element of an array (it is written on one line). */
    private static boolean inRow(JsonGenerator g) {
        for (JsonStreamContext c = g.getOutputContext().getParent(); c != null; c = c.getParent()) if (c.inArray()) return true;
        return false;
    }

    @Override
    public void writeStartObject(JsonGenerator g) throws IOException {
        if (!inRow(g)) {
            super.writeStartObject(g);
            return;
        }
        // an element of an array begins a line, indented one step past the array's field
        JsonStreamContext parent = g.getOutputContext().getParent();
        if (parent.inArray() && !inRowAbove(parent)) _objectIndenter.writeIndentation(g, _nesting + 1);
        g.writeRaw("{ ");
    }

    /** Whether {@code array} itself lies inside an element of an array. */
    private static boolean inRowAbove(JsonStreamContext array) {
        for (JsonStreamContext c = array.getParent(); c != null; c = c.getParent()) if (c.inArray()) return true;
        return false;
    }

    @Override
    public void beforeObjectEntries(JsonGenerator g) throws IOException {
        if (!inRow(g)) super.beforeObjectEntries(g);
    }

    @Override
    public void writeObjectEntrySeparator(JsonGenerator g) throws IOException {
        if (inRow(g)) g.writeRaw(", ");
        else super.writeObjectEntrySeparator(g);
    }

    @Override
    public void writeEndObject(JsonGenerator g, int nrOfEntries) throws IOException {
        if (inRow(g)) g.writeRaw(nrOfEntries > 0 ? " }" : "}");
        else super.writeEndObject(g, nrOfEntries);
    }
}
