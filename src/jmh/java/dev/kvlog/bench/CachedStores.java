package dev.kvlog.bench;

import dev.kvlog.KVLog;
import dev.kvlog.KVLogStats;
import dev.kvlog.WriteBatch;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.rocksdb.BlockBasedTableConfig;
import org.rocksdb.BloomFilter;
import org.rocksdb.CompressionType;
import org.rocksdb.EnvOptions;
import org.rocksdb.FlushOptions;
import org.rocksdb.IndexType;
import org.rocksdb.IngestExternalFileOptions;
import org.rocksdb.LRUCache;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.SstFileWriter;
import org.rocksdb.Statistics;
import org.rocksdb.TickerType;
import org.rocksdb.WriteOptions;

/**
 * The two stores of the {@link Bounded} section: larger than their caches, each cache given the
 * same number of bytes. Both are closed after construction; {@link CachedStore#open} opens them
 * with empty caches.
 */
final class CachedStores {
  private CachedStores() {}

  /** A store whose cache holds a fraction of its data; reads and writes are thread-safe. */
  abstract static class CachedStore implements AutoCloseable {
    final String name;
    final long cacheBytes;

    CachedStore(String name, long cacheBytes) {
      this.name = name;
      this.cacheBytes = cacheBytes;
    }

    /** Writes entries {@code [0, n)}, durably, by the engine's fastest path; leaves it closed. */
    abstract void generate(int n) throws Exception;

    /** Opens the store with an empty cache. */
    abstract void open() throws Exception;

    abstract String get(String key) throws Exception;

    /** A durable (synced) write. */
    abstract void set(String key, String value) throws Exception;

    /**
     * Cumulative cache hits and misses since open: key lookups for KVLog, data-block lookups for
     * RocksDB.
     */
    abstract long[] hitsAndMisses();

    /** Off-heap bytes the store holds for its data, with a note on their parts; null if none. */
    abstract String offHeap();

    abstract long offHeapBytes();

    /** Closes if open; idempotent. */
    @Override
    public abstract void close() throws Exception;
  }

  // ---- KVLog, bounded cache ----

  static final class KVLogCached extends CachedStore {
    static final int BATCH = 50_000;
    final Path file;
    KVLog<String, String> store;

    KVLogCached(Path file, long cacheBytes) {
      super("KVLog bounded", cacheBytes);
      this.file = file;
    }

    /** {@code write(WriteBatch)} of {@link #BATCH} entries each: one durable commit per batch. */
    @Override
    void generate(int n) {
      try (KVLog<String, String> s = openStore()) {
        for (int from = 0; from < n; from += BATCH) {
          WriteBatch<String, String> batch = new WriteBatch<>();
          for (int i = from; i < Math.min(n, from + BATCH); i++) {
            batch.set(Bounded.key(i), Suite.freshValue());
          }
          s.write(batch);
        }
      }
    }

    private KVLog<String, String> openStore() {
      return KVLog.builder(file).cacheSize(cacheBytes).open();
    }

    @Override
    void open() {
      store = openStore();
    }

    @Override
    String get(String key) {
      return store.get(key).orElse(null);
    }

    @Override
    void set(String key, String value) {
      store.set(key, value);
    }

    @Override
    long[] hitsAndMisses() {
      KVLogStats s = store.stats();
      return new long[] {s.cacheHits(), s.cacheMisses()};
    }

    @Override
    String offHeap() {
      return null; // SQLite's own page cache (2 MB per connection by default) is not counted
    }

    @Override
    long offHeapBytes() {
      return 0;
    }

    @Override
    public void close() {
      if (store != null) {
        store.close();
        store = null;
      }
    }
  }

  // ---- RocksDB, LRU block cache ----

  /**
   * RocksDB with an LRU block cache of {@code cacheBytes}. Index and filter blocks live in that
   * cache too ({@code cache_index_and_filter_blocks}, at high priority), so they count against the
   * same budget as KVLog's cache. They are partitioned (two-level index, partitioned filters, the
   * top level pinned), as RocksDB's wiki advises for that setting: a 116 MB file's single index
   * block is about 1 MB, more than one shard of a small LRU cache holds, and was then read again on
   * every get (1.2k gets/s at 1M entries). Bloom filter 10 bits per key (whole keys); no
   * compression (SQLite compresses nothing either); 4 KiB blocks (the default). Writes are {@code
   * sync=true}.
   */
  static final class RocksCached extends CachedStore {
    static {
      RocksDB.loadLibrary();
    }

    static final int ENTRIES_PER_FILE = 1_000_000;
    final Path dir;
    final WriteOptions sync = new WriteOptions().setSync(true);
    LRUCache cache;
    BloomFilter filter;
    Statistics statistics;
    Options options;
    RocksDB db;

    RocksCached(Path dir, long cacheBytes) {
      super("RocksDB block cache", cacheBytes);
      this.dir = dir;
    }

    private Options options() {
      cache = new LRUCache(cacheBytes);
      filter = new BloomFilter(10, false);
      statistics = new Statistics();
      BlockBasedTableConfig table =
          new BlockBasedTableConfig()
              .setBlockCache(cache)
              .setFilterPolicy(filter)
              .setCacheIndexAndFilterBlocks(true)
              .setCacheIndexAndFilterBlocksWithHighPriority(true)
              .setIndexType(IndexType.kTwoLevelIndexSearch)
              .setPartitionFilters(true)
              .setPinTopLevelIndexAndFilter(true);
      return new Options()
          .setCreateIfMissing(true)
          .setTableFormatConfig(table)
          .setCompressionType(CompressionType.NO_COMPRESSION)
          .setBottommostCompressionType(CompressionType.NO_COMPRESSION)
          .setStatistics(statistics);
    }

    /**
     * SstFileWriter files of {@link #ENTRIES_PER_FILE} sorted entries each, ingested in one call
     * (moved, not copied): every entry lands in one sorted run on the bottom level, the shape a
     * fully compacted store has.
     */
    @Override
    void generate(int n) throws RocksDBException, java.io.IOException {
      Path staging = Files.createDirectories(dir.resolveSibling(dir.getFileName() + "-sst"));
      List<String> files = new ArrayList<>();
      options = options();
      try (EnvOptions env = new EnvOptions()) {
        for (int from = 0; from < n; from += ENTRIES_PER_FILE) {
          String f = staging.resolve("part-" + files.size() + ".sst").toString();
          try (SstFileWriter writer = new SstFileWriter(env, options)) {
            writer.open(f);
            for (int i = from; i < Math.min(n, from + ENTRIES_PER_FILE); i++) {
              writer.put(bytes(Bounded.key(i)), bytes(Suite.freshValue()));
            }
            writer.finish();
          }
          files.add(f);
        }
      }
      try (RocksDB created = RocksDB.open(options, dir.toString());
          IngestExternalFileOptions ingest = new IngestExternalFileOptions().setMoveFiles(true)) {
        created.ingestExternalFile(files, ingest);
      } finally {
        closeOptions();
        Suite.deleteTree(staging);
      }
    }

    @Override
    void open() throws RocksDBException {
      options = options();
      db = RocksDB.open(options, dir.toString());
    }

    @Override
    String get(String key) throws RocksDBException {
      byte[] v = db.get(bytes(key));
      return v == null ? null : new String(v, StandardCharsets.UTF_8);
    }

    @Override
    void set(String key, String value) throws RocksDBException {
      db.put(sync, bytes(key), bytes(value));
    }

    @Override
    long[] hitsAndMisses() {
      return new long[] {
        statistics.getTickerCount(TickerType.BLOCK_CACHE_DATA_HIT),
        statistics.getTickerCount(TickerType.BLOCK_CACHE_DATA_MISS)
      };
    }

    /** Index and filter block lookups, for the log: hits and misses of each. */
    String metadataLookups() {
      return String.format(
          "index hits %,d misses %,d, filter hits %,d misses %,d",
          statistics.getTickerCount(TickerType.BLOCK_CACHE_INDEX_HIT),
          statistics.getTickerCount(TickerType.BLOCK_CACHE_INDEX_MISS),
          statistics.getTickerCount(TickerType.BLOCK_CACHE_FILTER_HIT),
          statistics.getTickerCount(TickerType.BLOCK_CACHE_FILTER_MISS));
    }

    long property(String name) {
      try {
        return db.getLongProperty(name);
      } catch (RocksDBException e) {
        throw new IllegalStateException(name, e);
      }
    }

    @Override
    long offHeapBytes() {
      return property("rocksdb.block-cache-usage")
          + property("rocksdb.estimate-table-readers-mem")
          + property("rocksdb.cur-size-all-mem-tables");
    }

    @Override
    String offHeap() {
      return String.format(
          "block cache %.1f MB + table readers %.1f MB + memtables %.1f MB",
          property("rocksdb.block-cache-usage") / 1e6,
          property("rocksdb.estimate-table-readers-mem") / 1e6,
          property("rocksdb.cur-size-all-mem-tables") / 1e6);
    }

    /** Flushes the memtable so that the next open replays no WAL (the stores are reused). */
    void flush() throws RocksDBException {
      try (FlushOptions f = new FlushOptions().setWaitForFlush(true)) {
        db.flush(f);
      }
    }

    @Override
    public void close() {
      if (db != null) {
        db.close();
        db = null;
      }
      closeOptions();
    }

    private void closeOptions() {
      if (options != null) {
        options.close();
        statistics.close();
        filter.close();
        cache.close();
        options = null;
      }
    }
  }

  static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
