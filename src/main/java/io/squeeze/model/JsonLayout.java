package io.squeeze.model;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;

import java.io.IOException;

/**
 * The layout of Squeeze's own JSON files (manifests, reports): Jackson's indented layout for the first two levels,
 * every deeper object on one line (a configuration's sub-record, a file's size and checksum), and every object that
 * is an element of an array - a manifest's layer, a report's row - on one line of its own. A table of records then
 * reads as a table (one line per layer), and a manifest of a small model is not mostly indentation. Arrays of values
 * stay on one line.
 */
final class JsonLayout extends DefaultPrettyPrinter {
    private static final long serialVersionUID = 1L;

    JsonLayout() {
    }

    @Override
    public DefaultPrettyPrinter createInstance() {
        return new JsonLayout();
    }

    /** Whether the object being written ({@code g}'s current context) goes on one line. */
    private static boolean inRow(JsonGenerator g) {
        return oneLine(g.getOutputContext());
    }

    /** An object goes on one line three levels down (root object 1) or inside an array. */
    private static boolean oneLine(JsonStreamContext object) {
        int depth = 0;
        boolean inArray = false;
        for (JsonStreamContext c = object; c != null && !c.inRoot(); c = c.getParent()) {
            depth++;
            if (c != object && c.inArray()) inArray = true;
        }
        return inArray || depth >= 3;
    }

    @Override
    public void writeStartObject(JsonGenerator g) throws IOException {
        if (!inRow(g)) {
            super.writeStartObject(g);
            return;
        }
        // an element of an array written among indented lines begins a line, one step past the array's field
        JsonStreamContext parent = g.getOutputContext().getParent();
        if (parent.inArray() && !oneLine(parent.getParent())) _objectIndenter.writeIndentation(g, _nesting + 1);
        g.writeRaw("{ ");
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
