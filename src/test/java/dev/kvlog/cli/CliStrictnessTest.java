package dev.kvlog.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the CLI refuses instead of guessing: rows another tool wrote that are not valid UTF-8,
 * copies that cannot complete, options a command does not use.
 */
class CliStrictnessTest {
  @TempDir Path dir;

  /** A closed store with value of "b" = 61 c0 62 and a key 6b ff, as sqlite3 could write them. */
  private Path storeWithInvalidUtf8() throws Exception {
    Path db = dir.resolve("u.db");
    assertThat(MainAccess.run("--file", db.toString(), "set", "b", "ok").code()).isZero();
    assertThat(MainAccess.run("--file", db.toString(), "set", "c", "ok").code()).isZero();
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = c.createStatement()) {
      s.execute("UPDATE kv SET value = CAST(x'61c062' AS TEXT) WHERE key = 'b'");
      s.execute("INSERT INTO kv VALUES (CAST(x'6bff' AS TEXT), 'v')");
    }
    return db;
  }

  @Test
  void readCommands_refuseInvalidUtf8_namingTheBytes() throws Exception {
    Path db = storeWithInvalidUtf8();
    MainAccess.Result get = MainAccess.run("--file", db.toString(), "get", "b");
    assertThat(get.code()).as(get.out()).isEqualTo(Main.STORE_ERROR);
    assertThat(get.out()).isEmpty();
    assertThat(get.err())
        .startsWith("kvlog: value of key \"b\" (x'61c062') is not valid UTF-8")
        .contains("repair the row with sqlite3")
        .hasLineCount(1);

    assertThat(MainAccess.run("--file", db.toString(), "get", "c").out()).isEqualTo("ok\n");

    MainAccess.Result list = MainAccess.run("--file", db.toString(), "list", "--values");
    assertThat(list.code()).isEqualTo(Main.STORE_ERROR);
    assertThat(list.out()).doesNotContain("\uFFFD");
    assertThat(list.err()).contains("x'61c062'", "not valid UTF-8");

    MainAccess.Result export = MainAccess.run("--file", db.toString(), "export");
    assertThat(export.code()).isEqualTo(Main.STORE_ERROR);
    assertThat(export.out()).doesNotContain("\uFFFD");

    Path file = dir.resolve("out.jsonl");
    MainAccess.Result toFile =
        MainAccess.run("--file", db.toString(), "export", "--output", file.toString());
    assertThat(toFile.code()).isEqualTo(Main.STORE_ERROR);
    if (Files.exists(file)) {
      assertThat(Files.readString(file)).doesNotContain("\uFFFD");
    }
  }

  @Test
  void invalidKey_isRefused_namingItsBytes() throws Exception {
    Path db = storeWithInvalidUtf8();
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement s = c.createStatement()) {
      s.execute("UPDATE kv SET value = 'fine' WHERE key = 'b'");
    }
    MainAccess.Result list = MainAccess.run("--file", db.toString(), "list");
    assertThat(list.code()).isEqualTo(Main.STORE_ERROR);
    assertThat(list.out()).doesNotContain("\uFFFD");
    assertThat(list.err()).startsWith("kvlog: key x'6bff' is not valid UTF-8").hasLineCount(1);
  }

  @Test
  void copy_ofInvalidUtf8_failsAndWritesNoLossyEntry() throws Exception {
    Path db = storeWithInvalidUtf8();
    Path target = dir.resolve("u2.db");
    MainAccess.Result copy =
        MainAccess.run("copy", "--from", db.toString(), "--to", target.toString());
    assertThat(copy.code()).as(copy.err()).isEqualTo(Main.STORE_ERROR);
    assertThat(copy.err()).contains("x'61c062'", "not valid UTF-8").doesNotContain("verified");
    if (Files.exists(target)) {
      assertThat(MainAccess.run("--file", target.toString(), "export").out())
          .doesNotContain("\uFFFD");
    }
  }
}
