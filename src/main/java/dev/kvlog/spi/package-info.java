/**
 * The seam between KVLog's typed facade and the engines under it. A {@link dev.kvlog.spi.Backend}
 * stores encoded text (keys and values are Strings the facade's codecs produced and checked); a
 * {@link dev.kvlog.spi.BackendProvider}, found through {@link java.util.ServiceLoader}, opens one
 * for the JDBC URLs it accepts. Two backends ship with KVLog: {@code jdbc:sqlite:<file>} (an
 * embedded file, one owner) and {@code jdbc:postgresql://...} (a server shared by several
 * instances).
 *
 * <p>What stays in the facade, for every backend: codecs and their failures, the UTF-16 check, the
 * closed state, asynchronous calls, the typed batch and scan API, the {@code Map} view and metrics.
 * What each backend keeps to itself: its write path (group commit on SQLite, row locks on
 * PostgreSQL), its cache and how it stays equal to the stored table, and the classification of its
 * failures into {@link dev.kvlog.WriteFailedException}s.
 *
 * <p>This package depends on the JDK only (no type of {@code dev.kvlog} appears in it), so the API
 * and the SPI form no cycle; backends throw the {@link dev.kvlog.KVLogException} family.
 */
package dev.kvlog.spi;
