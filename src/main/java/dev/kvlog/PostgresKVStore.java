package dev.kvlog;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.kvlog.internal.Migrations;
import dev.kvlog.internal.Secrets;
import dev.kvlog.internal.Text;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The same {@link KVStore} on a PostgreSQL server, so several application instances (on several
 * machines) can share one store. Reads still come from an in-memory cache; every write is decided
 * by the database.
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
 *
 * @param <K> key type
 * @param <V> value type
 */
public final class PostgresKVStore<K, V> implements KVStore<K, V> {
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

  private static final Logger log = LoggerFactory.getLogger(PostgresKVStore.class);

  private final String where;
  private final Codec<K> keys;
  private final Codec<V> values;
  private final HikariDataSource pool;
  private final PgCache cache = new PgCache();
  private final int schemaVersion;
  private final PgChangeFeed feed;
  private volatile boolean closed;

  private PostgresKVStore(Builder<K, V> b) {
    this.where = redact(b.url);
    this.keys = b.keys;
    this.values = b.values;
    HikariConfig config = new HikariConfig();
    config.setPoolName("kvlog-pg");
    config.setJdbcUrl(b.url);
    config.setMaximumPoolSize(b.poolSize);
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
      List<String> secrets = Secrets.of(b.url);
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
      feed = new PgChangeFeed(b.url, where, "kvlog:" + schema, pool, cache);
      feed.start();
    } catch (SQLException | RuntimeException e) {
      pool.close();
      if (e instanceof KVLogException) {
        throw (KVLogException) e;
      }
      List<String> secrets = Secrets.of(b.url);
      throw new StoreOpenException(
          "cannot open the store at " + where + ": " + Secrets.redact(e.getMessage(), secrets),
          Secrets.scrub(e, secrets));
    }
  }

  /** A builder for a store of String keys and values at {@code jdbcUrl} (jdbc:postgresql:...). */
  public static Builder<String, String> builder(String jdbcUrl) {
    return builder(jdbcUrl, Codecs.string(), Codecs.string());
  }

  /** A builder for a store at {@code jdbcUrl} whose keys and values are converted by codecs. */
  public static <K, V> Builder<K, V> builder(String jdbcUrl, Codec<K> keys, Codec<V> values) {
    return new Builder<>(jdbcUrl, keys, values);
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
   * @throws NullPointerException if {@code key} is null
   * @throws IllegalArgumentException if the encoded key is not valid UTF-16 or contains U+0000
   * @throws StoreClosedException if the store is closed
   */
  @Override
  public Optional<V> get(K key) {
    String k = encodeKey(key);
    checkOpen();
    if (cache.isUncertain(k)) {
      return decode(k, settle(k), false);
    }
    long stale = feed.staleMillis();
    return decode(
        k, stale > PgChangeFeed.TRUSTED_MS ? readThrough(k, stale) : cache.value(k), false);
  }

  /**
   * Reads {@code key} from the table while the change feed is too far behind for the cache to keep
   * the staleness bound (the feed cannot reconnect, though the pool may still work).
   */
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
  public long feedReconnects() {
    return feed.reconnects();
  }

  /** The number of entries in this instance's cache. */
  public int size() {
    checkOpen();
    return cache.size();
  }

  /** The schema version installed in the database. */
  public int schemaVersion() {
    return schemaVersion;
  }

  /**
   * Entries with {@code from <= key < to} (nulls: unbounded), in key order, read from the table in
   * one statement (a consistent snapshot).
   */
  public java.util.List<java.util.Map.Entry<K, V>> range(K from, K to) {
    checkOpen();
    String lo = from == null ? null : encodeKey(from);
    String hi = to == null ? null : encodeKey(to);
    java.util.List<java.util.Map.Entry<K, V>> out = new java.util.ArrayList<>();
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
          out.add(
              new java.util.AbstractMap.SimpleImmutableEntry<>(
                  decodeKey(rs.getString(1)),
                  decodeValue(rs.getString(1), rs.getString(2), false)));
        }
      }
      return out;
    } catch (SQLException e) {
      throw new KVLogException("range read from " + where + " failed: " + e.getMessage(), e);
    }
  }

  // ---- writes ----

  /**
   * {@inheritDoc}
   *
   * <p>On PostgreSQL a {@link WriteFailedException} with {@link
   * WriteFailedException#outcomeUnknown()} true means the write may have been applied (the
   * connection failed after its commit was sent): call {@link #get} on this instance before
   * retrying; it settles the outcome. The same holds for {@link #delete}, {@link #setIfAbsent},
   * {@link #compareAndSet} and {@link #write(WriteBatch)}.
   *
   * <p>Writes that may insert a key ({@code set}, {@code setIfAbsent}, {@code compareAndSet} to a
   * value, a batch's puts) throw {@link IllegalArgumentException} for a key over {@link
   * #MAX_KEY_BYTES} UTF-8 bytes, before anything is sent.
   */
  @Override
  public Optional<V> set(K key, V value) {
    String k = encodeKeyForWrite(key);
    String v = encodeValue(value);
    return decode(k, write(k, "set", (c, a) -> upsert(c, a, k, v)), true);
  }

  @Override
  public Optional<V> delete(K key) {
    String k = encodeKey(key);
    return decodeWritten(
        k,
        write(
            k,
            "delete",
            (c, a) -> {
              a.commitMayBeSent(); // autocommit: the statement is its own commit
              try (PreparedStatement s =
                  c.prepareStatement("DELETE FROM kv WHERE key = ? RETURNING value, version")) {
                s.setString(1, k);
                try (ResultSet rs = s.executeQuery()) {
                  if (rs.next()) {
                    cache.deleted(k, rs.getLong(2));
                    return rs.getString(1);
                  }
                }
              }
              PgRows.readKey(c, k, cache); // absent already: learn its tombstone
              return null;
            }));
  }

  @Override
  public Optional<V> setIfAbsent(K key, V value) {
    String k = encodeKeyForWrite(key);
    String v = encodeValue(value);
    return decodeWritten(
        k,
        write(
            k,
            "setIfAbsent",
            (c, a) -> {
              for (; ; ) {
                a.commitMayBeSent();
                if (insertIfAbsent(c, k, v)) {
                  return null;
                }
                String present = PgRows.readKey(c, k, cache);
                if (present != null) {
                  return present;
                }
                // deleted between the two statements: try again
              }
            }));
  }

  @Override
  public boolean compareAndSet(K key, V expected, V newValue) {
    String k = newValue == null ? encodeKey(key) : encodeKeyForWrite(key);
    String e = expected == null ? null : encodeValue(expected);
    String n = newValue == null ? null : encodeValue(newValue);
    Boolean swapped =
        write(
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
    return swapped;
  }

  /** After a failed CAS the cache was stale, or will be: re-read the key. Returns false. */
  private boolean learn(Connection c, String k) throws SQLException {
    PgRows.readKey(c, k, cache);
    return false;
  }

  /** Applies all changes of {@code batch} in one transaction, or none. */
  public void write(WriteBatch<K, V> batch) {
    Objects.requireNonNull(batch, "batch");
    java.util.LinkedHashMap<String, String> changes = new java.util.LinkedHashMap<>();
    batch.forEach(
        (k, v) ->
            changes.put(
                v == null ? encodeKey(k) : encodeKeyForWrite(k),
                v == null ? null : encodeValue(v)));
    checkOpen();
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
                      java.util.List<Runnable> learned = new java.util.ArrayList<>();
                      try (PreparedStatement del =
                              c.prepareStatement("DELETE FROM kv WHERE key = ? RETURNING version");
                          PreparedStatement put =
                              c.prepareStatement(
                                  "INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT (key)"
                                      + " DO UPDATE SET value = excluded.value RETURNING version")) {
                        for (java.util.Map.Entry<String, String> ch : changes.entrySet()) {
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
    return writeAll(java.util.List.of(key), what + " of key " + Text.excerpt(key), op);
  }

  /** Runs {@code op}, retrying refusals that say "retry" (40xxx), and classifies failures. */
  private <T> T writeAll(java.util.Collection<String> touched, String what, PgWrites.Op<T> op) {
    checkOpen();
    return PgWrites.run(pool, where, what, touched, cache, op);
  }

  /** Upsert that returns the prior value, decided under the row lock. */
  private String upsert(Connection c, PgWrites.Attempt a, String k, String v) throws SQLException {
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
              try (PreparedStatement s =
                  c.prepareStatement("UPDATE kv SET value = ? WHERE key = ? RETURNING version")) {
                s.setString(1, v);
                s.setString(2, k);
                try (ResultSet rs = s.executeQuery()) {
                  rs.next();
                  a.onCommit(cacheAdvance(k, v, rs.getLong(1)));
                }
              }
              return prior;
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

  // ---- plumbing ----

  private String encodeKey(K key) {
    Objects.requireNonNull(key, "key must not be null");
    return noNul(Text.requireValidUtf16(keys.encode(key), "key"), "key");
  }

  /** A key that a write may insert: also within {@link #MAX_KEY_BYTES}. */
  private String encodeKeyForWrite(K key) {
    String k = encodeKey(key);
    if (k.length() > MAX_KEY_BYTES / 3) { // fewer chars can never exceed the limit
      int bytes = k.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
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
    return k;
  }

  private String encodeValue(V value) {
    Objects.requireNonNull(value, "value must not be null; use delete(key) to remove a key");
    return noNul(Text.requireValidUtf16(values.encode(value), "value"), "value");
  }

  private static String noNul(String text, String what) {
    int i = text.indexOf('\0');
    if (i >= 0) {
      throw new IllegalArgumentException(
          what
              + " contains the character U+0000 at index "
              + i
              + ", which PostgreSQL text cannot store; encode it (for example as \\u0000)");
    }
    return text;
  }

  private Optional<V> decodeWritten(String key, String text) {
    return decode(key, text, true);
  }

  /**
   * Decodes a stored value; a codec that fails or returns null becomes a {@link
   * CorruptValueException} naming the key. On this backend a write's prior value is decoded after
   * its commit ({@code written}): the message then says the write was applied.
   */
  private Optional<V> decode(String key, String text, boolean written) {
    return text == null ? Optional.empty() : Optional.of(decodeValue(key, text, written));
  }

  private V decodeValue(String key, String text, boolean written) {
    V value;
    try {
      value = values.decode(text);
    } catch (KVLogException e) {
      throw e;
    } catch (RuntimeException e) {
      throw undecodable("value of key " + Text.excerpt(key), e.getMessage(), written, e);
    }
    if (value == null) {
      throw undecodable("value of key " + Text.excerpt(key), "it decodes to null", written, null);
    }
    return value;
  }

  private K decodeKey(String text) {
    K key;
    try {
      key = keys.decode(text);
    } catch (KVLogException e) {
      throw e;
    } catch (RuntimeException e) {
      throw undecodable("key " + Text.excerpt(text), e.getMessage(), false, e);
    }
    if (key == null) {
      throw undecodable("key " + Text.excerpt(text), "it decodes to null", false, null);
    }
    return key;
  }

  private CorruptValueException undecodable(
      String what, String why, boolean written, Throwable cause) {
    return new CorruptValueException(
        (written ? "the write was applied, but the prior " : "the stored ")
            + what
            + " in "
            + where
            + " cannot be decoded ("
            + why
            + "); another tool may have edited it, or the type changed",
        cause);
  }

  private void checkOpen() {
    if (closed) {
      throw new StoreClosedException(where + " is closed; open it again with a builder");
    }
  }

  /** The URL without its secrets (user-info password, password-like parameters), for messages. */
  static String redact(String url) {
    return Secrets.redact(url);
  }

  /** Stops the change feed and closes the pool. Idempotent. */
  @Override
  public void close() {
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
    }
    feed.close();
    pool.close();
    cache.clear();
  }

  @Override
  public String toString() {
    return "PostgresKVStore[" + where + (closed ? ", closed]" : ", " + cache.size() + " entries]");
  }

  /** Options for opening a PostgreSQL store. */
  public static final class Builder<K, V> {
    private final String url;
    private final Codec<K> keys;
    private final Codec<V> values;
    private int poolSize = 8;

    private Builder(String url, Codec<K> keys, Codec<V> values) {
      Objects.requireNonNull(url, "jdbcUrl");
      if (!url.startsWith("jdbc:postgresql:")) {
        throw new IllegalArgumentException(
            "not a PostgreSQL JDBC URL: " + redact(url) + "; expected jdbc:postgresql://host/db");
      }
      this.url = url;
      this.keys = Objects.requireNonNull(keys, "key codec must not be null");
      this.values = Objects.requireNonNull(values, "value codec must not be null");
    }

    /** Connections for writes and reloads (default 8), plus one of its own for the change feed. */
    public Builder<K, V> poolSize(int connections) {
      if (connections < 1 || connections > 1000) {
        throw new IllegalArgumentException(
            "poolSize must be between 1 and 1000, was " + connections);
      }
      this.poolSize = connections;
      return this;
    }

    /**
     * Connects, checks the server's durability settings, applies pending migrations, starts the
     * change feed and loads the table into memory.
     *
     * @throws StoreOpenException if the server cannot be reached or is configured to lose commits
     * @throws SchemaException if the store's schema is newer than this build
     */
    public PostgresKVStore<K, V> open() {
      return new PostgresKVStore<>(this);
    }
  }
}
