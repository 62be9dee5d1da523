package dev.kvlog;

import static dev.kvlog.KVLogTest.contents;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kvlog.sqlite.Migrations;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile files: random bytes where a store should be, random scripts where a migration should be,
 * and SQL-shaped keys. Each is refused with a clear error or stored verbatim; nothing already
 * stored is lost and no foreign file is modified.
 */
class BadFilesFuzzTest {
  static long inputs;

  @Provide
  Arbitrary<byte[]> junkFiles() {
    byte[] header = "SQLite format 3\0".getBytes(StandardCharsets.US_ASCII);
    Arbitrary<byte[]> random = Arbitraries.bytes().array(byte[].class).ofMinSize(1).ofMaxSize(9000);
    return Arbitraries.oneOf(
        random,
        // Random bytes behind a valid SQLite magic string: they pass the first look.
        random.map(
            body -> {
              byte[] file = new byte[header.length + body.length];
              System.arraycopy(header, 0, file, 0, header.length);
              System.arraycopy(body, 0, file, header.length, body.length);
              return file;
            }));
  }

  /** Random bytes as a database file: a clear refusal, and the file is left exactly as it was. */
  @Property(tries = 150)
  void randomBytesAsTheStoreFile_areRefusedAndLeftUntouched(@ForAll("junkFiles") byte[] junk)
      throws IOException {
    Path dir = Files.createTempDirectory("kvlog-junk");
    Path db = dir.resolve("junk.db");
    try {
      Files.write(db, junk);
      assertThatThrownBy(() -> KVLog.load(db).close())
          .isInstanceOf(StoreOpenException.class)
          .hasMessageContaining(db.toString())
          .satisfies(
              e ->
                  assertThat(e.getMessage())
                      .containsAnyOf("not a KVLog store", "not a SQLite database", "corrupt"));
      assertThat(Files.readAllBytes(db)).as("the file is unchanged").isEqualTo(junk);
      for (String sidecar : new String[] {"-wal", "-shm", "-lock"}) {
        assertThat(dir.resolve("junk.db" + sidecar)).as("nothing left beside it").doesNotExist();
      }
      inputs++;
    } finally {
      ModelPropertyTest.deleteTree(dir);
    }
  }

  @Provide
  Arbitrary<String> junkScripts() {
    return Arbitraries.oneOf(
        Arbitraries.strings().all().ofMaxLength(200),
        Arbitraries.strings().withChars("CREATE TABLE DROP kv ();,'\"-").ofMaxLength(60),
        Arbitraries.of(
            "DROP TABLE kv;",
            "CREATE TABLE kv(x);",
            "DELETE FROM kv; SELECT syntax error",
            "CREATE TABLE extra(a); INSERT INTO kv VALUES (1, 2, 3);",
            ""));
  }

  /**
   * A random V2 script: it either applies (it was valid SQL that left the data alone) or fails and
   * is rolled back whole, with a SchemaException naming the script. Either way the data is all
   * there and the recorded version tells which happened.
   */
  @Property(tries = 150)
  void randomMigrationScript_appliesWholeOrRollsBackWhole(@ForAll("junkScripts") String sql)
      throws Exception {
    Path dir = Files.createTempDirectory("kvlog-migrate");
    Path db = dir.resolve("kv.db");
    try {
      try (KVLog<String, String> store = KVLog.load(db)) {
        store.set("keep", "me");
      }
      List<Migrations.Script> scripts =
          List.of(
              new Migrations.Script("V1__create_kv.sql", ""), // installed already: skipped
              new Migrations.Script("V2__fuzz.sql", sql));
      int version;
      boolean failed = false;
      try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db)) {
        try {
          version = Migrations.migrate(c, db, scripts);
        } catch (SchemaException e) {
          assertThat(e.getMessage()).contains("V2__fuzz.sql", "rolled back");
          failed = true;
        }
        version = Migrations.currentVersion(c);
        assertThat(version).isEqualTo(failed ? 1 : 2);
        if (failed
            || !sql.toUpperCase().contains("DROP") && !sql.toUpperCase().contains("DELETE")) {
          try (Statement s = c.createStatement();
              ResultSet rs = s.executeQuery("SELECT value FROM kv WHERE key = 'keep'")) {
            assertThat(rs.next()).as("the data survives a failed migration").isTrue();
            assertThat(rs.getString(1)).isEqualTo("me");
          }
        }
      }
      inputs++;
    } finally {
      ModelPropertyTest.deleteTree(dir);
    }
  }

  @Test
  void badScriptName_isRefusedWithTheRule(@TempDir Path dir) throws Exception {
    Path db = dir.resolve("kv.db");
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db)) {
      assertThatThrownBy(
              () ->
                  Migrations.migrate(
                      c, db, List.of(new Migrations.Script("2_create.sql", "CREATE TABLE x(a)"))))
          .isInstanceOf(SchemaException.class)
          .hasMessageContaining("V<version>__<description>.sql");
    }
  }

  /** Keys and values shaped like SQL are data: bound as parameters, never spliced into SQL. */
  @Test
  void sqlShapedKeys_areStoredVerbatim(@TempDir Path dir) {
    List<String> hostile =
        List.of(
            "'); DROP TABLE kv; --",
            "\"; DELETE FROM kv; --",
            "k' OR '1'='1",
            "%",
            "_",
            "*",
            "\\",
            "kv",
            "ATTACH DATABASE '/tmp/x' AS x;");
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.load(db)) {
      for (String k : hostile) {
        store.set(k, k);
        assertThat(store.compareAndSet(k, k, k + "!")).isTrue();
      }
      assertThat(store.scan("%").map(Map.Entry::getKey)).containsExactly("%");
      assertThat(store.scan("_").map(Map.Entry::getKey)).containsExactly("_");
    }
    try (KVLog<String, String> store = KVLog.load(db)) {
      assertThat(contents(store)).hasSize(hostile.size());
      for (String k : hostile) {
        assertThat(store.get(k)).contains(k + "!");
      }
    }
    inputs += hostile.size();
  }

  @AfterContainer
  static void summary() {
    TortureSummary.record(
        "bad inputs: junk store files, junk migration scripts, SQL-shaped keys", inputs, 0, 0);
  }
}
