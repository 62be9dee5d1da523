package dev.kvlog.spi;

import java.nio.file.Path;

/**
 * The figures a backend with {@link Capability#STATS} reports; the facade turns them into {@code
 * dev.kvlog.KVLogStats}, whose javadoc says what each means.
 *
 * @param file the database file
 * @param entries number of keys
 * @param databaseBytes size of the database file
 * @param walBytes size of the write-ahead log
 * @param schemaVersion the schema version recorded in the store
 * @param commits transactions committed
 * @param writes write operations committed
 * @param largestGroup the most writes committed in one transaction
 * @param commitP50Micros median commit latency
 * @param commitP99Micros 99th percentile commit latency
 * @param checkpoints checkpoint passes run ({@code PRAGMA wal_checkpoint} calls)
 * @param externalReloads reloads after another connection changed the table
 * @param cacheHits gets answered from a bounded cache (0 when the backend does not count them)
 * @param cacheMisses gets that read the database (0 when the backend does not count them)
 */
public record BackendStats(
    Path file,
    int entries,
    long databaseBytes,
    long walBytes,
    int schemaVersion,
    long commits,
    long writes,
    long largestGroup,
    long commitP50Micros,
    long commitP99Micros,
    long checkpoints,
    long externalReloads,
    long cacheHits,
    long cacheMisses) {}
