package dev.kvlog;

import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** The contract suite on SQLite, through a JDBC URL like any other backend. */
class SqliteContractTest extends KVStoreContract {
  @TempDir Path dir;

  @Override
  KVStore<String, String> open() {
    return KVLog.connect("jdbc:sqlite:" + dir.resolve("kv.db"));
  }
}
