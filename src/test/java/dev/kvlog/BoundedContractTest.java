package dev.kvlog;

import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/**
 * The contract suite on SQLite with a bounded cache so small (4 KiB: about a dozen entries) that
 * most gets miss and read the table, and entries are evicted all the time.
 */
class BoundedContractTest extends KVStoreContract {
  /** Small enough that the contract's stores do not fit: misses and evictions are the norm. */
  static final long SMALL_CACHE = 4096;

  @TempDir Path dir;

  @Override
  <K, V> KVLog<K, V> open(Codec<K> keys, Codec<V> values) {
    return KVLog.builder(urlForOtherTools(), keys, values).cacheSize(SMALL_CACHE).open();
  }

  @Override
  String urlForOtherTools() {
    return "jdbc:sqlite:" + dir.resolve("kv.db");
  }
}
