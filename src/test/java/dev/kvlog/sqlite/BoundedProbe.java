package dev.kvlog.sqlite;

import dev.kvlog.spi.Backend;
import java.util.function.Consumer;

/** Test access to a SQLite store's bounded cache, for tests outside this package. */
public final class BoundedProbe {
  private BoundedProbe() {}

  /** Evicts {@code key} from {@code backend}'s bounded cache, as Caffeine may at any time. */
  public static void evict(Backend backend, String key) {
    ((BoundedCache) ((SqliteBackend) backend).cache()).evictForTests(key);
  }

  /** Runs {@code hook} after a miss read the table and before it installs (null: none). */
  public static void beforeInstall(Consumer<String> hook) {
    BoundedCache.beforeInstallHookForTests = hook;
  }

  /** Runs {@code hook} after each COMMIT, before the cache is published (null: none). */
  public static void afterCommit(Consumer<java.nio.file.Path> hook) {
    SqliteWriter.afterCommitHookForTests = hook;
  }

  /** Runs {@code hook} after a group's statements, holding the writer lock (null: none). */
  public static void afterStatements(Consumer<java.nio.file.Path> hook) {
    SqliteWriter.afterStatementsHookForTests = hook;
  }
}
