package dev.kvlog;

import java.nio.file.Path;

/**
 * A point-in-time snapshot of a store, from {@link KVLog#stats()}. Counters cover the life of this
 * store object (since it was opened).
 *
 * @param path the database file
 * @param entries number of keys (with {@link KVLogBuilder#cacheSize}, counted in the database:
 *     {@code count(*)} reads the whole key index)
 * @param databaseBytes size of the database file
 * @param walBytes size of the {@code -wal} file (0 after a clean close)
 * @param schemaVersion the schema version recorded in the store
 * @param commits transactions committed that changed the store (a group of conditional writes that
 *     all failed, or deletes of absent keys, writes and syncs nothing and is not counted)
 * @param writes write operations in those transactions (sets, deletes, conditional writes, batches)
 * @param largestGroup the most writes committed in one transaction
 * @param commitP50Micros median commit latency (BEGIN to durable COMMIT): the upper bound of its
 *     histogram bucket, at most 25% above the true value
 * @param commitP99Micros 99th percentile commit latency, reported the same way
 * @param checkpoints checkpoint passes run ({@code PRAGMA wal_checkpoint} calls: a checkpoint under
 *     load takes several, in the background and one on the writer)
 * @param externalReloads times the cache was reloaded after another connection changed the table
 *     (with {@link KVLogBuilder#cacheSize}: times the cached entries were dropped for that reason)
 * @param cacheHits with {@link KVLogBuilder#cacheSize}: gets answered from the cache (0 otherwise:
 *     every get is answered from memory and none is counted)
 * @param cacheMisses with {@link KVLogBuilder#cacheSize}: gets that read the database (0 otherwise)
 */
public record KVLogStats(
    Path path,
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
    long cacheMisses) {

  static KVLogStats of(dev.kvlog.spi.BackendStats s) {
    return new KVLogStats(
        s.file(),
        s.entries(),
        s.databaseBytes(),
        s.walBytes(),
        s.schemaVersion(),
        s.commits(),
        s.writes(),
        s.largestGroup(),
        s.commitP50Micros(),
        s.commitP99Micros(),
        s.checkpoints(),
        s.externalReloads(),
        s.cacheHits(),
        s.cacheMisses());
  }

  /**
   * Mean writes per transaction: above 1 when group commit merged concurrent writes.
   *
   * @return writes divided by commits, or 0 before the first commit
   */
  public double meanGroup() {
    return commits == 0 ? 0 : (double) writes / commits;
  }

  /**
   * The share of gets answered from the cache, with {@link KVLogBuilder#cacheSize}.
   *
   * @return cacheHits divided by all counted gets, or 0 if none was counted
   */
  public double cacheHitRate() {
    long gets = cacheHits + cacheMisses;
    return gets == 0 ? 0 : (double) cacheHits / gets;
  }
}
