package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Stores created with schema V1 (key, value; key notifications) open and upgrade to V2. */
class PostgresMigrationTest {
  @RegisterExtension final PostgresSchema schema = new PostgresSchema();

  @Test
  void v1Store_isUpgraded_keepsItsRows_andGivesEachAVersion() throws Exception {
    try (Connection c = DriverManager.getConnection(schema.url());
        Statement s = c.createStatement()) {
      s.execute(Files.readString(Path.of("sql", "postgresql", "V1__create_kv.sql")));
      s.execute("INSERT INTO kvlog_schema(version, description) VALUES (1, 'create kv')");
      s.execute("INSERT INTO kv(key, value) VALUES ('a', '1'), ('b', '2'), ('c', '3')");
    }
    try (KVLog<String, String> a = KVLog.builder(schema.url()).open();
        KVLog<String, String> b = KVLog.builder(schema.url()).open()) {
      assertThat(a.schemaVersion()).isEqualTo(2);
      assertThat(a.get("b")).contains("2");
      assertThat(a.size()).isEqualTo(3);
      b.set("b", "22");
      b.delete("c");
      PostgresMultiInstanceTest.awaitValue(a, "b", "22");
      PostgresMultiInstanceTest.awaitValue(a, "c", null);
      assertThat(a.setIfAbsent("c", "33")).isEmpty();
      PostgresMultiInstanceTest.awaitValue(b, "c", "33");
    }
    try (Connection c = DriverManager.getConnection(schema.url());
        Statement s = c.createStatement();
        ResultSet rs =
            s.executeQuery(
                "SELECT count(*), count(DISTINCT version), count(*) FILTER (WHERE version IS NULL)"
                    + " FROM kv")) {
      rs.next();
      assertThat(rs.getInt(1)).isEqualTo(3);
      assertThat(rs.getInt(2)).isEqualTo(3);
      assertThat(rs.getInt(3)).isZero();
    }
  }

  /** An INSERT that raced a DELETE of the same key and drew an older version is refused (40001). */
  @Test
  void insertOlderThanTheKeysTombstone_isRefusedAsSerializationFailure() throws Exception {
    try (KVLog<String, String> store = KVLog.builder(schema.url()).open();
        Connection c = DriverManager.getConnection(schema.url());
        Statement s = c.createStatement()) {
      store.set("k", "1");
      store.delete("k");
      // Simulate the race: a tombstone newer than any version the next insert can draw.
      s.execute("UPDATE kv_tombstone SET version = version + 1000000 WHERE key = 'k'");
      assertThat(
              org.assertj.core.api.Assertions.catchThrowableOfType(
                      java.sql.SQLException.class,
                      () -> s.execute("INSERT INTO kv(key, value) VALUES ('k', 'late')"))
                  .getSQLState())
          .isEqualTo("40001");
      // KVLog retries such a refusal (each attempt draws a new version) until it is newer.
      s.execute("UPDATE kv_tombstone SET version = nextval('kv_version') + 5 WHERE key = 'k'");
      assertThat(store.set("k", "again")).isEmpty();
      assertThat(store.get("k")).contains("again");
    }
  }

  /**
   * Opening waits for the migration lock under the key earlier builds used (SQLite's
   * application_id, 0x4B564C47), so instances of an earlier build and of this one never migrate at
   * the same time.
   */
  @Test
  void migration_waitsForTheAdvisoryLockKeyOfEarlierBuilds() throws Exception {
    try (Connection held = DriverManager.getConnection(schema.url());
        Statement s = held.createStatement()) {
      held.setAutoCommit(false);
      s.execute("SELECT pg_advisory_xact_lock(" + 0x4B564C47 + ")");
      CompletableFuture<Integer> opening =
          CompletableFuture.supplyAsync(
              () -> {
                try (KVLog<String, String> store = KVLog.builder(schema.url()).open()) {
                  return store.schemaVersion();
                }
              });
      Thread.sleep(500);
      assertThat(opening).isNotDone();
      held.commit(); // releases the lock
      assertThat(opening.get(30, TimeUnit.SECONDS)).isEqualTo(2);
    }
  }
}
