package dev.kvlog;

import org.junit.jupiter.api.extension.RegisterExtension;

/** The contract suite on PostgreSQL: each test gets a schema of its own on the test server. */
class PostgresContractTest extends KVStoreContract {
  @RegisterExtension final PostgresSchema schema = new PostgresSchema();

  @Override
  <K, V> KVLog<K, V> open(Codec<K> keys, Codec<V> values) {
    return KVLog.builder(schema.url(), keys, values).open();
  }

  /**
   * False: a known gap, found by the lazy-scan test and reported, not fixed on the scans branch. A
   * range (materialized too) reads the table, which shows this instance's batch as soon as it
   * commits, while the cache takes it in a moment later, so a get right after can be older.
   */
  @Override
  boolean getIsNeverOlderThanAScan() {
    return false;
  }

  @Override
  String urlForOtherTools() {
    return schema.url();
  }
}
