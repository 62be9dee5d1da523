package dev.kvlog;

import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** The contract suite on SQLite, through a JDBC URL like any other backend. */
class SqliteContractTest extends KVStoreContract {
  @TempDir Path dir;

  @Override
  <K, V> KVLog<K, V> open(Codec<K> keys, Codec<V> values) {
    return KVLog.builder(urlForOtherTools(), keys, values).open();
  }

  @Override
  String urlForOtherTools() {
    return "jdbc:sqlite:" + dir.resolve("kv.db");
  }
}
