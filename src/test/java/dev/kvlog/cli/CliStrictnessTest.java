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
    assertThat(target).as("a failed copy leaves no target it created").doesNotExist();
  }

  /** A closed store with 3000 entries whose last page's cell pointers are overwritten. */
  static Path damagedClosedStore(Path dir) throws Exception {
    Path db = dir.resolve("damaged.db");
    try (dev.kvlog.KVLog<String, String> store = dev.kvlog.KVLog.load(db)) {
      dev.kvlog.WriteBatch<String, String> batch = new dev.kvlog.WriteBatch<>();
      for (int i = 0; i < 3000; i++) {
        batch.set("key" + i, "value-" + i + "-" + "x".repeat(i % 50));
      }
      store.write(batch);
    }
    Files.delete(dir.resolve("damaged.db-lock"));
    byte[] damaged = Files.readAllBytes(db);
    int lastPage = damaged.length / 4096 - 1;
    damaged[lastPage * 4096 + 8] = (byte) 0xFF;
    damaged[lastPage * 4096 + 9] = (byte) 0xFF;
    Files.write(db, damaged);
    return db;
  }

  @Test
  void check_ofAClosedStore_createsNoWalOrShm_asKVLogCheckDoes() throws Exception {
    Path db = dir.resolve("x.db");
    assertThat(MainAccess.run("--file", db.toString(), "set", "k", "v").code()).isZero();
    assertThat(dir.resolve("x.db-wal")).doesNotExist();
    MainAccess.Result check = MainAccess.run("--file", db.toString(), "check");
    assertThat(check).isEqualTo(new MainAccess.Result(0, "ok\n", ""));
    assertThat(dir.resolve("x.db-wal")).doesNotExist();
    assertThat(dir.resolve("x.db-shm")).doesNotExist();

    Path damaged = damagedClosedStore(dir);
    MainAccess.Result bad = MainAccess.run("--file", damaged.toString(), "check");
    assertThat(bad.code()).isEqualTo(Main.STORE_ERROR);
    assertThat(bad.err()).contains("is damaged").doesNotContain("this is not damage");
    assertThat(dir.resolve("damaged.db-wal")).doesNotExist();
    assertThat(dir.resolve("damaged.db-shm")).doesNotExist();
  }

  @Test
  void check_ofNonStores_keepsItsMessages() throws Exception {
    Path foreign = dir.resolve("foreign.db");
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + foreign);
        Statement s = c.createStatement()) {
      s.execute("CREATE TABLE t(x)");
    }
    MainAccess.Result check = MainAccess.run("--file", foreign.toString(), "check");
    assertThat(check.code()).isEqualTo(Main.STORE_ERROR);
    assertThat(check.err())
        .contains(" is not a KVLog store (application_id 0", "nothing was checked")
        .hasLineCount(1);

    Path text = Files.writeString(dir.resolve("notes.db"), "hello, this is not a database at all");
    MainAccess.Result notSqlite = MainAccess.run("--file", text.toString(), "check");
    assertThat(notSqlite.code()).isEqualTo(Main.STORE_ERROR);
    assertThat(notSqlite.err()).contains("is not a KVLog store (", "nothing was checked");
    assertThat(dir.resolve("notes.db-shm")).doesNotExist();
  }

  @Test
  void failedCopy_leavesNoTargetItCreated() throws Exception {
    Path damaged = damagedClosedStore(dir);
    Path target = dir.resolve("new.db");
    MainAccess.Result copy =
        MainAccess.run("copy", "--from", damaged.toString(), "--to", target.toString());
    assertThat(copy.code()).as(copy.err()).isEqualTo(Main.STORE_ERROR);
    assertThat(copy.err()).contains("is corrupt");
    try (var names = Files.list(dir)) {
      assertThat(names.map(f -> f.getFileName().toString()))
          .as("nothing named new.db*")
          .noneMatch(n -> n.startsWith("new.db"));
    }
  }

  @Test
  void failedCopy_keepsATargetThatExisted() throws Exception {
    Path damaged = damagedClosedStore(dir);
    Path target = dir.resolve("old.db");
    assertThat(MainAccess.run("--file", target.toString(), "set", "mine", "1").code()).isZero();
    MainAccess.Result copy =
        MainAccess.run("copy", "--from", damaged.toString(), "--to", target.toString());
    assertThat(copy.code()).isEqualTo(Main.STORE_ERROR);
    assertThat(MainAccess.run("--file", target.toString(), "get", "mine").out()).isEqualTo("1\n");
  }

  @Test
  void copy_refusesFileOrUrl_whichItWouldIgnore() throws Exception {
    Path from = dir.resolve("a.db");
    Path to = dir.resolve("b.db");
    assertThat(MainAccess.run("--file", from.toString(), "set", "k", "v").code()).isZero();
    for (String[] store :
        new String[][] {
          {"--file", dir.resolve("e.db").toString()},
          {"-f", dir.resolve("e.db").toString()},
          {"--url", "jdbc:sqlite:" + dir.resolve("e.db")}
        }) {
      MainAccess.Result copy =
          MainAccess.run(
              store[0], store[1], "copy", "--from", from.toString(), "--to", to.toString());
      assertThat(copy.code()).as(String.join(" ", store)).isEqualTo(Main.USAGE);
      assertThat(copy.err()).contains("copy", "--from", "--to").hasLineCount(1);
      assertThat(to).doesNotExist();
      assertThat(dir.resolve("e.db")).doesNotExist();
    }
    assertThat(MainAccess.run("copy", "--from", from.toString(), "--to", to.toString()).code())
        .isZero();
  }

  /**
   * An empty file (touch z.db) holds no data: the first writer adopts it as a new store, made
   * owner-only as a store KVLog creates is; readers, which never create a store, refuse it.
   */
  @Test
  void emptyFile_adoptedByAWriter_becomesOwnerOnly() throws Exception {
    java.util.Set<java.nio.file.attribute.PosixFilePermission> rwr =
        java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--");
    Path viaCli = Files.createFile(dir.resolve("z.db"));
    Files.setPosixFilePermissions(viaCli, rwr);
    MainAccess.Result get = MainAccess.run("--file", viaCli.toString(), "get", "k");
    assertThat(get.code()).isEqualTo(Main.STORE_ERROR);
    assertThat(get.err()).contains("is not a KVLog store");
    assertThat(Files.getPosixFilePermissions(viaCli)).as("a read changes nothing").isEqualTo(rwr);
    assertThat(MainAccess.run("--file", viaCli.toString(), "set", "k", "v").code()).isZero();
    assertThat(
            java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(viaCli)))
        .isEqualTo("rw-------");

    Path viaApi = Files.createFile(dir.resolve("api.db"));
    Files.setPosixFilePermissions(viaApi, rwr);
    dev.kvlog.KVLog.open(viaApi).close();
    assertThat(
            java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(viaApi)))
        .isEqualTo("rw-------");
  }
}
