package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kvlog.cli.MainAccess;
import dev.kvlog.sqlite.KVLogReader;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tools on a store that another process owns: the read commands work beside it (a real second JVM
 * that keeps writing), see only committed data, load only what they need, and write nothing; write
 * commands are refused naming the owner.
 */
class LiveStoreTest {
  @TempDir Path dir;

  static MainAccess.Result kvlog(Path db, String... args) {
    List<String> all = new ArrayList<>(List.of("--file", db.toString()));
    all.addAll(List.of(args));
    return MainAccess.run(all.toArray(new String[0]));
  }

  /** Starts a {@link WritingOwnerChild} on {@code db} and returns it once it owns the store. */
  static Process startOwner(Path db) throws Exception {
    Process owner = ChildJvm.start(WritingOwnerChild.class, db.toString());
    BufferedReader out =
        new BufferedReader(new InputStreamReader(owner.getInputStream(), StandardCharsets.UTF_8));
    String line = out.readLine();
    assertThat(line).as("the owner started").startsWith("OPEN ");
    return owner;
  }

  @Test
  void readCommands_workWhileAnotherProcessOwnsAndWrites_andWritesAreRefusedNamingItsPid()
      throws Exception {
    Path db = dir.resolve("live.db");
    Process owner = startOwner(db);
    try {
      for (int round = 0; round < 3; round++) {
        MainAccess.Result get = kvlog(db, "get", "pair:a");
        assertThat(get.code()).as(get.err()).isZero();

        MainAccess.Result list = kvlog(db, "list", "--prefix", "pair:", "--values");
        assertThat(list.code()).as(list.err()).isZero();
        Map<String, String> pair = new HashMap<>();
        list.out().lines().forEach(l -> pair.put(l.split("\t")[0], l.split("\t")[1]));
        assertThat(pair.get("pair:a"))
            .as("one batch, never half visible")
            .isEqualTo(pair.get("pair:b"));

        Path export = dir.resolve("export-" + round + ".jsonl");
        MainAccess.Result exported = kvlog(db, "export", "-o", export.toString());
        assertThat(exported.code()).as(exported.err()).isZero();
        Map<String, String> lines = new HashMap<>();
        ObjectMapper json = new ObjectMapper();
        for (String l : Files.readAllLines(export)) {
          JsonNode n = json.readTree(l);
          lines.put(n.get("key").asText(), n.get("value").asText());
        }
        assertThat(lines.get("pair:a")).isEqualTo(lines.get("pair:b"));

        MainAccess.Result stats = kvlog(db, "stats", "--json");
        assertThat(stats.code()).as(stats.err()).isZero();
        assertThat(json.readTree(stats.out()).get("entries").asInt()).isGreaterThanOrEqualTo(2);

        MainAccess.Result check = kvlog(db, "check");
        assertThat(check.code()).as(check.err()).isZero();
        assertThat(check.out()).isEqualTo("ok\n");

        Path backup = dir.resolve("backup-" + round + ".db");
        MainAccess.Result backedUp = kvlog(db, "backup", backup.toString());
        assertThat(backedUp.code()).as(backedUp.err()).isZero();
        try (KVLogReader copy = KVLogReader.open(backup)) {
          assertThat(copy.get("pair:a")).isEqualTo(copy.get("pair:b")).isPresent();
        }

        assertThat(kvlog(db, "schema").out()).isEqualTo("1\n");
      }
      int before = Integer.parseInt(kvlog(db, "get", "pair:a").out().trim());
      int after = before;
      for (long end = System.nanoTime() + 20_000_000_000L;
          after == before && System.nanoTime() < end; ) {
        Thread.sleep(100);
        after = Integer.parseInt(kvlog(db, "get", "pair:a").out().trim());
      }
      assertThat(after)
          .as("the owner went on writing and the reader sees it")
          .isGreaterThan(before);

      String ownerPid = Long.toString(owner.pid());
      for (String[] write :
          List.of(
              new String[] {"set", "cli-key", "x"},
              new String[] {"delete", "pair:a"},
              new String[] {"cas", "pair:a", "--expect", "0", "--new", "1"},
              new String[] {"import", dir.resolve("export-0.jsonl").toString()})) {
        MainAccess.Result refused = kvlog(db, write);
        assertThat(refused.code()).as(String.join(" ", write)).isEqualTo(3);
        assertThat(refused.err())
            .as(String.join(" ", write))
            .contains(db.toString(), "owned by process " + ownerPid, "nothing was written")
            .doesNotContain("\tat ");
      }
    } finally {
      owner.getOutputStream().close();
      assertThat(owner.waitFor(30, TimeUnit.SECONDS)).isTrue();
    }
    assertThat(kvlog(db, "get", "cli-key").code()).as("the refused set wrote nothing").isEqualTo(1);
  }

  @Test
  void readers_afterTheOwnerWasKilled_seeEveryCommittedWrite_andLeaveTheDatabaseFileAsItWas()
      throws Exception {
    Path db = dir.resolve("crashed.db");
    Process owner = startOwner(db);
    Thread.sleep(300);
    owner.destroyForcibly();
    owner.waitFor(30, TimeUnit.SECONDS);
    assertThat(Files.size(dir.resolve("crashed.db-wal")))
        .as("committed writes in the WAL")
        .isPositive();

    byte[] database = Files.readAllBytes(db);
    FileTime modified = Files.getLastModifiedTime(db);
    String a = kvlog(db, "get", "pair:a").out();
    assertThat(a).isNotEmpty().isEqualTo(kvlog(db, "get", "pair:b").out());
    assertThat(kvlog(db, "check").out()).isEqualTo("ok\n");
    assertThat(kvlog(db, "export").out()).contains("\"pair:a\"");
    assertThat(Files.readAllBytes(db))
        .as("readers never write the database file")
        .isEqualTo(database);
    assertThat(Files.getLastModifiedTime(db)).isEqualTo(modified);

    try (KVLog<String, String> reopened = KVLog.load(db)) {
      assertThat(reopened.get("pair:a")).contains(a.trim());
    }
  }

  @Test
  void readCommands_onAClosedStore_changeNoFile_andAddOnlyEmptySidecars() throws Exception {
    Path db = dir.resolve("closed.db");
    try (KVLog<String, String> store = KVLog.load(db)) {
      store.set("k", "v");
    }
    Set<String> before = names(dir);
    String digest = sha256(db);
    FileTime modified = Files.getLastModifiedTime(db);
    for (String[] read :
        List.of(
            new String[] {"get", "k"},
            new String[] {"list"},
            new String[] {"export"},
            new String[] {"stats"},
            new String[] {"check"},
            new String[] {"schema"},
            new String[] {"backup", dir.resolve("b.db").toString()})) {
      MainAccess.Result r = kvlog(db, read);
      assertThat(r.code()).as(read[0] + ": " + r.err()).isZero();
    }
    assertThat(sha256(db)).isEqualTo(digest);
    assertThat(Files.getLastModifiedTime(db)).isEqualTo(modified);
    Set<String> added = new TreeSet<>(names(dir));
    added.removeAll(before);
    assertThat(added).containsExactlyInAnyOrder("b.db", "closed.db-wal", "closed.db-shm");
    assertThat(Files.size(dir.resolve("closed.db-wal"))).isZero();
    try (KVLog<String, String> store = KVLog.load(db)) {
      assertThat(store.get("k")).contains("v");
    }
    assertThat(names(dir)).as("the next owner removes them").isEqualTo(withBackup(before));
  }

  private static Set<String> withBackup(Set<String> before) {
    Set<String> s = new TreeSet<>(before);
    s.add("b.db");
    return s;
  }

  @Test
  void readCommands_onAMissingStore_createNothing_andSayWhatIsWrong() {
    Path missing = dir.resolve("no/such/dir/x.db");
    for (String[] read :
        List.of(
            new String[] {"get", "k"},
            new String[] {"list"},
            new String[] {"export"},
            new String[] {"stats"},
            new String[] {"check"},
            new String[] {"schema"},
            new String[] {"backup", dir.resolve("b.db").toString()},
            new String[] {
              "copy", "--from", missing.toString(), "--to", dir.resolve("t.db").toString()
            })) {
      // copy names its stores with --from/--to and refuses --file (CliStrictnessTest)
      MainAccess.Result r = read[0].equals("copy") ? MainAccess.run(read) : kvlog(missing, read);
      assertThat(r.code()).as(read[0]).isEqualTo(3);
      assertThat(r.err())
          .as(read[0])
          .contains(missing.toString(), "does not exist")
          .doesNotContain("\tat ");
      assertThat(r.err().lines()).as(read[0]).hasSize(1);
    }
    assertThat(dir.resolve("no")).doesNotExist();
    assertThat(dir.resolve("b.db")).doesNotExist();
    assertThat(dir.resolve("t.db")).doesNotExist();
  }

  /**
   * get reads one row: in a JVM with a 48 MB heap it answers from a store holding 160 MB of values,
   * which loading the table (the old get) cannot.
   */
  @Test
  void get_readsOneRow_notTheTable() throws Exception {
    Path db = dir.resolve("big.db");
    String mb = "x".repeat(1 << 20);
    try (KVLog<String, String> store = KVLog.load(db)) {
      for (int i = 0; i < 160; i++) {
        store.set("big:" + i, mb + i);
      }
      store.set("small", "found");
    }
    List<String> command =
        new ArrayList<>(
            ChildJvm.command(dev.kvlog.cli.Main.class, "--file", db.toString(), "get", "small"));
    command.add(1, "-Xmx48m");
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(out).isEqualTo("found\n");
    assertThat(p.exitValue()).isZero();
  }

  private static Set<String> names(Path dir) throws Exception {
    try (Stream<Path> files = Files.list(dir)) {
      return files
          .map(f -> f.getFileName().toString())
          .collect(Collectors.toCollection(TreeSet::new));
    }
  }

  private static String sha256(Path file) throws Exception {
    return java.util.HexFormat.of()
        .formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
  }
}
