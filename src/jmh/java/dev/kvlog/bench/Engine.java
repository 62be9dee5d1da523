package dev.kvlog.bench;

import dev.kvlog.KVLog;
import dev.kvlog.WriteBatch;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.h2.mvstore.MVMap;
import org.h2.mvstore.MVStore;
import org.lmdbjava.Dbi;
import org.lmdbjava.DbiFlags;
import org.lmdbjava.Env;
import org.lmdbjava.Txn;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.WriteOptions;

/**
 * One store under test, configured so that a write returns only once it is durable (fsynced). Every
 * engine is opened on its own directory; bulk loading uses each engine's fastest path and is not
 * measured.
 */
abstract class Engine implements AutoCloseable {
  final String name;
  final Path dir;

  Engine(String name, Path dir) {
    this.name = name;
    this.dir = dir;
  }

  /** A durable write; safe to call from many threads. */
  abstract void set(String key, String value) throws Exception;

  /** A point read; safe to call from many threads. Null if absent. */
  abstract String get(String key) throws Exception;

  /** Writes all entries quickly (not measured). */
  abstract void bulkLoad(Map<String, String> entries) throws Exception;

  /** Closes, reopens and reads every entry into memory-resident Strings; returns the count. */
  abstract long reopenAndReadAll() throws Exception;

  boolean readsSupported() {
    return true;
  }

  @Override
  public abstract void close() throws Exception;

  // ---- KVLog ----

  static final class KVLogEngine extends Engine {
    final boolean group;
    KVLog<String, String> store;

    KVLogEngine(Path dir, boolean group) {
      super(group ? "KVLog group" : "KVLog per-op", dir);
      this.group = group;
      store = open();
    }

    private KVLog<String, String> open() {
      return KVLog.builder(dir.resolve("kv.db")).groupCommit(group).open();
    }

    @Override
    void set(String key, String value) {
      store.set(key, value);
    }

    @Override
    String get(String key) {
      return store.get(key).orElse(null);
    }

    @Override
    void bulkLoad(Map<String, String> entries) {
      inBatches(entries, 50_000, store::write);
    }

    @Override
    long reopenAndReadAll() {
      store.close();
      store = open(); // the open is the load: every entry is in the cache when it returns
      return store.size();
    }

    /** Heap the cache of {@code size} entries takes: used heap with and without the store open. */
    double heapPerEntry(int size) {
      long with = Suite.usedHeap();
      store.close();
      long without = Suite.usedHeap();
      store = open();
      return (with - without) / (double) size;
    }

    @Override
    public void close() {
      store.close();
    }
  }

  // ---- KVLog on PostgreSQL (the local server, or KVLOG_BENCH_POSTGRES_URL) ----

  static final class PostgresEngine extends Engine {
    static final String BASE =
        System.getenv()
            .getOrDefault(
                "KVLOG_BENCH_POSTGRES_URL", "jdbc:postgresql://127.0.0.1:5432/test?user=postgres");
    final String url;
    final String schema;
    KVLog<String, String> store;

    PostgresEngine(Path dir) throws SQLException {
      super("KVLog PostgreSQL", dir);
      schema = "kvlog_bench_" + Long.toHexString(System.nanoTime());
      try (Connection c = DriverManager.getConnection(BASE);
          Statement s = c.createStatement()) {
        s.execute("CREATE SCHEMA " + schema);
      }
      url = BASE + (BASE.contains("?") ? "&" : "?") + "currentSchema=" + schema;
      store = KVLog.builder(url).poolSize(64).open();
    }

    @Override
    void set(String key, String value) {
      store.set(key, value);
    }

    @Override
    String get(String key) {
      return store.get(key).orElse(null);
    }

    @Override
    void bulkLoad(Map<String, String> entries) {
      inBatches(entries, 10_000, store::write);
    }

    @Override
    long reopenAndReadAll() {
      store.close();
      store = KVLog.builder(url).poolSize(64).open();
      return store.size();
    }

    @Override
    public void close() throws SQLException {
      store.close();
      try (Connection c = DriverManager.getConnection(BASE);
          Statement s = c.createStatement()) {
        s.execute("DROP SCHEMA " + schema + " CASCADE");
      }
    }
  }

  // ---- SQLite through sqlite-jdbc, one connection, no group commit ----

  static final class SqliteEngine extends Engine {
    final Path file;
    Connection writer;
    PreparedStatement upsert;
    final ThreadLocal<PreparedStatement> select;
    final List<Connection> readers = new ArrayList<>();

    SqliteEngine(Path dir) throws SQLException {
      super("SQLite raw", dir);
      file = dir.resolve("raw.db");
      writer = connect();
      try (Statement s = writer.createStatement()) {
        s.execute(
            "CREATE TABLE IF NOT EXISTS kv(key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)"
                + " STRICT, WITHOUT ROWID");
      }
      upsert =
          writer.prepareStatement(
              "INSERT INTO kv VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
      select =
          ThreadLocal.withInitial(
              () -> {
                try {
                  Connection c = connect();
                  synchronized (readers) {
                    readers.add(c);
                  }
                  return c.prepareStatement("SELECT value FROM kv WHERE key = ?");
                } catch (SQLException e) {
                  throw new IllegalStateException(e);
                }
              });
    }

    Connection connect() throws SQLException {
      return DriverManager.getConnection(
          "jdbc:sqlite:" + file + "?journal_mode=WAL&synchronous=FULL&busy_timeout=10000");
    }

    @Override
    synchronized void set(String key, String value) throws SQLException {
      upsert.setString(1, key);
      upsert.setString(2, value);
      upsert.executeUpdate();
    }

    @Override
    String get(String key) throws SQLException {
      PreparedStatement s = select.get();
      s.setString(1, key);
      try (ResultSet rs = s.executeQuery()) {
        return rs.next() ? rs.getString(1) : null;
      }
    }

    @Override
    synchronized void bulkLoad(Map<String, String> entries) throws SQLException {
      writer.setAutoCommit(false);
      for (Map.Entry<String, String> e : entries.entrySet()) {
        upsert.setString(1, e.getKey());
        upsert.setString(2, e.getValue());
        upsert.executeUpdate();
      }
      writer.commit();
      writer.setAutoCommit(true);
    }

    @Override
    long reopenAndReadAll() throws SQLException {
      closeAll();
      writer = connect();
      upsert = writer.prepareStatement("INSERT INTO kv VALUES (?, ?)");
      long n = 0;
      try (Statement s = writer.createStatement();
          ResultSet rs = s.executeQuery("SELECT key, value FROM kv")) {
        while (rs.next()) {
          n += rs.getString(1).length() > 0 && rs.getString(2) != null ? 1 : 0;
        }
      }
      return n;
    }

    /** SQLite's own scan of the table, no rows crossing JNI: the yardstick for a warm start. */
    long nativeScanNanos() throws SQLException {
      long start = System.nanoTime();
      try (Statement s = writer.createStatement();
          ResultSet rs = s.executeQuery("SELECT count(*), sum(length(value)) FROM kv")) {
        rs.next();
      }
      return System.nanoTime() - start;
    }

    private void closeAll() throws SQLException {
      upsert.close();
      writer.close();
      synchronized (readers) {
        for (Connection c : readers) {
          c.close();
        }
        readers.clear();
      }
    }

    @Override
    public void close() throws SQLException {
      closeAll();
    }
  }

  // ---- RocksDB, sync=true ----

  static final class RocksEngine extends Engine {
    static {
      RocksDB.loadLibrary();
    }

    final Options options = new Options().setCreateIfMissing(true);
    final WriteOptions sync = new WriteOptions().setSync(true);
    RocksDB db;

    RocksEngine(Path dir) throws RocksDBException {
      super("RocksDB sync", dir);
      db = RocksDB.open(options, dir.toString());
    }

    @Override
    void set(String key, String value) throws RocksDBException {
      db.put(sync, bytes(key), bytes(value));
    }

    @Override
    String get(String key) throws RocksDBException {
      byte[] v = db.get(bytes(key));
      return v == null ? null : new String(v, StandardCharsets.UTF_8);
    }

    @Override
    void bulkLoad(Map<String, String> entries) throws RocksDBException {
      try (org.rocksdb.WriteBatch batch = new org.rocksdb.WriteBatch()) {
        for (Map.Entry<String, String> e : entries.entrySet()) {
          batch.put(bytes(e.getKey()), bytes(e.getValue()));
        }
        db.write(sync, batch);
      }
    }

    @Override
    long reopenAndReadAll() throws RocksDBException {
      db.close();
      db = RocksDB.open(options, dir.toString());
      long n = 0;
      try (RocksIterator it = db.newIterator()) {
        for (it.seekToFirst(); it.isValid(); it.next()) {
          String k = new String(it.key(), StandardCharsets.UTF_8);
          String v = new String(it.value(), StandardCharsets.UTF_8);
          n += k.length() > 0 && v != null ? 1 : 0;
        }
      }
      return n;
    }

    @Override
    public void close() {
      db.close();
      sync.close();
      options.close();
    }
  }

  // ---- LMDB (durable commits: no MDB_NOSYNC) ----

  static final class LmdbEngine extends Engine {
    Env<ByteBuffer> env;
    Dbi<ByteBuffer> db;
    final ThreadLocal<ByteBuffer> keyBuf =
        ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(64));
    final ThreadLocal<ByteBuffer> valBuf =
        ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(4096));

    LmdbEngine(Path dir) {
      super("LMDB", dir);
      open();
    }

    private void open() {
      env = Env.create().setMapSize(8L << 30).setMaxDbs(1).setMaxReaders(256).open(dir.toFile());
      db = env.openDbi("kv", DbiFlags.MDB_CREATE);
    }

    private static ByteBuffer put(ThreadLocal<ByteBuffer> buf, String s) {
      ByteBuffer b = buf.get().clear();
      b.put(bytes(s)).flip();
      return b;
    }

    @Override
    void set(String key, String value) {
      try (Txn<ByteBuffer> txn = env.txnWrite()) {
        db.put(txn, put(keyBuf, key), put(valBuf, value));
        txn.commit();
      }
    }

    @Override
    String get(String key) {
      try (Txn<ByteBuffer> txn = env.txnRead()) {
        ByteBuffer v = db.get(txn, put(keyBuf, key));
        return v == null ? null : StandardCharsets.UTF_8.decode(v).toString();
      }
    }

    @Override
    void bulkLoad(Map<String, String> entries) {
      try (Txn<ByteBuffer> txn = env.txnWrite()) {
        for (Map.Entry<String, String> e : entries.entrySet()) {
          db.put(txn, put(keyBuf, e.getKey()), put(valBuf, e.getValue()));
        }
        txn.commit();
      }
    }

    @Override
    long reopenAndReadAll() {
      env.close();
      open();
      long n = 0;
      try (Txn<ByteBuffer> txn = env.txnRead();
          org.lmdbjava.CursorIterable<ByteBuffer> all = db.iterate(txn)) {
        for (org.lmdbjava.CursorIterable.KeyVal<ByteBuffer> kv : all) {
          String k = StandardCharsets.UTF_8.decode(kv.key()).toString();
          String v = StandardCharsets.UTF_8.decode(kv.val()).toString();
          n += k.length() > 0 && v != null ? 1 : 0;
        }
      }
      return n;
    }

    @Override
    public void close() {
      env.close();
    }
  }

  // ---- H2 MVStore, commit + sync per write ----

  static final class MvStoreEngine extends Engine {
    MVStore store;
    MVMap<String, String> map;

    MvStoreEngine(Path dir) {
      super("H2 MVStore", dir);
      open();
    }

    private void open() {
      store =
          new MVStore.Builder()
              .fileName(dir.resolve("h2.mv").toString())
              .autoCommitDisabled()
              .open();
      map = store.openMap("kv");
    }

    @Override
    void set(String key, String value) {
      map.put(key, value);
      store.commit();
      store.sync();
    }

    @Override
    String get(String key) {
      return map.get(key);
    }

    @Override
    void bulkLoad(Map<String, String> entries) {
      map.putAll(entries);
      store.commit();
      store.sync();
    }

    @Override
    long reopenAndReadAll() {
      store.close();
      open();
      long n = 0;
      for (Map.Entry<String, String> e : map.entrySet()) {
        n += e.getKey().length() > 0 && e.getValue() != null ? 1 : 0;
      }
      return n;
    }

    @Override
    public void close() {
      store.close();
    }
  }

  // ---- the physical floors: one synced write per set, nothing else ----

  /** A floor stores nothing readable: it only writes and syncs. */
  abstract static class FloorBase extends Engine {
    FloorBase(String name, Path dir) {
      super(name, dir);
    }

    @Override
    String get(String key) {
      throw new UnsupportedOperationException();
    }

    @Override
    boolean readsSupported() {
      return false;
    }

    @Override
    void bulkLoad(Map<String, String> entries) {}

    @Override
    long reopenAndReadAll() {
      throw new UnsupportedOperationException();
    }
  }

  /**
   * Floor 1: append a 128-byte record to a growing file and {@code force(false)}. On Linux {@code
   * FileChannel.force(false)} is {@code fdatasync(2)} ({@code force(true)} is {@code fsync(2)}),
   * checked with {@code strace -f -e trace=fsync,fdatasync}. Appending changes the file's size, so
   * each sync also writes the inode: what a log that grows (RocksDB's WAL) pays.
   */
  static final class FloorEngine extends FloorBase {
    final FileChannel log;
    final ByteBuffer record = ByteBuffer.allocateDirect(128);

    FloorEngine(Path dir) throws IOException {
      super("append+fdatasync", dir);
      log =
          FileChannel.open(
              dir.resolve("floor.log"),
              StandardOpenOption.CREATE,
              StandardOpenOption.WRITE,
              StandardOpenOption.APPEND);
    }

    @Override
    synchronized void set(String key, String value) throws IOException {
      record.clear();
      record
          .put(bytes(key))
          .put(bytes(value), 0, Math.min(value.length(), 112))
          .position(128)
          .flip();
      log.write(record);
      log.force(false);
    }

    @Override
    public void close() throws IOException {
      log.close();
      Files.deleteIfExists(dir.resolve("floor.log"));
    }
  }

  /**
   * Floor 2: overwrite one 4 KiB-aligned slot of a preallocated (written and synced) 4 MiB file,
   * cycling through the slots, then {@code force(false)}, which is {@code fdatasync(2)} on Linux.
   * The size never changes, so the sync writes data only: what SQLite's reused WAL file does once
   * it has been reset after a checkpoint. A 4 KiB write stands for one WAL frame (one page).
   */
  static final class OverwriteFloorEngine extends FloorBase {
    static final int SLOT = 4096;
    static final int SLOTS = 1024; // 4 MiB
    final FileChannel file;
    final ByteBuffer page = ByteBuffer.allocateDirect(SLOT);
    long next;

    OverwriteFloorEngine(Path dir) throws IOException {
      super("overwrite+fdatasync", dir);
      file =
          FileChannel.open(
              dir.resolve("floor.wal"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
      ByteBuffer zeros = ByteBuffer.allocateDirect(1 << 20);
      for (long at = 0; at < (long) SLOT * SLOTS; at += zeros.capacity()) {
        zeros.clear();
        while (zeros.hasRemaining()) {
          file.write(zeros, at + zeros.position());
        }
      }
      file.force(true); // blocks allocated and the size durable before the first measured write
    }

    @Override
    synchronized void set(String key, String value) throws IOException {
      page.clear();
      page.put(bytes(key)).put(bytes(value), 0, Math.min(value.length(), 112)).position(SLOT);
      page.flip();
      long at = (next++ % SLOTS) * SLOT;
      while (page.hasRemaining()) {
        file.write(page, at + page.position());
      }
      file.force(false);
    }

    @Override
    public void close() throws IOException {
      file.close();
      Files.deleteIfExists(dir.resolve("floor.wal"));
    }
  }

  /** Hands {@code entries} to {@code write} as WriteBatches of at most {@code size}. */
  static void inBatches(
      Map<String, String> entries,
      int size,
      java.util.function.Consumer<WriteBatch<String, String>> write) {
    WriteBatch<String, String> batch = new WriteBatch<>();
    for (Map.Entry<String, String> e : entries.entrySet()) {
      batch.set(e.getKey(), e.getValue());
      if (batch.size() == size) {
        write.accept(batch);
        batch = new WriteBatch<>();
      }
    }
    write.accept(batch);
  }

  static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
