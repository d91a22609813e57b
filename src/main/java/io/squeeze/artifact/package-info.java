/**
 * The artifact every compressing command writes (manifest, DL4J zip, packed form, {@code _SUCCESS}), written
 * atomically and verified on load; filesystem access on any Hadoop URI; NumPy export.
 */
package io.squeeze.artifact;
