package dev.kvlog.sqlite;

import dev.kvlog.KVLogException;
import dev.kvlog.spi.Backend;
import dev.kvlog.spi.BackendStats;
import dev.kvlog.spi.Capability;
import dev.kvlog.spi.Change;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * A store in one SQLite file, read from a warm cache, written through the group-commit log. The
 * design (log, cache, other tools, crashes, ownership) is described on {@code dev.kvlog.KVLog}; the
 * invariants live with the classes that keep them: {@link SqliteWriter} (decide inside the lock,
 * scans never ahead of get, a write returns or fails cleanly or says its outcome is unknown),
 * {@link GroupCommitter} (queue and leader), {@link ExternalChanges} (other connections' commits),
 * {@link WarmCache} (atomic publication), {@link OwnerLock} and {@link StoreFiles} (one owner per
 * file, whatever the path). Thread-safe.
 */
final class SqliteBackend implements Backend {
  private static final Set<Capability> CAPABILITIES =
      EnumSet.of(
          Capability.BACKUP,
          Capability.STATS,
          Capability.INTEGRITY_CHECK,
          Capability.OWNER_LOCK,
          Capability.LOCAL_FILE);

  private final StoreFileSet files;
  private final OwnerLock ownerLock;
  private final Database database;
  private final TableCache cache;
  private final SqliteWriter writer;
  private final Housekeeper housekeeper;
  private final CommitStats commitStats;
  private final int schemaVersion;

  SqliteBackend(
      StoreFileSet files,
      OwnerLock ownerLock,
      Database database,
      SqliteWriter writer,
      Housekeeper housekeeper,
      CommitStats commitStats,
      int schemaVersion) {
    this.files = files;

    this.ownerLock = ownerLock;
    this.database = database;
    this.cache = writer.cache();
    this.writer = writer;
    this.housekeeper = housekeeper;
    this.commitStats = commitStats;
    this.schemaVersion = schemaVersion;
  }

  /** The cache, for tests of what it holds and how (its table's flood statistics). */
  TableCache cache() {
    return cache;
  }

  @Override
  public String describe() {
    return files.toString();
  }

  @Override
  public Set<Capability> capabilities() {
    return CAPABILITIES;
  }

  @Override
  public void checkKey(String key, boolean mayInsert) {
    // SQLite's TEXT holds every valid UTF-16 string the facade lets through.
  }

  @Override
  public void checkValue(String value) {}

  /**
   * True with the whole table cached, as Strings decoded strictly from its UTF-8 or written here;
   * false with a bounded cache, whose misses send the key to SQLite.
   */
  @Override
  public boolean getHitProvesKeyValid() {
    return cache.holdsWholeTable();
  }

  /** False with a bounded cache, whose misses read SQLite. */
  @Override
  public boolean getNeverBlocks() {
    return cache.holdsWholeTable();
  }

  @Override
  public String get(String key) {
    return cache.get(key);
  }

  @Override
  public <T> T set(String key, String value, Function<String, T> prior) {
    return writer.submit(WriteRequest.put(key, value, prior));
  }

  @Override
  public <T> T delete(String key, Function<String, T> prior) {
    return writer.submit(WriteRequest.put(key, null, prior));
  }

  @Override
  public <T> T setIfAbsent(String key, String value, Function<String, T> present) {
    return writer.submit(WriteRequest.setIfAbsent(key, value, present));
  }

  @Override
  public boolean compareAndSet(String key, String expected, String update) {
    return writer.submit(WriteRequest.compareAndSet(key, expected, update));
  }

  @Override
  public void apply(List<Change> changes) {
    if (!changes.isEmpty()) {
      writer.submit(WriteRequest.batch(changes));
    }
  }

  @Override
  public List<Map.Entry<String, String>> range(String from, String to) {
    try {
      return writer.readConsistent(database, snapshot -> Database.range(snapshot, from, to));
    } catch (SQLException e) {
      throw new KVLogException(Errors.describe(files.database(), e), e);
    }
  }

  /** From memory with the whole table cached; else {@code count(*)} in one consistent snapshot. */
  @Override
  public int size() {
    if (cache.holdsWholeTable()) {
      return cache.size();
    }
    return read(
        c -> {
          try (Statement s = c.createStatement();
              ResultSet rs = s.executeQuery("SELECT count(*) FROM kv")) {
            rs.next();
            return rs.getInt(1);
          }
        });
  }

  /** From memory with the whole table cached; else the table, read in one consistent snapshot. */
  @Override
  public Map<String, String> snapshot() {
    if (cache.holdsWholeTable()) {
      return writer.cacheCopy();
    }
    return read(
        c -> {
          Map<String, String> all = new HashMap<>();
          Database.forEachInRange(c, null, null, all::put);
          return all;
        });
  }

  /**
   * {@code read} on a pooled connection, in a snapshot never ahead of this store's publications; it
   * does not wait for a write in progress (see {@link SqliteWriter#readPublished}).
   */
  private <T> T read(SqliteWriter.SqlRead<T> read) {
    try {
      return writer.readPublished(database, read);
    } catch (SQLException e) {
      throw new KVLogException(Errors.describe(files.database(), e), e);
    }
  }

  @Override
  public int schemaVersion() {
    return schemaVersion;
  }

  @Override
  public boolean refresh() {
    return writer.syncExternalChanges();
  }

  @Override
  public Path file() {
    return files.database();
  }

  @Override
  public BackendStats stats() {
    return new BackendStats(
        files.database(),
        cache.holdsWholeTable() ? cache.size() : -1, // counting would read the whole key index
        sizeOf(files.database()),
        sizeOf(files.wal()),
        schemaVersion,
        commitStats.commits(),
        commitStats.operations(),
        commitStats.largestGroup(),
        commitStats.latencyMicros(0.50),
        commitStats.latencyMicros(0.99),
        commitStats.checkpoints(),
        commitStats.externalReloads(),
        cache.hits(),
        cache.misses());
  }

  @Override
  public void backup(Path target) {
    Backup.write(database, files.database(), target);
  }

  @Override
  public List<String> check() {
    try (Connection c = database.connection()) {
      return Database.check(c, true);
    } catch (SQLException e) {
      throw new KVLogException(Errors.describe(files.database(), e), e);
    }
  }

  /**
   * Waits for the write in progress, checkpoints and truncates the WAL, closes the connections and
   * releases the owner lock; the cache is emptied last.
   */
  @Override
  public void close() {
    try {
      Resources.closeAll(
          "failed to close " + files + " cleanly",
          housekeeper,
          writer,
          cache::closeConnections,
          database,
          ownerLock);
    } finally {
      cache.clear();
    }
  }

  @Override
  public String toString() {
    return "SqliteBackend[" + files + "]";
  }

  private static long sizeOf(Path file) {
    try {
      return Files.size(file);
    } catch (java.io.IOException e) {
      return 0;
    }
  }

  // ---- lazy scans: pages and pinned cursors (kept together at the end of the file) ----

  /**
   * One page in its own short read transaction, through {@link SqliteWriter#readConsistent} as
   * {@link #range} is: a consistent snapshot that no later {@code get} contradicts.
   */
  @Override
  public List<Map.Entry<String, String>> rangePage(
      String from, String to, String after, int limit, long maxBytes) {
    try {
      return writer.readConsistent(
          database, snapshot -> Database.rangePage(snapshot, from, to, after, limit, maxBytes));
    } catch (SQLException e) {
      throw new KVLogException(Errors.describe(files.database(), e), e);
    }
  }

  /**
   * A cursor holding one pooled connection and its read transaction (see {@link SqliteCursor}); it
   * reads one row per step, so {@code fetchSize} changes nothing here.
   */
  @Override
  public Cursor openCursor(String from, String to, int fetchSize) {
    return SqliteCursor.open(database, writer, files.database(), from, to);
  }
}
