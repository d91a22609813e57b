/**
 * The bottom layer, which every other package may use and which uses none of them: {@link io.squeeze.core.Storage}
 * (files on any Hadoop filesystem, atomic publication), {@link io.squeeze.core.Mask} (a pruning mask as a bitmap), {@link io.squeeze.core.TensorKey} (which tensor: layer and parameter),
 * {@link io.squeeze.core.LayerSelector} (which layers an option applies to), {@link io.squeeze.core.BadInputException}
 * (the one-line, exit-2 error) and small byte helpers.
 */
package io.squeeze.core;
