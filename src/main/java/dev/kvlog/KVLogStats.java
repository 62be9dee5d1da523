package dev.kvlog;

import java.nio.file.Path;

/**
 * A point-in-time snapshot of a store, from {@link KVLog#stats()}. Counters cover the life of this
 * store object (since it was opened).
 *
 * @param path the database file
 * @param entries number of keys
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
    long externalReloads) {

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
        s.externalReloads());
  }

  /**
   * Mean writes per transaction: above 1 when group commit merged concurrent writes.
   *
   * @return writes divided by commits, or 0 before the first commit
   */
  public double meanGroup() {
    return commits == 0 ? 0 : (double) writes / commits;
  }
}
