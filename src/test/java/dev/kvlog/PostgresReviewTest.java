package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The outside review of the PostgreSQL backend (/work/review-pg, findings 1-5), each turned into a
 * regression test.
 */
class PostgresReviewTest {
  @RegisterExtension final PostgresSchema schema = new PostgresSchema();
  FaultProxy proxy;

  @BeforeEach
  void startProxy() throws Exception {
    proxy = FaultProxy.forJdbcUrl(schema.url());
  }

  @AfterEach
  void stopProxy() {
    proxy.close();
  }

  PostgresKVStore<String, String> viaProxy() {
    return PostgresKVStore.builder(proxy.route(schema.url()) + "&prepareThreshold=0")
        .poolSize(2)
        .open();
  }

  static void sql(String url, String statement) throws SQLException {
    try (Connection c = DriverManager.getConnection(url);
        Statement s = c.createStatement()) {
      s.execute(statement);
    }
  }

  // ---- finding 5: schema names of 58..63 bytes ----

  /**
   * Old code opened (and migrated) such a schema, then every write failed with "channel name too
   * long". Now opening refuses it before creating anything; 57 bytes still work.
   */
  @Test
  void open_schemaNameTooLongForTheChannel_isRefusedBeforeAnythingIsCreated() throws Exception {
    String base = PostgresTestServer.url();
    String stem = "kvlog_test_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
    String fits = stem + "x".repeat(57 - stem.length());
    String tooLong = fits + "y";
    String sep = base.contains("?") ? "&" : "?";
    sql(base, "CREATE SCHEMA " + fits);
    sql(base, "CREATE SCHEMA " + tooLong);
    try {
      assertThatThrownBy(
              () -> PostgresKVStore.builder(base + sep + "currentSchema=" + tooLong).open())
          .isInstanceOf(StoreOpenException.class)
          .hasMessageContaining("58 bytes")
          .hasMessageContaining("at most 57 bytes");
      try (Connection c = DriverManager.getConnection(base);
          Statement s = c.createStatement();
          ResultSet rs =
              s.executeQuery(
                  "SELECT count(*) FROM pg_tables WHERE schemaname = '" + tooLong + "'")) {
        rs.next();
        assertThat(rs.getInt(1)).as("tables created in the refused schema").isZero();
      }
      try (PostgresKVStore<String, String> store =
          PostgresKVStore.builder(base + sep + "currentSchema=" + fits).open()) {
        assertThat(store.set("k", "v")).isEmpty();
        assertThat(store.get("k")).contains("v");
      }
    } finally {
      sql(base, "DROP SCHEMA IF EXISTS " + fits + " CASCADE");
      sql(base, "DROP SCHEMA IF EXISTS " + tooLong + " CASCADE");
    }
  }
}
