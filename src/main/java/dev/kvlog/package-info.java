/**
 * KVLog's API: what an application touches. Open a store with {@link dev.kvlog.KVLog#open} (a
 * SQLite file) or {@link dev.kvlog.KVLog#connect} (any installed backend's JDBC URL, such as {@code
 * jdbc:postgresql://...}); use it as a {@link dev.kvlog.KVStore}, asynchronously through {@link
 * dev.kvlog.AsyncKVStore}, or as a {@code ConcurrentMap} through {@link dev.kvlog.KVStore#asMap()}.
 * Keys and values are typed by {@link dev.kvlog.Codec}s ({@link dev.kvlog.Codecs}); failures are
 * the {@link dev.kvlog.KVLogException} family.
 *
 * <p>{@link dev.kvlog.KVLog} is a facade: it owns what is the same for every backend (codecs, text
 * checks, the closed state, async calls, batches, scans) and hands encoded text to a {@link
 * dev.kvlog.spi.Backend}; the design essay (log, cache, crashes, ownership) is on {@code KVLog}.
 * This package depends on {@code dev.kvlog.spi} and the JDK-only helpers, never on a backend.
 */
package dev.kvlog;
