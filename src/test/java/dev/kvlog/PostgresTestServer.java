package dev.kvlog;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.UUID;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.postgresql.PostgreSQLContainer;

/**
 * The PostgreSQL server the tests run against, in this order: the JDBC URL in {@code
 * KVLOG_TEST_POSTGRES_URL}; a Testcontainers container where a Docker engine runs; the local server
 * at {@value #LOCAL} (the CI machine runs one, and {@code .ci/run} starts it). With none of them,
 * PostgreSQL tests are skipped with the reason, never passed silently.
 */
final class PostgresTestServer {
  static final String LOCAL = "jdbc:postgresql://127.0.0.1:5432/test?user=postgres";

  private static String url;
  private static String unavailable;
  private static PostgreSQLContainer container;

  private PostgresTestServer() {}

  /** The server's base URL, or skips the calling test with the reason none is available. */
  static synchronized String url() {
    if (url == null && unavailable == null) {
      find();
    }
    assumeTrue(url != null, unavailable);
    return url;
  }

  /** Where the tests run, for their reports. */
  static synchronized String source() {
    url();
    return container != null ? "Testcontainers " + container.getDockerImageName() : url;
  }

  private static void find() {
    String env = System.getenv("KVLOG_TEST_POSTGRES_URL");
    if (env != null && !env.isBlank()) {
      url = env;
      return;
    }
    boolean docker;
    try {
      docker = DockerClientFactory.instance().isDockerAvailable();
    } catch (RuntimeException | LinkageError e) {
      docker = false;
    }
    if (docker) {
      container = new PostgreSQLContainer("postgres:16-alpine");
      container.start();
      url =
          container.getJdbcUrl()
              + "&user="
              + container.getUsername()
              + "&password="
              + container.getPassword();
      if (!container.getJdbcUrl().contains("?")) {
        url =
            container.getJdbcUrl()
                + "?user="
                + container.getUsername()
                + "&password="
                + container.getPassword();
      }
      return;
    }
    try (Connection c = DriverManager.getConnection(LOCAL + "&connectTimeout=3")) {
      url = LOCAL;
    } catch (SQLException e) {
      unavailable =
          "no PostgreSQL server: KVLOG_TEST_POSTGRES_URL is not set, no Docker engine for"
              + " Testcontainers, and "
              + LOCAL
              + " is unreachable ("
              + e.getMessage()
              + ")";
    }
  }

  /** A new, empty schema on the server; returns a URL whose current schema it is. */
  static String freshSchema() throws SQLException {
    String base = url();
    String schema = "kvlog_test_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
    try (Connection c = DriverManager.getConnection(base);
        Statement s = c.createStatement()) {
      s.execute("CREATE SCHEMA " + schema);
    }
    return base + (base.contains("?") ? "&" : "?") + "currentSchema=" + schema;
  }

  /** Drops the schema a {@link #freshSchema()} URL names. */
  static void drop(String schemaUrl) throws SQLException {
    String schema =
        schemaUrl.substring(schemaUrl.indexOf("currentSchema=") + "currentSchema=".length());
    try (Connection c = DriverManager.getConnection(url());
        Statement s = c.createStatement()) {
      s.execute("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    }
  }
}
