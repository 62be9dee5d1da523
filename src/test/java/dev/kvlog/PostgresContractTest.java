package dev.kvlog;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/** The contract suite on PostgreSQL: each test gets a schema of its own on the test server. */
class PostgresContractTest extends KVStoreContract {
  String url;

  @BeforeEach
  void schema() throws Exception {
    url = PostgresTestServer.freshSchema();
  }

  @AfterEach
  void dropSchema() throws Exception {
    if (url != null) {
      PostgresTestServer.drop(url);
    }
  }

  @Override
  KVStore<String, String> open() {
    return KVLog.connect(url);
  }
}
