package dev.kvlog;

import static dev.kvlog.KVLogTest.contents;
import static org.assertj.core.api.Assertions.assertThat;

import dev.kvlog.cli.MainAccess;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The migration tooling: kvlog copy between SQLite and PostgreSQL, schema and migrate. */
class CopyAcrossBackendsTest {
  @TempDir Path dir;
  @RegisterExtension final PostgresSchema schema = new PostgresSchema();

  @Test
  void sqliteToPostgresToSqlite_isIdentical_andReRunsSafely() {
    Path original = dir.resolve("original.db");
    Map<String, String> data = new HashMap<>();
    try (KVLog<String, String> store = KVLog.load(original)) {
      WriteBatch<String, String> batch = new WriteBatch<>();
      for (int i = 0; i < 2500; i++) {
        String k = "key-" + i + (i % 7 == 0 ? "-ünï\uD83D\uDE00" : "");
        String v = "value " + i + " " + "x".repeat(i % 300);
        batch.set(k, v);
        data.put(k, v);
      }
      store.write(batch);
    }
    MainAccess.Result there =
        MainAccess.run("copy", "--from", original.toString(), "--to", schema.url());
    assertThat(there.code()).as(there.err()).isZero();
    assertThat(there.err()).contains("copied 2500 entries; verified 2500");

    MainAccess.Result again =
        MainAccess.run("copy", "--from", original.toString(), "--to", schema.url());
    assertThat(again.code()).as("a re-run is safe").isZero();
    assertThat(again.err()).isEqualTo(there.err());

    Path back = dir.resolve("back.db");
    MainAccess.Result home =
        MainAccess.run("copy", "--from", schema.url(), "--to", back.toString());
    assertThat(home.code()).as(home.err()).isZero();
    assertThat(home.err()).isEqualTo(there.err()); // same count and the same checksum

    try (KVLog<String, String> copy = KVLog.load(back)) {
      assertThat(contents(copy)).isEqualTo(data);
    }
    String exportOriginal = MainAccess.run("--file", original.toString(), "export").out();
    assertThat(MainAccess.run("--url", schema.url(), "export").out()).isEqualTo(exportOriginal);
    assertThat(MainAccess.run("--file", back.toString(), "export").out()).isEqualTo(exportOriginal);
  }

  @Test
  void schemaAndMigrate_onBothBackends() {
    assertThat(MainAccess.run("--url", schema.url(), "migrate").out())
        .startsWith("schema version 2 at ");
    assertThat(MainAccess.run("--url", schema.url(), "schema").out()).isEqualTo("2\n");
    Path db = dir.resolve("kv.db");
    assertThat(MainAccess.run("--file", db.toString(), "schema").code())
        .as("schema only reads: it never creates a store")
        .isEqualTo(3);
    assertThat(db).doesNotExist();
    assertThat(MainAccess.run("--file", db.toString(), "migrate").out())
        .isEqualTo("schema version 1 at " + db + "\n");
    assertThat(MainAccess.run("--file", db.toString(), "schema").out()).isEqualTo("1\n");
    MainAccess.Result wrong =
        MainAccess.run("--url", schema.url(), "backup", dir.resolve("x.db").toString());
    assertThat(wrong.code()).isEqualTo(2);
    assertThat(wrong.err()).contains("backup works on a SQLite store file", "pg_dump");
    assertThat(wrong.err().lines()).hasSize(1);
    assertThat(MainAccess.run("--url", schema.url(), "set", "k", "v").code()).isZero();
    assertThat(MainAccess.run("--url", schema.url(), "get", "k").out()).isEqualTo("v\n");
  }

  @Test
  void readCommands_onAnEmptyPostgresSchema_createNothing() throws Exception {
    for (String[] read : new String[][] {{"get", "k"}, {"list"}, {"export"}, {"schema"}}) {
      java.util.List<String> args =
          new java.util.ArrayList<>(java.util.List.of("--url", schema.url()));
      args.addAll(java.util.List.of(read));
      MainAccess.Result r = MainAccess.run(args.toArray(new String[0]));
      assertThat(r.code()).as(read[0]).isEqualTo(3);
      assertThat(r.err()).as(read[0]).contains("holds no KVLog store", "never create one");
    }
    String name = schema.url().substring(schema.url().indexOf("currentSchema=") + 14);
    try (java.sql.Connection c = java.sql.DriverManager.getConnection(schema.url());
        java.sql.PreparedStatement s =
            c.prepareStatement(
                "SELECT count(*) FROM pg_class WHERE relnamespace = ?::regnamespace")) {
      s.setString(1, name);
      try (java.sql.ResultSet rs = s.executeQuery()) {
        rs.next();
        assertThat(rs.getInt(1)).as("no table, sequence or index was created").isZero();
      }
    }
  }
}
