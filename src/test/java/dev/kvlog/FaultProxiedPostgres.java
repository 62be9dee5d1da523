package dev.kvlog;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A fresh schema on the PostgreSQL test server ({@link PostgresSchema}) with a {@link FaultProxy}
 * in front of the server, for each test: the proxy is closed, then the schema dropped, afterwards.
 * Skips the test with the reason when there is no server. Use with {@code @RegisterExtension}.
 */
final class FaultProxiedPostgres implements BeforeEachCallback, AfterEachCallback {
  private final PostgresSchema schema = new PostgresSchema();
  private FaultProxy proxy;

  /** A JDBC URL straight to the server (not through the proxy), in this test's own schema. */
  String url() {
    return schema.url();
  }

  /** The proxy in front of the server. */
  FaultProxy proxy() {
    return proxy;
  }

  /**
   * A store reached through the proxy, with a pool of 2. prepareThreshold=0: the driver sends every
   * query's text, so markers like COMMIT match.
   */
  KVLog<String, String> viaProxy() {
    return KVLog.builder(proxy.route(url()) + "&prepareThreshold=0").poolSize(2).open();
  }

  @Override
  public void beforeEach(ExtensionContext context) throws Exception {
    schema.beforeEach(context);
    proxy = FaultProxy.forJdbcUrl(schema.url());
  }

  @Override
  public void afterEach(ExtensionContext context) throws Exception {
    try {
      if (proxy != null) {
        proxy.close();
        proxy = null;
      }
    } finally {
      schema.afterEach(context);
    }
  }
}
