package dev.kvlog.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every command on the wrong target fails loudly, in one line, without secrets. */
class TargetsTest {
  @TempDir Path dir;

  static MainAccess.Result run(String... args) {
    return MainAccess.run(args);
  }

  private static void oneCleanLine(MainAccess.Result r, String what) {
    assertThat(r.err().lines()).as(what + ": " + r.err()).hasSize(1);
    assertThat(r.err()).as(what).startsWith("kvlog: ").doesNotContain("\tat ", "Exception");
  }

  /** Each command with its arguments, for a store that holds key "k". */
  private List<String[]> everyCommand() {
    List<String[]> commands = new ArrayList<>();
    commands.add(new String[] {"get", "k"});
    commands.add(new String[] {"list"});
    commands.add(new String[] {"export"});
    commands.add(new String[] {"stats"});
    commands.add(new String[] {"check"});
    commands.add(new String[] {"schema"});
    commands.add(new String[] {"backup", dir.resolve("backup-" + System.nanoTime()).toString()});
    commands.add(new String[] {"set", "k2", "v"});
    commands.add(new String[] {"set-if-absent", "k3", "v"});
    commands.add(new String[] {"cas", "k2", "--expect", "v", "--new", "w"});
    commands.add(new String[] {"delete", "k3"});
    commands.add(new String[] {"migrate"});
    commands.add(new String[] {"import", dir.resolve("in.jsonl").toString()});
    return commands;
  }

  /**
   * Review F3: a --url without a lowercase "jdbc:" was taken as a file path (write commands made
   * directories named after the password); --file with --url silently used --url.
   */
  @Test
  void url_notAJdbcUrl_orInAnotherCase_isRefused_andNothingIsCreated() throws Exception {
    Path cwd = Path.of("").toAbsolutePath();
    List<String> made = new ArrayList<>();
    try {
      for (String url :
          List.of(
              "postgresql://app:s3cret@db.internal/app",
              "Jdbc:PostgreSQL://db.internal/app?password=s3cret",
              "JDBC:SQLITE:" + dir.resolve("w.db"),
              dir.resolve("plain.db").toString())) {
        for (String[] command :
            List.of(new String[] {"get", "a"}, new String[] {"set", "a", "1"})) {
          List<String> args = new ArrayList<>(List.of("--url", url));
          args.addAll(List.of(command));
          MainAccess.Result r = run(args.toArray(new String[0]));
          assertThat(r.code()).as(url + " " + command[0] + ": " + r.err()).isEqualTo(2);
          oneCleanLine(r, url);
          assertThat(r.err()).contains("jdbc:").doesNotContain("s3cret");
        }
        try (var files = Files.list(cwd)) {
          files
              .filter(f -> f.getFileName().toString().toLowerCase().startsWith("postgresql:"))
              .forEach(f -> made.add(f.toString()));
        }
      }
      assertThat(made).as("directories named after a URL").isEmpty();
      try (var files = Files.list(dir)) {
        assertThat(files).as("no store created").isEmpty();
      }
      MainAccess.Result copy =
          run("copy", "--from", "Postgresql://app:s3cret@db/app", "--to", dir + "/c.db");
      assertThat(copy.code()).as(copy.err()).isEqualTo(2);
      oneCleanLine(copy, "copy");
      assertThat(copy.err()).doesNotContain("s3cret");
    } finally {
      for (String m : made) { // only if the old behaviour came back
        new ProcessBuilder("rm", "-rf", "--", m).start().waitFor();
      }
    }
  }

  /**
   * Review F2: pgjdbc reads {@code user:secret@host} as host:port and its java.util.logging WARNING
   * printed "invalid port number: secret@host" on standard error.
   */
  @Test
  void postgresUserInfo_isRefusedWithTheParameterForm_andTheDriverLogsNothing() {
    List<String> logged = new ArrayList<>();
    java.util.logging.Handler capture =
        new java.util.logging.Handler() {
          @Override
          public void publish(java.util.logging.LogRecord r) {
            logged.add(r.getLoggerName() + ": " + r.getMessage() + " " + r.getParameters());
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    java.util.logging.Logger root = java.util.logging.Logger.getLogger("");
    root.addHandler(capture);
    try {
      for (String url :
          List.of(
              "jdbc:postgresql://app:hunter2@db.internal/app",
              "jdbc:postgresql://postgres:hunter2@127.0.0.1/test")) {
        for (String[] command :
            List.of(new String[] {"get", "a"}, new String[] {"set", "a", "1"})) {
          List<String> args = new ArrayList<>(List.of("--url", url));
          args.addAll(List.of(command));
          MainAccess.Result r = run(args.toArray(new String[0]));
          assertThat(r.code()).as(url + ": " + r.err()).isEqualTo(2);
          oneCleanLine(r, url);
          assertThat(r.err()).contains("?user=").doesNotContain("hunter2");
        }
      }
      // A URL the driver itself cannot parse: its warning must not reach any handler.
      MainAccess.Result r =
          run("--url", "jdbc:postgresql://127.0.0.1:notaport/test?user=postgres", "get", "a");
      assertThat(r.code()).isNotZero();
      oneCleanLine(r, "bad port");
      assertThat(logged).as("records published by the driver").isEmpty();
    } finally {
      root.removeHandler(capture);
    }
  }

  @Test
  void fileAndUrlTogether_areRefused_andNeitherIsWritten() {
    Path a = dir.resolve("A.db");
    Path b = dir.resolve("B.db");
    run("--file", a.toString(), "set", "who", "A");
    run("--file", b.toString(), "set", "who", "B");
    MainAccess.Result r =
        run("--file", a.toString(), "--url", "jdbc:sqlite:" + b, "set", "who", "X");
    assertThat(r.code()).as(r.err()).isEqualTo(2);
    oneCleanLine(r, "--file with --url");
    assertThat(r.err()).contains("--file", "--url");
    assertThat(run("--file", a.toString(), "get", "who").out()).isEqualTo("A\n");
    assertThat(run("--file", b.toString(), "get", "who").out()).isEqualTo("B\n");
  }

  @Test
  void everyCommand_honoursASqliteUrl_includingAnUriFilename() throws Exception {
    Files.writeString(dir.resolve("in.jsonl"), "{\"key\":\"i\",\"value\":\"1\"}\n");
    Path db = dir.resolve("sub/z.db");
    for (String url : List.of("jdbc:sqlite:" + db, "jdbc:sqlite:file:" + db)) {
      assertThat(run("--url", url, "set", "k", "v").code()).isZero();
      for (String[] command : everyCommand()) {
        List<String> args = new ArrayList<>(List.of("--url", url));
        args.addAll(List.of(command));
        MainAccess.Result r = run(args.toArray(new String[0]));
        assertThat(r.code()).as(url + " " + String.join(" ", command) + ": " + r.err()).isZero();
      }
      assertThat(run("--file", db.toString(), "get", "k").out())
          .as("the URL named the same file as --file")
          .isEqualTo("v\n");
    }
  }

  @Test
  void sqliteUriWithParameters_isRefusedInOneLine_andCreatesNothing() throws Exception {
    Path cwd = Path.of("").toAbsolutePath();
    for (String url :
        List.of(
            "jdbc:sqlite:file:sub/z.db?mode=rwc",
            "jdbc:sqlite:" + dir.resolve("z.db") + "?journal_mode=DELETE",
            "jdbc:sqlite::memory:",
            "jdbc:sqlite:")) {
      for (String[] command : everyCommand()) {
        List<String> args = new ArrayList<>(List.of("--url", url));
        args.addAll(List.of(command));
        MainAccess.Result r = run(args.toArray(new String[0]));
        assertThat(r.code()).as(url + " " + command[0]).isEqualTo(2);
        oneCleanLine(r, url + " " + command[0]);
      }
    }
    assertThat(cwd.resolve("file:sub")).doesNotExist();
    assertThat(dir.resolve("z.db")).doesNotExist();
    assertThat(run("--url", "jdbc:sqlite:file:sub/z.db?mode=rwc", "get", "k").err())
        .contains("URL parameters (mode=rwc) are not supported", "--url jdbc:sqlite:sub/z.db");
  }

  @Test
  void postgresUrl_onSqliteOnlyCommands_isRefusedInOneLine_withoutConnecting() {
    for (String command : List.of("stats", "check", "backup")) {
      List<String> args =
          new ArrayList<>(
              List.of(
                  "--url", "jdbc:postgresql://127.0.0.1:1/db?user=app&password=s3cr3t", command));
      if (command.equals("backup")) {
        args.add(dir.resolve("b.db").toString());
      }
      MainAccess.Result r = run(args.toArray(new String[0]));
      assertThat(r.code()).as(command).isEqualTo(2);
      oneCleanLine(r, command);
      assertThat(r.err())
          .contains(command + " works on a SQLite store file")
          .doesNotContain("s3cr3t");
    }
  }

  @Test
  void secrets_neverAppear_inAnyUrlForm() {
    List<String> urls =
        List.of(
            "jdbc:postgresql://app:s3cr3t@127.0.0.1:1/db",
            "jdbc:postgresql://127.0.0.1:1/db?user=app&password=s3cr3t",
            "jdbc:postgresql://127.0.0.1:1/db?password=s3cr3t&user=app",
            "jdbc:postgresql://127.0.0.1:1/db?user=app&sslpassword=s3cr3t",
            "jdbc:postgresql://app:s3cr3t%21@127.0.0.1:1/db",
            "jdbc:mysql://app:s3cr3t@127.0.0.1/db",
            "jdbc:sqlite:file:x.db?password=s3cr3t");
    for (String url : urls) {
      for (String[] args :
          List.of(
              new String[] {"--url", url, "get", "k"},
              new String[] {"--url", url, "set", "k", "v"},
              new String[] {"--url", url, "list"},
              new String[] {"copy", "--from", dir.resolve("none.db").toString(), "--to", url},
              new String[] {"copy", "--from", url, "--to", dir.resolve("t.db").toString()},
              new String[] {"--url=" + url, "frobnicate"})) {
        MainAccess.Result r = run(args);
        String what = String.join(" ", args);
        assertThat(r.code()).as(what).isNotZero();
        assertThat(r.out() + r.err()).as(what).doesNotContain("s3cr3t");
        assertThat(r.err()).as(what).doesNotContain("\tat ");
      }
    }
  }

  @Test
  void check_tellsAMissingFile_aDirectory_andDamage_apart() throws Exception {
    MainAccess.Result missing = run("--file", dir.resolve("none.db").toString(), "check");
    assertThat(missing.code()).isEqualTo(3);
    assertThat(missing.err()).contains("does not exist", "this is not damage");
    assertThat(dir.resolve("none.db")).doesNotExist();

    MainAccess.Result directory = run("--file", dir.toString(), "check");
    assertThat(directory.code()).isEqualTo(3);
    assertThat(directory.err()).contains("not a regular file", "this is not damage");

    Path db = dir.resolve("kv.db");
    StringBuilder lines = new StringBuilder();
    for (int i = 0; i < 3000; i++) {
      lines.append(String.format("{\"key\":\"key-%05d\",\"value\":\"%s\"}%n", i, "v".repeat(100)));
    }
    Files.writeString(dir.resolve("in.jsonl"), lines);
    assertThat(run("--file", db.toString(), "import", dir.resolve("in.jsonl").toString()).code())
        .isZero();
    assertThat(run("--file", db.toString(), "check").out()).isEqualTo("ok\n");
    try (RandomAccessFile f = new RandomAccessFile(db.toFile(), "rw")) {
      f.seek(4096L * 20); // a B-tree page in the middle of the table
      f.write(
          "garbage garbage garbage garbage garbage".repeat(40).getBytes(StandardCharsets.UTF_8));
    }
    MainAccess.Result damaged = run("--file", db.toString(), "check");
    assertThat(damaged.code()).isEqualTo(3);
    assertThat(damaged.out()).isNotEmpty();
    assertThat(damaged.err())
        .contains("is damaged; restore it from a backup")
        .doesNotContain("not damage");
  }

  /**
   * Review F8: check on a foreign SQLite database, a non-SQLite file or an empty file printed two
   * lines, the second saying it "is damaged; restore it from a backup".
   */
  @Test
  void check_notAKVLogStore_isOneLine_andNotCalledDamage() throws Exception {
    Path foreign = dir.resolve("other.db");
    try (var c = java.sql.DriverManager.getConnection("jdbc:sqlite:" + foreign);
        var s = c.createStatement()) {
      s.execute("create table t(x)");
    }
    Path text = dir.resolve("notdb");
    Files.writeString(text, "hello\n");
    Path empty = Files.createFile(dir.resolve("empty.db"));
    for (Path file : List.of(foreign, text, empty)) {
      MainAccess.Result r = run("--file", file.toString(), "check");
      assertThat(r.code()).as(file.toString()).isEqualTo(3);
      assertThat(r.out()).as(file.toString()).isEmpty();
      oneCleanLine(r, file.toString());
      assertThat(r.err())
          .contains(file.toString(), "is not a KVLog store", "nothing was checked")
          .doesNotContain("is damaged");
    }
  }

  @Test
  void progress_followsWhetherStandardErrorIsATerminal() throws Exception {
    assertThat(Progress.wanted(null, true)).isTrue();
    assertThat(Progress.wanted(null, false)).isFalse();
    assertThat(Progress.wanted(false, true)).isFalse();
    assertThat(Progress.wanted(true, false)).isTrue();
    assertThat(Progress.stderrTerminal()).as("surefire's stderr is a pipe").isFalse();

    // A real terminal on standard error only, standard output a pipe: script(1) gives the child a
    // pty and we redirect stdout away from it, the case System.console() gets wrong.
    Path script = Path.of("/usr/bin/script");
    assumeTrue(Files.isExecutable(script), "needs script(1) from util-linux for a pty");
    String java = ProcessHandle.current().info().command().orElseThrow();
    Path out = dir.resolve("out.txt");
    String child =
        java
            + " -cp "
            + System.getProperty("java.class.path")
            + " dev.kvlog.cli.ProgressProbe > "
            + out;
    Process p = new ProcessBuilder(script.toString(), "-qec", child, "/dev/null").start();
    p.getOutputStream().close();
    p.getInputStream().readAllBytes();
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(Files.readString(out).trim()).isEqualTo("stderr terminal: true");
  }

  /**
   * Permission problems are not damage. Root reads everything, so the CLI runs as user nobody
   * (needs root and runuser), from copies of the class path it can read: an unreadable store, and a
   * closed store in a directory it cannot write (SQLite cannot create the -shm a WAL reader needs).
   */
  @Test
  void check_tellsPermissionProblemsApartFromDamage() throws Exception {
    Path runuser = Path.of("/usr/sbin/runuser");
    assumeTrue(
        "root".equals(System.getProperty("user.name")) && Files.isExecutable(runuser),
        "needs root and runuser to run the CLI as an unprivileged user");
    Files.setPosixFilePermissions(
        dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
    Path jars = Files.createDirectory(dir.resolve("cp"));
    List<String> classPath = new ArrayList<>();
    int n = 0;
    for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
      Path source = Path.of(entry);
      Path copy = jars.resolve((n++) + "-" + source.getFileName());
      if (Files.isDirectory(source)) {
        try (var walk = Files.walk(source)) {
          for (Path f : (Iterable<Path>) walk::iterator) {
            Path to = copy.resolve(source.relativize(f).toString());
            if (Files.isDirectory(f)) {
              Files.createDirectories(to);
            } else {
              Files.copy(f, to);
            }
          }
        }
      } else if (Files.exists(source)) {
        Files.copy(source, copy);
      }
      classPath.add(copy.toString());
    }
    try (var walk = Files.walk(jars)) {
      for (Path f : (Iterable<Path>) walk::iterator) {
        f.toFile().setReadable(true, false);
        f.toFile().setExecutable(Files.isDirectory(f), false);
      }
    }
    Path locked = dir.resolve("locked");
    Files.createDirectory(locked);
    Path db = locked.resolve("kv.db");
    assertThat(run("--file", db.toString(), "set", "k", "v").code()).isZero();
    Files.deleteIfExists(locked.resolve("kv.db-lock"));
    Files.setPosixFilePermissions(
        locked, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));

    Files.setPosixFilePermissions(
        db, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
    String unreadable = asNobody(runuser, classPath, "--file", db.toString(), "check");
    assertThat(unreadable)
        .contains("exit 3", "permission denied", "this is not damage")
        .doesNotContain("is damaged");

    Files.setPosixFilePermissions(
        db, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
    // A closed store in a directory nobody cannot write is checked in place, as KVLog.check
    // does (immutable, no -shm needed): sound is "ok", damage is reported as damage.
    String readOnlyDirectory = asNobody(runuser, classPath, "--file", db.toString(), "check");
    assertThat(readOnlyDirectory).isEqualTo("ok\nexit 0");
    assertThat(namesIn(locked)).containsExactly("kv.db");
    Path damaged = CliStrictnessTest.damagedClosedStore(locked);
    Files.setPosixFilePermissions(
        damaged, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
    String damagedInReadOnlyDirectory =
        asNobody(runuser, classPath, "--file", damaged.toString(), "check");
    assertThat(damagedInReadOnlyDirectory)
        .contains("exit 3", "is damaged")
        .doesNotContain("this is not damage");
    String get = asNobody(runuser, classPath, "--file", db.toString(), "get", "k");
    assertThat(get).contains("exit 3", "cannot read " + db + " in place", "copy the store");
  }

  private static List<String> namesIn(Path d) throws java.io.IOException {
    try (var list = Files.list(d)) {
      return list.map(f -> f.getFileName().toString()).sorted().toList();
    }
  }

  private String asNobody(Path runuser, List<String> classPath, String... args) throws Exception {
    List<String> command =
        new ArrayList<>(
            List.of(
                runuser.toString(),
                "-u",
                "nobody",
                "--",
                ProcessHandle.current().info().command().orElseThrow(),
                "-Djava.io.tmpdir=/tmp"));
    if (Runtime.version().feature() >= 22) {
      command.add("--enable-native-access=ALL-UNNAMED"); // else JDK 22+ warns on stderr
    }
    command.addAll(
        List.of("-cp", String.join(java.io.File.pathSeparator, classPath), "dev.kvlog.cli.Main"));
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    return out + "exit " + p.exitValue();
  }
}
