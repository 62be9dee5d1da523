package dev.kvlog;

import org.junit.jupiter.api.extension.RegisterExtension;

/** The contract suite on PostgreSQL: each test gets a schema of its own on the test server. */
class PostgresContractTest extends KVStoreContract {
  @RegisterExtension final PostgresSchema schema = new PostgresSchema();

  @Override
  KVStore<String, String> open() {
    return KVLog.connect(schema.url());
  }
}
