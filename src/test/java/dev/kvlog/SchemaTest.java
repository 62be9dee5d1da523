package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kvlog.postgres.PgMigrations;
import dev.kvlog.sqlite.Migrations;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SchemaTest {
  @TempDir Path dir;

  @Test
  void migrationList_matchesTheFilesInSqlFolder() throws Exception {
    try (Stream<Path> files = Files.list(Path.of("sql", "sqlite"))) {
      assertThat(files.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList()))
          .isEqualTo(Migrations.SQLITE_SCRIPTS);
    }
    try (Stream<Path> files = Files.list(Path.of("sql", "postgresql"))) {
      assertThat(files.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList()))
          .isEqualTo(PgMigrations.SCRIPTS);
    }
  }

  @Test
  void newStore_recordsSchemaVersionAndApplicationId() throws Exception {
    Path db = dir.resolve("kv.db");
    KVLog.load(db).close();
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = c.createStatement()) {
      try (ResultSet rs = s.executeQuery("SELECT version, description FROM kvlog_schema")) {
        assertThat(rs.next()).isTrue();
        assertThat(rs.getInt(1)).isEqualTo(Migrations.latestVersion());
        assertThat(rs.getString(2)).isEqualTo("create kv");
      }
      try (ResultSet rs = s.executeQuery("PRAGMA application_id")) {
        assertThat(rs.getInt(1)).isEqualTo(0x4B564C47);
      }
      try (ResultSet rs = s.executeQuery("SELECT sql FROM sqlite_schema WHERE name = 'kv'")) {
        assertThat(rs.getString(1)).contains("key   TEXT NOT NULL PRIMARY KEY", "WITHOUT ROWID");
      }
    }
  }

  @Test
  void newerSchema_isRefusedAndTheStoreIsUnchanged() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.load(db)) {
      store.set("k", "v");
    }
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = c.createStatement()) {
      s.executeUpdate(
          "INSERT INTO kvlog_schema(version, description) VALUES (99, 'from the future')");
    }
    byte[] before = Files.readAllBytes(db);
    assertThatThrownBy(() -> KVLog.load(db))
        .isInstanceOf(SchemaException.class)
        .hasMessage(
            db
                + " has schema version 99, but this KVLog build knows versions up to "
                + Migrations.latestVersion()
                + "; upgrade KVLog to open it (the store was not changed)");
    assertThat(Files.readAllBytes(db)).isEqualTo(before);
    // The refused open released everything: the same JVM can open the file with JDBC and KVLog
    // would open it again once the version is back.
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = c.createStatement()) {
      s.executeUpdate("DELETE FROM kvlog_schema WHERE version = 99");
    }
    try (KVLog<String, String> store = KVLog.load(db)) {
      assertThat(store.get("k")).contains("v");
    }
  }

  @Test
  void emptySqliteFile_becomesAStore() throws Exception {
    Path db = dir.resolve("kv.db");
    Files.createFile(db);
    try (KVLog<String, String> store = KVLog.load(db)) {
      store.set("k", "v");
    }
    try (KVLog<String, String> store = KVLog.load(db)) {
      assertThat(store.get("k")).contains("v");
    }
  }

  @Test
  void flywayHistory_versionWithTrailingZeroParts_isTheWholeVersion_otherDottedOnesRefused()
      throws Exception {
    Path db = dir.resolve("kv.db");
    KVLog.load(db).close();
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = c.createStatement()) {
      s.execute("CREATE TABLE flyway_schema_history (version TEXT, success INTEGER NOT NULL)");
      s.execute("INSERT INTO flyway_schema_history VALUES ('1.0', 1)");
    }
    try (KVLog<String, String> store = KVLog.load(db)) {
      assertThat(store.stats().schemaVersion()).isEqualTo(1);
    }
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = c.createStatement()) {
      s.execute("INSERT INTO flyway_schema_history VALUES ('1.1', 1)");
    }
    assertThatThrownBy(() -> KVLog.load(db))
        .isInstanceOf(SchemaException.class)
        .hasMessageContaining("1.1");
  }
}
