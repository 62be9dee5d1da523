package dev.kvlog;

import org.junit.jupiter.api.extension.RegisterExtension;

/** The contract suite on PostgreSQL: each test gets a schema of its own on the test server. */
class PostgresContractTest extends KVStoreContract {
  @RegisterExtension final PostgresSchema schema = new PostgresSchema();

  @Override
  <K, V> KVLog<K, V> open(Codec<K> keys, Codec<V> values) {
    return KVLog.builder(schema.url(), keys, values).open();
  }

  @Override
  String urlForOtherTools() {
    return schema.url();
  }
}
