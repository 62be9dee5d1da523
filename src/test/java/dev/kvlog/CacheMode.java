package dev.kvlog;

import java.nio.file.Path;

/**
 * The two ways a SQLite store caches, for suites that run in both: the whole table in memory (the
 * default), or a bounded cache ({@link KVLogBuilder#cacheSize}) so small that misses and evictions
 * are the norm. Suites parametrized over this run the same checks in both modes; where the bounded
 * mode promises less (another connection's commit, until the writer looks), the suite says so next
 * to the check it relaxes.
 */
enum CacheMode {
  WHOLE,
  BOUNDED;

  /**
   * 4 KiB: a dozen or so small entries (each weighs about 200 bytes plus its text), fewer than any
   * of these suites' hot keys together with what they write, so gets miss and entries are evicted
   * all the time.
   */
  static final long SMALL_CACHE = 4096;

  /** {@code builder}, with the small bounded cache in {@link #BOUNDED} mode. */
  <K, V> KVLogBuilder<K, V> configure(KVLogBuilder<K, V> builder) {
    return this == BOUNDED ? builder.cacheSize(SMALL_CACHE) : builder;
  }

  /** A builder for a String store on {@code db} in this mode. */
  KVLogBuilder<String, String> builder(Path db) {
    return configure(KVLog.builder(db));
  }

  /** A String store on {@code db} in this mode, with the default options otherwise. */
  KVLog<String, String> open(Path db) {
    return builder(db).open();
  }

  boolean bounded() {
    return this == BOUNDED;
  }

  /**
   * {@code count} in whole-table mode; in bounded mode two fifths of it (at least 1), so that the
   * bounded variants add about 40% to a suite's time rather than double it.
   */
  int scaled(int count) {
    return this == BOUNDED ? Math.max(1, count * 2 / 5) : count;
  }
}
