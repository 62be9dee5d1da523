package dev.kvlog;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A fresh schema on the PostgreSQL test server for each test, dropped afterwards; skips the test
 * with the reason when there is no server. Use with {@code @RegisterExtension}.
 */
final class PostgresSchema implements BeforeEachCallback, AfterEachCallback {
  private String url;

  /** A JDBC URL whose current schema is this test's own. */
  String url() {
    return url;
  }

  @Override
  public void beforeEach(ExtensionContext context) throws Exception {
    url = PostgresTestServer.freshSchema();
  }

  @Override
  public void afterEach(ExtensionContext context) throws Exception {
    if (url != null) {
      PostgresTestServer.drop(url);
      url = null;
    }
  }
}
