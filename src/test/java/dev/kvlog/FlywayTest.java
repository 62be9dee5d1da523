package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kvlog.postgres.PgMigrations;
import dev.kvlog.sqlite.KVLogReader;
import dev.kvlog.sqlite.Migrations;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.output.MigrateResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real Flyway (flyway-core, flyway-database-postgresql) on the sql/ folders, both ways: a
 * schema Flyway created opens in KVLog, and a store KVLog created is taken over by Flyway's
 * baseline, after which Flyway has nothing to apply and KVLog still opens it. Flyway costs about a
 * second per start, so there are few of these.
 */
class FlywayTest {
  @TempDir Path dir;
  @RegisterExtension final PostgresSchema postgres = new PostgresSchema();

  private static String location(String backend) {
    return "filesystem:" + Path.of("sql", backend).toAbsolutePath();
  }

  private static String latest() {
    return Integer.toString(Migrations.latestVersion());
  }

  @Test
  void sqlite_flywayCreatesTheSchema_kvlogOpensIt_andLeavesFlywaysHistoryComplete()
      throws Exception {
    Path db = dir.resolve("flyway.db");
    Flyway flyway =
        Flyway.configure()
            .dataSource("jdbc:sqlite:" + db, null, null)
            .locations(location("sqlite"))
            .load();
    assertThat(flyway.migrate().migrationsExecuted).isEqualTo(Migrations.SQLITE_SCRIPTS.size());

    try (KVLog<String, String> store = KVLog.load(db)) {
      store.set("k", "v");
      assertThat(store.stats().schemaVersion()).isEqualTo(Migrations.latestVersion());
    }
    try (KVLogReader reader = KVLogReader.open(db)) {
      assertThat(reader.get("k")).contains("v");
    }
    flyway.validate();
    assertThat(flyway.migrate().migrationsExecuted).as("nothing left to apply").isZero();

    // A Flyway-managed store behind this build: KVLog refuses to apply the newer script itself.
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db)) {
      List<Migrations.Script> scripts =
          List.of(
              new Migrations.Script("V1__create_kv.sql", ""),
              new Migrations.Script("V2__more.sql", "CREATE TABLE more(x TEXT);"));
      assertThatThrownBy(() -> Migrations.migrate(c, db, scripts))
          .isInstanceOf(SchemaException.class)
          .hasMessageContaining("managed by Flyway")
          .hasMessageContaining("run flyway migrate");
      try (Statement s = c.createStatement();
          ResultSet rs = s.executeQuery("SELECT count(*) FROM sqlite_schema WHERE name = 'more'")) {
        rs.next();
        assertThat(rs.getInt(1)).as("nothing was applied").isZero();
      }
    }
  }

  @Test
  void sqlite_kvlogCreatesTheStore_flywayBaselinesIt_andBothKeepWorking() {
    Path db = dir.resolve("kvlog.db");
    try (KVLog<String, String> store = KVLog.load(db)) {
      store.set("k", "v");
    }
    Flyway flyway =
        Flyway.configure()
            .dataSource("jdbc:sqlite:" + db, null, null)
            .locations(location("sqlite"))
            .baselineOnMigrate(true)
            .baselineVersion(latest())
            .load();
    MigrateResult result = flyway.migrate();
    assertThat(result.migrationsExecuted).as("the baseline covers every script").isZero();
    flyway.validate();
    try (KVLog<String, String> store = KVLog.load(db)) {
      assertThat(store.get("k")).contains("v");
      store.set("k2", "v2");
    }
  }

  @Test
  void postgres_flywayCreatesTheSchema_kvlogOpensIt_andATakenOverStoreKeepsWorking()
      throws Exception {
    String url = postgres.url();
    String schema = url.substring(url.indexOf("currentSchema=") + "currentSchema=".length());
    Flyway flyway =
        Flyway.configure()
            .dataSource(url, null, null)
            .schemas(schema)
            .locations(location("postgresql"))
            .load();
    assertThat(flyway.migrate().migrationsExecuted).isEqualTo(PgMigrations.SCRIPTS.size());
    try (KVLog<String, String> store = KVLog.builder(url).open()) {
      store.set("k", "v");
      assertThat(store.schemaVersion()).isEqualTo(PgMigrations.SCRIPTS.size());
    }
    flyway.validate();

    // The other way: a store KVLog created, then Flyway's baseline.
    try (Connection c = DriverManager.getConnection(url);
        Statement s = c.createStatement()) {
      s.execute("DROP TABLE flyway_schema_history");
    }
    Flyway takeOver =
        Flyway.configure()
            .dataSource(url, null, null)
            .schemas(schema)
            .locations(location("postgresql"))
            .baselineOnMigrate(true)
            .baselineVersion(Integer.toString(PgMigrations.SCRIPTS.size()))
            .load();
    assertThat(takeOver.migrate().migrationsExecuted).isZero();
    takeOver.validate();
    try (KVLog<String, String> store = KVLog.builder(url).open()) {
      assertThat(store.get("k")).contains("v");
    }
  }
}
