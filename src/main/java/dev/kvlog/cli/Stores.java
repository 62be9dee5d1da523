package dev.kvlog.cli;

import dev.kvlog.KVLog;
import dev.kvlog.KVStore;
import dev.kvlog.PostgresKVStore;
import dev.kvlog.WriteBatch;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;

/** What the CLI needs beyond {@link KVStore}, for either backend. */
final class Stores {
  private Stores() {}

  /** A store file path, or a JDBC URL (jdbc:sqlite:... or jdbc:postgresql:...). */
  static KVStore<String, String> open(String location) {
    return location.startsWith("jdbc:") ? KVLog.connect(location) : KVLog.load(Path.of(location));
  }

  /** Entries with from <= key < to (nulls: unbounded), in key order. */
  static Stream<Map.Entry<String, String>> range(
      KVStore<String, String> store, String from, String to) {
    if (store instanceof KVLog) {
      return ((KVLog<String, String>) store).range(from, to);
    }
    return ((PostgresKVStore<String, String>) store).range(from, to).stream();
  }

  /** Entries whose keys start with {@code prefix}, in key order. */
  static Stream<Map.Entry<String, String>> scan(KVStore<String, String> store, String prefix) {
    if (store instanceof KVLog) {
      return ((KVLog<String, String>) store).scan(prefix);
    }
    return range(store, prefix, null).takeWhile(e -> e.getKey().startsWith(prefix));
  }

  static int size(KVStore<String, String> store) {
    return store instanceof KVLog
        ? ((KVLog<String, String>) store).size()
        : ((PostgresKVStore<String, String>) store).size();
  }

  static void write(KVStore<String, String> store, WriteBatch<String, String> batch) {
    if (store instanceof KVLog) {
      ((KVLog<String, String>) store).write(batch);
    } else {
      ((PostgresKVStore<String, String>) store).write(batch);
    }
  }

  static int schemaVersion(KVStore<String, String> store) {
    return store instanceof KVLog
        ? ((KVLog<String, String>) store).stats().schemaVersion()
        : ((PostgresKVStore<String, String>) store).schemaVersion();
  }
}
