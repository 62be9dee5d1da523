package dev.kvlog;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.kvlog.internal.Migrations;
import dev.kvlog.internal.Text;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
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
 *   <li><b>Reads</b> come from this instance's cache. An instance always reads its own writes. A
 *       trigger sends a {@code NOTIFY} with the key at every commit; each instance listens and
 *       re-reads that key, so other instances' writes show up typically within milliseconds (the
 *       listener polls every 100 ms at most). If the listening connection is lost, the instance
 *       reloads everything after reconnecting; during that reload a key written meanwhile may
 *       briefly show its previous value, until the notification of the write is processed.
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
  private static final Logger log = LoggerFactory.getLogger(PostgresKVStore.class);
  private static final int STRIPES = 256;

  private final String where;
  private final Codec<K> keys;
  private final Codec<V> values;
  private final HikariDataSource pool;
  private final ConcurrentHashMap<String, String> cache = new ConcurrentHashMap<>();
  private final ReentrantLock[] stripes = new ReentrantLock[STRIPES];
  private final int schemaVersion;
  private final String channel;
  private final Thread listener;
  private volatile Connection listening;
  private volatile boolean closed;

  private PostgresKVStore(Builder<K, V> b) {
    this.where = redact(b.url);
    this.keys = b.keys;
    this.values = b.values;
    for (int i = 0; i < STRIPES; i++) {
      stripes[i] = new ReentrantLock();
    }
    HikariConfig config = new HikariConfig();
    config.setPoolName("kvlog-pg");
    config.setJdbcUrl(b.url);
    config.setMaximumPoolSize(b.poolSize + 1); // + the listening connection
    config.setConnectionInitSql("SET synchronous_commit TO on");
    config.setInitializationFailTimeout(1);
    try {
      pool = new HikariDataSource(config);
    } catch (RuntimeException e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      throw new StoreOpenException("cannot connect to " + where + ": " + cause.getMessage(), e);
    }
    try {
      String schema;
      try (Connection c = pool.getConnection()) {
        requireDurable(c);
        schemaVersion = Migrations.migratePostgres(c, where);
        try (Statement s = c.createStatement();
            ResultSet rs = s.executeQuery("SELECT current_schema()")) {
          rs.next();
          schema = rs.getString(1);
        }
      }
      channel = "kvlog:" + schema;
      listening = listen(); // before the load: no change can fall between the two
      reloadAll();
      listener = new Thread(this::listenLoop, "kvlog-pg-listener");
      listener.setDaemon(true);
      listener.start();
    } catch (SQLException | RuntimeException e) {
      pool.close();
      if (e instanceof KVLogException) {
        throw (KVLogException) e;
      }
      throw new StoreOpenException("cannot open the store at " + where + ": " + e.getMessage(), e);
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

  private static String show(Connection c, String setting) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SHOW " + setting)) {
      rs.next();
      return rs.getString(1);
    }
  }

  // ---- reads ----

  @Override
  public Optional<V> get(K key) {
    String k = encodeKey(key);
    checkOpen();
    return decode(cache.get(k));
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
                  keys.decode(rs.getString(1)), values.decode(rs.getString(2))));
        }
      }
      return out;
    } catch (SQLException e) {
      throw new KVLogException("range read from " + where + " failed: " + e.getMessage(), e);
    }
  }

  // ---- writes ----

  @Override
  public Optional<V> set(K key, V value) {
    String k = encodeKey(key);
    String v = encodeValue(value);
    return decode(write(k, "set", c -> upsert(c, k, v)));
  }

  @Override
  public Optional<V> delete(K key) {
    String k = encodeKey(key);
    return decode(
        write(
            k,
            "delete",
            c -> {
              try (PreparedStatement s =
                  c.prepareStatement("DELETE FROM kv WHERE key = ? RETURNING value")) {
                s.setString(1, k);
                try (ResultSet rs = s.executeQuery()) {
                  return new Outcome(rs.next() ? rs.getString(1) : null, null);
                }
              }
            }));
  }

  @Override
  public Optional<V> setIfAbsent(K key, V value) {
    String k = encodeKey(key);
    String v = encodeValue(value);
    return decode(
        write(
            k,
            "setIfAbsent",
            c -> {
              for (; ; ) {
                if (insertIfAbsent(c, k, v)) {
                  return new Outcome(null, v);
                }
                String present = select(c, k);
                if (present != null) {
                  return new Outcome(present, present);
                }
                // deleted between the two statements: try again
              }
            }));
  }

  @Override
  public boolean compareAndSet(K key, V expected, V newValue) {
    String k = encodeKey(key);
    String e = expected == null ? null : encodeValue(expected);
    String n = newValue == null ? null : encodeValue(newValue);
    String result =
        write(
            k,
            "compareAndSet",
            c -> {
              boolean swapped;
              if (e == null && n == null) {
                swapped = select(c, k) == null;
              } else if (e == null) {
                swapped = insertIfAbsent(c, k, n);
              } else if (n == null) {
                try (PreparedStatement s =
                    c.prepareStatement("DELETE FROM kv WHERE key = ? AND value = ?")) {
                  s.setString(1, k);
                  s.setString(2, e);
                  swapped = s.executeUpdate() == 1;
                }
              } else {
                try (PreparedStatement s =
                    c.prepareStatement("UPDATE kv SET value = ? WHERE key = ? AND value = ?")) {
                  s.setString(1, n);
                  s.setString(2, k);
                  s.setString(3, e);
                  swapped = s.executeUpdate() == 1;
                }
              }
              // The cache learns the current value either way: a failed CAS means it was stale.
              return new Outcome(swapped ? "true" : "false", swapped ? n : select(c, k));
            });
    return "true".equals(result);
  }

  /** Applies all changes of {@code batch} in one transaction, or none. */
  public void write(WriteBatch<K, V> batch) {
    Objects.requireNonNull(batch, "batch");
    java.util.LinkedHashMap<String, String> changes = new java.util.LinkedHashMap<>();
    batch.forEach((k, v) -> changes.put(encodeKey(k), v == null ? null : encodeValue(v)));
    checkOpen();
    if (changes.isEmpty()) {
      return;
    }
    java.util.List<ReentrantLock> held = new java.util.ArrayList<>();
    changes.keySet().stream()
        .mapToInt(PostgresKVStore::stripeIndex)
        .distinct()
        .sorted() // one global order: batches cannot deadlock each other
        .forEach(
            i -> {
              stripes[i].lock();
              held.add(stripes[i]);
            });
    try (Connection c = pool.getConnection()) {
      c.setAutoCommit(false);
      try {
        for (java.util.Map.Entry<String, String> ch : changes.entrySet()) {
          if (ch.getValue() == null) {
            try (PreparedStatement s = c.prepareStatement("DELETE FROM kv WHERE key = ?")) {
              s.setString(1, ch.getKey());
              s.executeUpdate();
            }
          } else {
            try (PreparedStatement s =
                c.prepareStatement(
                    "INSERT INTO kv(key, value) VALUES (?, ?)"
                        + " ON CONFLICT (key) DO UPDATE SET value = excluded.value")) {
              s.setString(1, ch.getKey());
              s.setString(2, ch.getValue());
              s.executeUpdate();
            }
          }
        }
        c.commit();
      } catch (SQLException e) {
        c.rollback();
        throw e;
      } finally {
        c.setAutoCommit(true);
      }
      changes.forEach(this::cachePut);
    } catch (SQLException e) {
      throw failed("batch of " + changes.size() + " changes", e);
    } finally {
      held.forEach(ReentrantLock::unlock);
    }
  }

  /** What a write returned, and what the key holds after it (null: absent). */
  private record Outcome(String result, String after) {}

  @FunctionalInterface
  private interface SqlWrite {
    Outcome apply(Connection c) throws SQLException;
  }

  /**
   * Runs one write under the key's stripe lock (which orders it with the listener's re-reads of the
   * same key, so a re-read never overwrites this instance's newer write in the cache), then caches
   * the state the database reported.
   */
  private String write(String key, String what, SqlWrite op) {
    checkOpen();
    ReentrantLock lock = stripe(key);
    lock.lock();
    try (Connection c = pool.getConnection()) {
      Outcome o = op.apply(c);
      cachePut(key, o.after());
      return o.result();
    } catch (SQLException e) {
      refreshQuietly(key);
      throw failed(what + " of key " + Text.excerpt(key), e);
    } finally {
      lock.unlock();
    }
  }

  /** Upsert that returns the prior value, decided under the row lock. */
  private Outcome upsert(Connection c, String k, String v) throws SQLException {
    c.setAutoCommit(false);
    try {
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
          try (PreparedStatement s = c.prepareStatement("UPDATE kv SET value = ? WHERE key = ?")) {
            s.setString(1, v);
            s.setString(2, k);
            s.executeUpdate();
          }
          c.commit();
          return new Outcome(prior, v);
        }
        if (insertIfAbsent(c, k, v)) {
          c.commit();
          return new Outcome(null, v);
        }
        // Another instance inserted the key since our SELECT and committed: lock it and update.
      }
    } catch (SQLException e) {
      c.rollback();
      throw e;
    } finally {
      c.setAutoCommit(true);
    }
  }

  private static boolean insertIfAbsent(Connection c, String k, String v) throws SQLException {
    try (PreparedStatement s =
        c.prepareStatement(
            "INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")) {
      s.setString(1, k);
      s.setString(2, v);
      return s.executeUpdate() == 1;
    }
  }

  private static String select(Connection c, String k) throws SQLException {
    try (PreparedStatement s = c.prepareStatement("SELECT value FROM kv WHERE key = ?")) {
      s.setString(1, k);
      try (ResultSet rs = s.executeQuery()) {
        return rs.next() ? rs.getString(1) : null;
      }
    }
  }

  private WriteFailedException failed(String what, SQLException e) {
    return new WriteFailedException(
        what
            + " on "
            + where
            + " failed: "
            + e.getMessage()
            + "; the database decides every write, so retrying is safe once the server is"
            + " reachable (a failed commit may or may not have been applied: re-read to know)",
        e,
        false);
  }

  private void cachePut(String key, String value) {
    if (value == null) {
      cache.remove(key);
    } else {
      cache.put(key, value);
    }
  }

  private ReentrantLock stripe(String key) {
    return stripes[stripeIndex(key)];
  }

  private static int stripeIndex(String key) {
    return (key.hashCode() & 0x7fffffff) % STRIPES;
  }

  // ---- change feed ----

  private Connection listen() throws SQLException {
    Connection c = pool.getConnection();
    try (Statement s = c.createStatement()) {
      s.execute("LISTEN \"" + channel.replace("\"", "\"\"") + "\"");
    }
    return c;
  }

  private void reloadAll() throws SQLException {
    java.util.Map<String, String> rows = new java.util.HashMap<>();
    try (Connection c = pool.getConnection();
        Statement s = c.createStatement()) {
      c.setAutoCommit(false); // a cursor instead of the whole table in one response
      s.setFetchSize(10_000);
      try (ResultSet rs = s.executeQuery("SELECT key, value FROM kv")) {
        while (rs.next()) {
          rows.put(rs.getString(1), rs.getString(2));
        }
      }
      c.commit();
      c.setAutoCommit(true);
    }
    rows.forEach(cache::put);
    cache.keySet().removeIf(k -> !rows.containsKey(k));
  }

  private void refresh(String key) throws SQLException {
    ReentrantLock lock = stripe(key);
    lock.lock();
    try (Connection c = pool.getConnection()) {
      cachePut(key, select(c, key));
    } finally {
      lock.unlock();
    }
  }

  private void refreshQuietly(String key) {
    try {
      refresh(key);
    } catch (SQLException | RuntimeException e) {
      log.debug("cannot re-read {} after a failed write; the listener will", key, e);
    }
  }

  private void listenLoop() {
    while (!closed) {
      try {
        PGNotification[] notes = listening.unwrap(PGConnection.class).getNotifications(100);
        if (notes == null) {
          continue;
        }
        for (PGNotification n : notes) {
          if (n.getParameter().isEmpty()) {
            reloadAll();
          } else {
            refresh(n.getParameter());
          }
        }
      } catch (SQLException | RuntimeException e) {
        if (closed) {
          return;
        }
        log.warn("lost the change feed of {}; reconnecting and reloading", where, e);
        try {
          listening.close();
        } catch (SQLException ignored) {
          // it is broken already
        }
        while (!closed) {
          try {
            Thread.sleep(1000);
            listening = listen();
            reloadAll();
            break;
          } catch (SQLException | RuntimeException again) {
            log.warn("cannot reconnect the change feed of {}: {}", where, again.getMessage());
          } catch (InterruptedException interrupted) {
            return;
          }
        }
      }
    }
  }

  // ---- plumbing ----

  private String encodeKey(K key) {
    Objects.requireNonNull(key, "key must not be null");
    return noNul(Text.requireValidUtf16(keys.encode(key), "key"), "key");
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

  private Optional<V> decode(String text) {
    return text == null ? Optional.empty() : Optional.of(values.decode(text));
  }

  private void checkOpen() {
    if (closed) {
      throw new StoreClosedException(where + " is closed; open it again with a builder");
    }
  }

  /** The URL without its password, for messages. */
  static String redact(String url) {
    return url.replaceAll("(?i)(password=)[^&]*", "$1***");
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
    try {
      listener.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    try {
      listening.close();
    } catch (SQLException ignored) {
      // closing anyway
    }
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

    /** Connections for writes (default 8), plus one for the change feed. */
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
