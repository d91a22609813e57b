/**
 * Squeeze in Spark ML: {@link io.squeeze.ml.SqueezeModel}, a Transformer that scores a features column with a
 * compressed model and saves and loads in Spark ML's layout. A top layer beside the CLI: it uses the execution
 * layer ({@code spark.PredictJob}) and nothing imports it.
 */
package io.squeeze.ml;
