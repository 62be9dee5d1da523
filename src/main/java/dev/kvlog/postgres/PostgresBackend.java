package dev.kvlog.postgres;

import com.zaxxer.hikari.HikariDataSource;
import dev.kvlog.KVLogException;
import dev.kvlog.WriteFailedException;
import dev.kvlog.internal.Text;
import dev.kvlog.spi.Backend;
import dev.kvlog.spi.Capability;
import dev.kvlog.spi.Change;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * A store on a PostgreSQL server (the {@code jdbc:postgresql:} backend), so several application
 * instances (on several machines) can share one store. Reads still come from an in-memory cache;
 * every write is decided by the database.
 *
 * <h2>Consistency</h2>
 *
 * <ul>
 *   <li><b>Writes</b> are single statements or short transactions with row locks ({@code SELECT ...
 *       FOR UPDATE}, {@code INSERT ... ON CONFLICT}, {@code DELETE ... RETURNING}): prior values
 *       and compare-and-set decisions come from the table, never from a possibly stale cache, so
 *       they are linearizable across all instances. A write returns once PostgreSQL committed it
 *       with {@code synchronous_commit=on} (flushed to the server's WAL).
 *   <li><b>Every row carries a version</b> that the database raises at every change (schema V2);
 *       every cache entry carries it, and the cache moves a key forward only ({@code PgCache}).
 *       Hence each instance reads its own writes and its reads are monotonic per key, always:
 *       during reconnects, reloads and for keys of any length.
 *   <li><b>Other instances' writes</b> arrive through the change feed ({@code PgChangeFeed}),
 *       usually within milliseconds; a feed that dies, even silently, is noticed by a heartbeat and
 *       replaced, with a full reload, so while the server is reachable a committed write shows on
 *       every instance within {@value #STALENESS_BOUND_SECONDS} s.
 *   <li><b>Failures</b> are classified ({@code PgWrites}): {@link
 *       WriteFailedException#outcomeUnknown()} is true whenever the commit may have reached the
 *       server; the affected keys are then re-read from the table before this instance serves them.
 * </ul>
 *
 * <p>Opening refuses a server with {@code fsync=off} (a server crash could lose or corrupt
 * committed data) and sets {@code synchronous_commit=on} for its own sessions. Tables live in the
 * connection's current schema ({@code ?currentSchema=...} in the URL). PostgreSQL text cannot hold
 * the character U+0000, so such keys and values are refused with a clear error here.
 *
 * <h2>Parts</h2>
 *
 * <p>This class is the {@link Backend} face and holds the checks of what PostgreSQL text can store.
 * Opening (pool, durability checks, channel name, migration, feed start) is {@code PgOpening}'s;
 * the SQL of each write is {@code PgWriter}'s and how a write is run, retried and its failure
 * classified is {@code PgWrites}'s; reads (cache, settling unknown outcomes, reading the table
 * while the feed is stale) are {@code PgReads}'s; the schema is {@code PgMigrations}'s.
 *
 * <p>Thread-safe.
 */
public final class PostgresBackend implements Backend {
  /**
   * Other instances' committed writes show here within this many seconds while the server is
   * reachable: heartbeat interval 1 s + echo deadline 2 s + retry 0.5 s + reconnect and reload
   * (tested: {@code PostgresFaultsTest}, {@code PostgresHistoryTest}). A feed that cannot catch up
   * makes {@code get} read the table once the cache's freshness is 4 s old ({@code
   * PostgresReviewTest}).
   */
  public static final int STALENESS_BOUND_SECONDS = 5;

  /**
   * The longest schema name (UTF-8 bytes) a store can live in: its change channel {@code
   * kvlog:<schema>} must fit PostgreSQL's 63-byte identifier limit (NAMEDATALEN - 1).
   */
  public static final int MAX_SCHEMA_NAME_BYTES = 63 - "kvlog:".length();

  /**
   * The longest key (UTF-8 bytes of the encoded key) a write accepts. PostgreSQL's btree indexes
   * (the primary keys of kv and kv_tombstone) refuse entries over 2704 bytes after compression, so
   * an incompressible key of about 2.7 KB fails; 2048 bytes leaves room for the index tuple's
   * headers whatever the key's content. Reads and deletes accept any key.
   */
  public static final int MAX_KEY_BYTES = 2048;

  private final String where;
  private final PgCache cache = new PgCache();
  private final HikariDataSource pool;
  private final int schemaVersion;
  private final PgChangeFeed feed;
  private final PgReads reads;
  private final PgWriter writes;
  private final PgScans scans;

  /** Opens the store ({@link PgOpening}); throws with nothing left open if that fails. */
  PostgresBackend(String url, int poolSize) {
    PgOpening.Opened opened = PgOpening.open(url, poolSize, cache);
    this.where = opened.where();
    this.pool = opened.pool();
    this.schemaVersion = opened.schemaVersion();
    this.feed = opened.feed();
    this.reads = new PgReads(where, pool, cache, feed);
    this.writes = new PgWriter(where, pool, cache);
    this.scans = new PgScans(where, pool);
  }

  @Override
  public String describe() {
    return where;
  }

  @Override
  public Set<Capability> capabilities() {
    return Set.of();
  }

  // ---- reads (PgReads) ----

  /**
   * Returns the cached value of {@code key}, or, if a write of the key on this instance ended with
   * an unknown outcome, settles that outcome: ends the server process the write ran on (a statement
   * can outlive its lost connection there and commit later), then re-reads the key. So after an
   * {@link WriteFailedException#outcomeUnknown()}, what {@code get} returns is final: the write is
   * applied if and only if it shows, and a retry decided on it cannot double-apply.
   *
   * <p>While the change feed is down for longer than the staleness bound allows (it cannot
   * reconnect), reads go to the table instead of the cache.
   *
   * @throws KVLogException if settling fails (the server is unreachable, or that process could not
   *     be ended within 5 s); the key is then not answered from the cache; or if the feed is down
   *     that long and the table cannot be read either
   */
  @Override
  public String get(String k) {
    return reads.get(k);
  }

  /** How often this instance lost its change feed and caught up again since it opened. */
  public long feedReconnects() {
    return feed.reconnects();
  }

  /** The number of entries in this instance's cache. */
  @Override
  public int size() {
    return cache.size();
  }

  @Override
  public int schemaVersion() {
    return schemaVersion;
  }

  /** The change feed takes in other instances' writes as they commit: nothing to do now. */
  @Override
  public boolean refresh() {
    return false;
  }

  /**
   * Entries with {@code from <= key < to} (nulls: unbounded), in key order, read from the table in
   * one statement (a consistent snapshot).
   */
  @Override
  public List<Map.Entry<String, String>> range(String lo, String hi) {
    return reads.range(lo, hi);
  }

  /**
   * One page, read from the table in one statement (keyset pagination on the primary key), in a
   * short read-only transaction, as {@link #range} reads (see {@link PgScans}).
   */
  @Override
  public List<Map.Entry<String, String>> rangePage(
      String from, String to, String after, int limit, long maxBytes) {
    return scans.rangePage(from, to, after, limit, maxBytes);
  }

  /**
   * A cursor in a {@code REPEATABLE READ, READ ONLY} transaction on a pooled connection, fetching
   * {@code fetchSize} rows per round trip through a server-side portal (see {@link PgScans}).
   */
  @Override
  public Cursor openCursor(String from, String to, int fetchSize) {
    return scans.openCursor(from, to, fetchSize);
  }

  /** Every entry, read from the table in one statement (a consistent snapshot). */
  @Override
  public Map<String, String> snapshot() {
    Map<String, String> all = new LinkedHashMap<>();
    range(null, null).forEach(e -> all.put(e.getKey(), e.getValue()));
    return all;
  }

  // ---- writes (PgWriter's SQL, run by PgWrites) ----

  /**
   * {@inheritDoc}
   *
   * <p>On PostgreSQL a {@link WriteFailedException} with {@link
   * WriteFailedException#outcomeUnknown()} true means the write may have been applied (the
   * connection failed after its commit was sent): a {@link #get} on this instance settles it. The
   * same holds for every write.
   */
  @Override
  public <T> T set(String k, String v, Function<String, T> prior) {
    return writes.set(k, v, prior);
  }

  /** In a transaction, so that a prior value that cannot be decoded rolls the delete back. */
  @Override
  public <T> T delete(String k, Function<String, T> prior) {
    return writes.delete(k, prior);
  }

  @Override
  public <T> T setIfAbsent(String k, String v, Function<String, T> present) {
    return writes.setIfAbsent(k, v, present);
  }

  @Override
  public boolean compareAndSet(String k, String e, String n) {
    return writes.compareAndSet(k, e, n);
  }

  /** Applies all changes in one transaction, or none; a later change to a key wins. */
  @Override
  public void apply(List<Change> batch) {
    writes.apply(batch);
  }

  // ---- what PostgreSQL text can hold ----

  /** Refuses U+0000, and, for a write that may insert it, a key over {@link #MAX_KEY_BYTES}. */
  @Override
  public void checkKey(String k, boolean mayInsert) {
    noNul(k, "key");
    if (mayInsert && k.length() > MAX_KEY_BYTES / 3) { // fewer chars can never exceed the limit
      int bytes = k.getBytes(StandardCharsets.UTF_8).length;
      if (bytes > MAX_KEY_BYTES) {
        throw new IllegalArgumentException(
            "key "
                + Text.excerpt(k)
                + " is "
                + bytes
                + " bytes long (UTF-8); PostgreSQL stores keys of at most "
                + MAX_KEY_BYTES
                + " bytes, because its btree index refuses entries over 2704 bytes; use a"
                + " shorter key, for example a hash of this one");
      }
    }
  }

  @Override
  public void checkValue(String value) {
    noNul(value, "value");
  }

  private static void noNul(String text, String what) {
    int i = text.indexOf('\0');
    if (i >= 0) {
      throw new IllegalArgumentException(
          what
              + " contains the character U+0000 at index "
              + i
              + ", which PostgreSQL text cannot store; encode it (for example as \\u0000)");
    }
  }

  /** Stops the change feed and closes the pool. */
  @Override
  public void close() {
    try {
      feed.close();
      pool.close();
    } finally {
      cache.clear();
    }
  }

  @Override
  public String toString() {
    return "PostgresBackend[" + where + "]";
  }
}
