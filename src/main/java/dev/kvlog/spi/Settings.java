package dev.kvlog.spi;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The options a user set on {@code KVLog.builder(...)}, passed to {@link BackendProvider#open}. A
 * null component was not set: the backend uses its default. Options belong to backends ({@code
 * busyTimeout}, {@code groupCommit}, {@code externalChangeCheck} and {@code verifyOnOpen} to
 * SQLite, {@code cacheSize} to SQLite, {@code poolSize} to PostgreSQL); a backend refuses, with
 * {@link #refuseAllBut}, an option it does not understand rather than ignore it.
 *
 * @param busyTimeout how long a write waits for a lock another connection holds
 * @param groupCommit whether concurrent writes share a transaction
 * @param externalChangeCheck how often to look for other connections' commits
 * @param verifyOnOpen whether opening checks the whole file first
 * @param poolSize connections for writes and reloads
 * @param cacheSize the most heap, in bytes, a bounded cache may hold; null for the whole table
 * @param properties backend-specific settings for tests and tuning (for SQLite, {@code
 *     pragma.<name>}); never null
 */
public record Settings(
    Duration busyTimeout,
    Boolean groupCommit,
    Duration externalChangeCheck,
    Boolean verifyOnOpen,
    Integer poolSize,
    Long cacheSize,
    Map<String, String> properties) {

  /** No option set. */
  public static final Settings DEFAULTS =
      new Settings(null, null, null, null, null, null, Map.of());

  /**
   * Settings with an immutable copy of {@code properties}.
   *
   * @param busyTimeout how long a write waits for a lock another connection holds
   * @param groupCommit whether concurrent writes share a transaction
   * @param externalChangeCheck how often to look for other connections' commits
   * @param verifyOnOpen whether opening checks the whole file first
   * @param poolSize connections for writes and reloads
   * @param cacheSize the most heap, in bytes, a bounded cache may hold; null for the whole table
   * @param properties backend-specific settings; copied
   * @throws NullPointerException if {@code properties} is null
   */
  public Settings {
    properties = Map.copyOf(properties);
  }

  /**
   * Throws if an option outside {@code supported} was set.
   *
   * @param backend what the backend is called in the message, e.g. "a jdbc:sqlite: store"
   * @param supported the names of the builder methods the backend understands
   * @throws IllegalArgumentException naming each option set that the backend does not use
   */
  public void refuseAllBut(String backend, Set<String> supported) {
    List<String> refused = new ArrayList<>();
    check(refused, supported, "busyTimeout", busyTimeout);
    check(refused, supported, "groupCommit", groupCommit);
    check(refused, supported, "externalChangeCheck", externalChangeCheck);
    check(refused, supported, "verifyOnOpen", verifyOnOpen);
    check(refused, supported, "poolSize", poolSize);
    check(refused, supported, "cacheSize", cacheSize);
    if (!refused.isEmpty()) {
      throw new IllegalArgumentException(
          String.join(", ", refused)
              + (refused.size() == 1 ? " is not an option of " : " are not options of ")
              + backend
              + " (it has "
              + (supported.isEmpty()
                  ? "none"
                  : String.join(", ", supported.stream().sorted().toList()))
              + "); remove the call from the builder");
    }
  }

  private static void check(List<String> refused, Set<String> supported, String name, Object v) {
    if (v != null && !supported.contains(name)) {
      refused.add(name + "(" + v + ")");
    }
  }
}
