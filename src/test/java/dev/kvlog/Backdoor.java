package dev.kvlog;

import dev.kvlog.postgres.PostgresBackend;

/** Test access to what the facade keeps to itself. */
final class Backdoor {
  private Backdoor() {}

  /** How often a PostgreSQL store's change feed reconnected since it opened. */
  static long feedReconnects(KVLog<?, ?> store) {
    return ((PostgresBackend) store.backend()).feedReconnects();
  }
}
