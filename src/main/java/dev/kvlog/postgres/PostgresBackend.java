package dev.kvlog.postgres;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.kvlog.KVLogException;
import dev.kvlog.StoreOpenException;
import dev.kvlog.WriteFailedException;
import dev.kvlog.internal.Secrets;
import dev.kvlog.internal.Text;
import dev.kvlog.spi.Backend;
import dev.kvlog.spi.Capability;
import dev.kvlog.spi.Change;
import dev.kvlog.sqlite.Migrations;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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

  private static final Logger log = LoggerFactory.getLogger(PostgresBackend.class);

  private final String where;
  private final HikariDataSource pool;
  private final PgCache cache = new PgCache();
  private final int schemaVersion;
  private final PgChangeFeed feed;

  PostgresBackend(String url, int poolSize) {
    this.where = Secrets.redact(url);
    HikariConfig config = new HikariConfig();
    config.setPoolName("kvlog-pg");
    config.setJdbcUrl(url);
    config.setMaximumPoolSize(poolSize);
    config.setConnectionInitSql("SET synchronous_commit TO on");
    // A write on a connection that died silently fails after this (outcome unknown) instead of
    // hanging; settings in the URL take precedence.
    config.addDataSourceProperty("socketTimeout", "30");
    config.addDataSourceProperty("tcpKeepAlive", "true");
    // Names this pool's sessions, so settling an unknown outcome only ever ends one of them.
    config.addDataSourceProperty("ApplicationName", "kvlog");
    config.setInitializationFailTimeout(1);
    try {
      pool = new HikariDataSource(config);
    } catch (RuntimeException e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      List<String> secrets = Secrets.of(url);
      throw new StoreOpenException(
          "cannot connect to " + where + ": " + Secrets.redact(cause.getMessage(), secrets),
          Secrets.scrub(e, secrets));
    }
    try {
      String schema;
      try (Connection c = pool.getConnection()) {
        requireDurable(c);
        try (Statement s = c.createStatement();
            ResultSet rs = s.executeQuery("SELECT current_schema()")) {
          rs.next();
          schema = rs.getString(1);
        }
        requireChannelFits(schema);
        schemaVersion = Migrations.migratePostgres(c, where);
      }
      feed = new PgChangeFeed(url, where, "kvlog:" + schema, pool, cache);
      feed.start();
    } catch (SQLException | RuntimeException e) {
      pool.close();
      if (e instanceof KVLogException) {
        throw (KVLogException) e;
      }
      List<String> secrets = Secrets.of(url);
      throw new StoreOpenException(
          "cannot open the store at " + where + ": " + Secrets.redact(e.getMessage(), secrets),
          Secrets.scrub(e, secrets));
    }
  }

  private void requireDurable(Connection c) throws SQLException {
    String fsync = show(c, "fsync");
    if (!"on".equals(fsync)) {
      throw new StoreOpenException(
          where
              + " runs with fsync="
              + fsync
              + ": a crash of the server can lose or corrupt committed data, so KVLog refuses to"
              + " use it; set fsync=on in postgresql.conf");
    }
    String commit = show(c, "synchronous_commit");
    if ("off".equals(commit)) {
      throw new StoreOpenException(
          where
              + " has synchronous_commit=off even after SET; refusing to acknowledge writes"
              + " that are not flushed");
    }
    if (!"on".equals(show(c, "full_page_writes"))) {
      log.warn(
          "{} runs with full_page_writes=off: a torn page after a power cut can corrupt"
              + " the database",
          where);
    }
  }

  /**
   * Refuses, before anything is created, a schema whose change channel {@code kvlog:<schema>} would
   * exceed PostgreSQL's identifier limit: the trigger's pg_notify would then fail every write with
   * "channel name too long". Refusing (rather than hashing the name in a new trigger) keeps the
   * channel readable in pg_listening_channels() and needs no schema change.
   */
  private void requireChannelFits(String schema) {
    if (schema == null) {
      return; // no current schema: the migration reports it
    }
    int bytes = schema.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
    if (bytes > MAX_SCHEMA_NAME_BYTES) {
      throw new StoreOpenException(
          "schema name "
              + Text.excerpt(schema)
              + " of "
              + where
              + " is "
              + bytes
              + " bytes long; KVLog's change channel \"kvlog:<schema>\" must fit PostgreSQL's"
              + " 63-byte identifier limit, so schema names may have at most "
              + MAX_SCHEMA_NAME_BYTES
              + " bytes (UTF-8); use a shorter schema name in currentSchema=");
    }
  }

  private static String show(Connection c, String setting) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SHOW " + setting)) {
      rs.next();
      return rs.getString(1);
    }
  }

  // ---- reads ----

  @Override
  public String describe() {
    return where;
  }

  @Override
  public Set<Capability> capabilities() {
    return Set.of();
  }

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
    if (cache.isUncertain(k)) {
      return settle(k);
    }
    long stale = feed.staleMillis();
    return stale > PgChangeFeed.TRUSTED_MS ? readThrough(k, stale) : cache.value(k);
  }

  private String readThrough(String key, long staleMillis) {
    try (Connection c = pool.getConnection()) {
      return PgRows.readKey(c, key, cache);
    } catch (SQLException e) {
      throw new KVLogException(
          "cannot read key "
              + Text.excerpt(key)
              + " from "
              + where
              + ": the change feed has not caught up for "
              + staleMillis
              + " ms, longer than the "
              + STALENESS_BOUND_SECONDS
              + " s staleness bound allows, so the cache may be stale, and reading the table"
              + " failed too: "
              + e.getMessage()
              + "; retry once the server is reachable",
          e);
    }
  }

  /** How often this instance lost its change feed and caught up again since it opened. */

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
    List<Map.Entry<String, String>> out = new ArrayList<>();
    try (Connection c = pool.getConnection();
        PreparedStatement s =
            c.prepareStatement(
                "SELECT key, value FROM kv WHERE (?::text IS NULL OR key >= ?)"
                    + " AND (?::text IS NULL OR key < ?) ORDER BY key")) {
      s.setString(1, lo);
      s.setString(2, lo);
      s.setString(3, hi);
      s.setString(4, hi);
      try (ResultSet rs = s.executeQuery()) {
        while (rs.next()) {
          out.add(new AbstractMap.SimpleImmutableEntry<>(rs.getString(1), rs.getString(2)));
        }
      }
      return out;
    } catch (SQLException e) {
      throw new KVLogException("range read from " + where + " failed: " + e.getMessage(), e);
    }
  }

  /** Every entry, read from the table in one statement (a consistent snapshot). */
  @Override
  public Map<String, String> snapshot() {
    Map<String, String> all = new LinkedHashMap<>();
    range(null, null).forEach(e -> all.put(e.getKey(), e.getValue()));
    return all;
  }

  // ---- writes ----

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
    return write(k, "set", (c, a) -> upsert(c, a, k, v, prior));
  }

  /** In a transaction, so that a prior value that cannot be decoded rolls the delete back. */
  @Override
  public <T> T delete(String k, Function<String, T> prior) {
    return write(
        k,
        "delete",
        (c, a) ->
            PgWrites.inTransaction(
                c,
                a,
                () -> {
                  try (PreparedStatement s =
                      c.prepareStatement("DELETE FROM kv WHERE key = ? RETURNING value, version")) {
                    s.setString(1, k);
                    try (ResultSet rs = s.executeQuery()) {
                      if (rs.next()) {
                        long version = rs.getLong(2);
                        T decoded = PgWrites.decodePrior(prior, rs.getString(1));
                        a.onCommit(() -> cache.deleted(k, version));
                        return decoded;
                      }
                    }
                  }
                  PgRows.readKey(c, k, cache); // absent already: learn its tombstone
                  return null;
                }));
  }

  @Override
  public <T> T setIfAbsent(String k, String v, Function<String, T> present) {
    return write(
        k,
        "setIfAbsent",
        (c, a) -> {
          for (; ; ) {
            a.commitMayBeSent();
            if (insertIfAbsent(c, k, v)) {
              return null;
            }
            String text = PgRows.readKey(c, k, cache);
            if (text != null) {
              return PgWrites.decodePrior(present, text); // nothing was written
            }
            // deleted between the two statements: try again
          }
        });
  }

  @Override
  public boolean compareAndSet(String k, String e, String n) {
    return write(
        k,
        "compareAndSet",
        (c, a) -> {
          a.commitMayBeSent();
          if (e == null && n == null) {
            return PgRows.readKey(c, k, cache) == null;
          }
          if (e == null) {
            return insertIfAbsent(c, k, n) || learn(c, k);
          }
          String sql =
              n == null
                  ? "DELETE FROM kv WHERE key = ? AND value = ? RETURNING version"
                  : "UPDATE kv SET value = ? WHERE key = ? AND value = ? RETURNING version";
          try (PreparedStatement s = c.prepareStatement(sql)) {
            int i = 1;
            if (n != null) {
              s.setString(i++, n);
            }
            s.setString(i++, k);
            s.setString(i, e);
            try (ResultSet rs = s.executeQuery()) {
              if (rs.next()) {
                if (n == null) {
                  cache.deleted(k, rs.getLong(1));
                } else {
                  cache.advance(k, n, rs.getLong(1));
                }
                return true;
              }
            }
          }
          return learn(c, k);
        });
  }

  /** After a failed CAS the cache was stale, or will be: re-read the key. Returns false. */
  private boolean learn(Connection c, String k) throws SQLException {
    PgRows.readKey(c, k, cache);
    return false;
  }

  /** Applies all changes in one transaction, or none; a later change to a key wins. */
  @Override
  public void apply(List<Change> batch) {
    Map<String, String> changes = new LinkedHashMap<>();
    batch.forEach(ch -> changes.put(ch.key(), ch.value()));
    if (changes.isEmpty()) {
      return;
    }
    String first = changes.keySet().iterator().next();
    writeAll(
            changes.keySet(),
            "batch of " + changes.size() + " changes (first key " + Text.excerpt(first) + ")",
            (c, a) ->
                PgWrites.inTransaction(
                    c,
                    a,
                    () -> {
                      List<Runnable> learned = new ArrayList<>();
                      try (PreparedStatement del =
                              c.prepareStatement("DELETE FROM kv WHERE key = ? RETURNING version");
                          PreparedStatement put =
                              c.prepareStatement(
                                  "INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT (key)"
                                      + " DO UPDATE SET value = excluded.value RETURNING version")) {
                        for (Map.Entry<String, String> ch : changes.entrySet()) {
                          String k = ch.getKey();
                          String v = ch.getValue();
                          PreparedStatement s = v == null ? del : put;
                          s.setString(1, k);
                          if (v != null) {
                            s.setString(2, v);
                          }
                          try (ResultSet rs = s.executeQuery()) {
                            long version = rs.next() ? rs.getLong(1) : -1;
                            if (v != null) {
                              learned.add(() -> cache.advance(k, v, version));
                            } else if (version >= 0) {
                              learned.add(() -> cache.deleted(k, version));
                            } else {
                              learned.add(() -> PgWrites.refreshQuietly(pool, k, cache));
                            }
                          }
                        }
                      }
                      return learned;
                    }))
        .forEach(Runnable::run); // only after the commit: the cache never shows uncommitted data
  }

  private <T> T write(String key, String what, PgWrites.Op<T> op) {
    return writeAll(List.of(key), what + " of key " + Text.excerpt(key), op);
  }

  /** Runs {@code op}, retrying refusals that say "retry" (40xxx), and classifies failures. */
  private <T> T writeAll(Collection<String> touched, String what, PgWrites.Op<T> op) {
    return PgWrites.run(pool, where, what, touched, cache, op);
  }

  /** Upsert that returns the prior value, decided (and decoded) under the row lock. */
  private <T> T upsert(
      Connection c, PgWrites.Attempt a, String k, String v, Function<String, T> decode)
      throws SQLException {
    return PgWrites.inTransaction(
        c,
        a,
        () -> {
          for (; ; ) {
            String prior;
            try (PreparedStatement s =
                c.prepareStatement("SELECT value FROM kv WHERE key = ? FOR UPDATE")) {
              s.setString(1, k);
              try (ResultSet rs = s.executeQuery()) {
                prior = rs.next() ? rs.getString(1) : null;
              }
            }
            if (prior != null) {
              T decoded = PgWrites.decodePrior(decode, prior); // before anything is written
              try (PreparedStatement s =
                  c.prepareStatement("UPDATE kv SET value = ? WHERE key = ? RETURNING version")) {
                s.setString(1, v);
                s.setString(2, k);
                try (ResultSet rs = s.executeQuery()) {
                  rs.next();
                  a.onCommit(cacheAdvance(k, v, rs.getLong(1)));
                }
              }
              return decoded;
            }
            Long version = insert(c, k, v);
            if (version != null) {
              a.onCommit(cacheAdvance(k, v, version));
              return null;
            }
            // Another instance inserted the key since our SELECT and committed: lock it and update.
          }
        });
  }

  private Runnable cacheAdvance(String k, String v, long version) {
    return () -> cache.advance(k, v, version);
  }

  /** Inserts if absent and caches the result; true if inserted. */
  private boolean insertIfAbsent(Connection c, String k, String v) throws SQLException {
    Long version = insert(c, k, v);
    if (version == null) {
      return false;
    }
    cache.advance(k, v, version);
    return true;
  }

  /** The new row's version, or null if the key exists. */
  private static Long insert(Connection c, String k, String v) throws SQLException {
    try (PreparedStatement s =
        c.prepareStatement(
            "INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
                + " RETURNING version")) {
      s.setString(1, k);
      s.setString(2, v);
      try (ResultSet rs = s.executeQuery()) {
        return rs.next() ? rs.getLong(1) : null;
      }
    }
  }

  /**
   * Settles a key whose write's outcome was unknown: ends the server processes those writes ran on
   * ({@link PgWrites#endBackends}), so none can still commit, then reads the key from the table.
   */
  private String settle(String key) {
    SQLException first = null;
    for (int attempt = 0; attempt < 2; attempt++) { // the pool may hand out a connection that died
      try (Connection c = pool.getConnection()) {
        java.util.Set<Integer> orphans = cache.orphans(key);
        PgWrites.endBackends(c, orphans);
        String value = PgRows.readKey(c, key, cache);
        cache.settled(key, orphans);
        return value;
      } catch (SQLException e) {
        if (first != null) {
          e.addSuppressed(first);
        }
        first = e;
      }
    }
    throw new KVLogException(
        "cannot read key "
            + Text.excerpt(key)
            + " from "
            + where
            + ": its last write's outcome is unknown, so the cached value may be wrong, and"
            + " settling it (ending the server process that ran the write, then re-reading)"
            + " failed: "
            + first.getMessage()
            + "; retry once the server is reachable",
        first);
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
