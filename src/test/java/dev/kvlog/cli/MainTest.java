package dev.kvlog.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MainTest {
  @TempDir Path dir;

  /** Exit code, standard output and standard error of one invocation. */
  record Result(int code, String out, String err) {}

  /** Runs the CLI on the test's default store. */
  Result kvlog(String... args) {
    return kvlogOn(dir.resolve("kv.db"), args);
  }

  static Result kvlogOn(Path file, String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    List<String> all = new ArrayList<>(List.of("--file", file.toString()));
    all.addAll(List.of(args));
    int code = Main.run(new PrintWriter(out), new PrintWriter(err), all.toArray(new String[0]));
    return new Result(code, out.toString(), err.toString());
  }

  @Test
  void set_get_delete_acrossInvocations() {
    assertThat(kvlog("set", "greeting", "hello").code()).isZero();
    assertThat(kvlog("get", "greeting")).isEqualTo(new Result(0, "hello\n", ""));
    assertThat(kvlog("delete", "greeting").code()).isZero();
    assertThat(kvlog("get", "greeting"))
        .isEqualTo(new Result(1, "", "kvlog: key not found: greeting\n"));
    assertThat(kvlog("delete", "greeting").code()).as("deleting an absent key is fine").isZero();
  }

  @Test
  void list_printsKeysInOrder_filteredByPrefix() {
    for (String key : new String[] {"user:2", "order:1", "user:1", "user:10"}) {
      kvlog("set", key, "v-" + key);
    }
    assertThat(kvlog("list").out()).isEqualTo("order:1\nuser:1\nuser:10\nuser:2\n");
    assertThat(kvlog("list", "--prefix", "user:1").out()).isEqualTo("user:1\nuser:10\n");
    assertThat(kvlog("list", "--prefix", "order", "--values").out())
        .isEqualTo("order:1\tv-order:1\n");
  }

  @Test
  void export_thenImport_reproducesTheStore() throws Exception {
    kvlog("set", "a", "1");
    kvlog("set", "b", "line\nbreak \"quoted\" \u00e9");
    Path export = dir.resolve("export.jsonl");
    assertThat(kvlog("export", "--output", export.toString()).code()).isZero();
    assertThat(Files.readAllLines(export))
        .containsExactly(
            "{\"key\":\"a\",\"value\":\"1\"}",
            "{\"key\":\"b\",\"value\":\"line\\nbreak \\\"quoted\\\" \u00e9\"}");
    assertThat(kvlog("export").out()).isEqualTo(Files.readString(export));

    Path other = dir.resolve("other.db");
    assertThat(kvlogOn(other, "import", export.toString()).code()).isZero();
    assertThat(kvlogOn(other, "export").out()).isEqualTo(Files.readString(export));
  }

  @Test
  void import_badLine_stopsThere_namesTheLine_andKeepsWhatCameBefore() throws Exception {
    Path input = dir.resolve("in.jsonl");
    Files.writeString(
        input,
        "{\"key\":\"a\",\"value\":\"1\"}\n{\"key\":\"b\",\"value\":2}\n{\"key\":\"c\",\"value\":\"3\"}\n");
    Result result = kvlog("import", input.toString());
    assertThat(result.code()).isEqualTo(Main.BAD_INPUT);
    assertThat(result.err())
        .contains(
            input + " line 2 is not valid: it must be {\"key\": \"…\", \"value\": \"…\"}",
            "the 1 lines before it were imported");
    assertThat(kvlog("list").out()).isEqualTo("a\n");

    Files.writeString(input, "not json\n");
    assertThat(kvlog("import", input.toString()).err())
        .contains("line 1 is not valid: it is not one JSON object");
  }

  @Test
  void conditionalWrites_exitWithFiveWhenTheConditionFails() {
    assertThat(kvlog("set-if-absent", "k", "1").code()).isZero();
    Result present = kvlog("set-if-absent", "k", "2");
    assertThat(present.code()).isEqualTo(Main.CONDITION_FAILED);
    assertThat(present.out()).isEqualTo("1\n");
    assertThat(present.err()).contains("already present");

    assertThat(kvlog("cas", "k", "--expect", "1", "--new", "2").code()).isZero();
    Result stale = kvlog("cas", "k", "--expect", "1", "--new", "3");
    assertThat(stale.code()).isEqualTo(Main.CONDITION_FAILED);
    assertThat(stale.err()).contains("does not hold the expected value", "nothing was written");
    assertThat(kvlog("cas", "k", "--expect-absent", "--new", "3").code())
        .isEqualTo(Main.CONDITION_FAILED);
    assertThat(kvlog("cas", "k", "--expect", "2", "--delete").code()).isZero();
    assertThat(kvlog("get", "k").code()).isEqualTo(Main.NOT_FOUND);
    assertThat(kvlog("cas", "k", "--expect-absent", "--new", "new").code()).isZero();
    assertThat(kvlog("get", "k").out()).isEqualTo("new\n");

    Result usage = kvlog("cas", "k", "--new", "x");
    assertThat(usage.code()).isEqualTo(2);
    assertThat(usage.err()).contains("--expect");
  }

  @Test
  void list_range_andJson() {
    for (String k : List.of("a", "b1", "b2", "c")) {
      kvlog("set", k, "v-" + k);
    }
    assertThat(kvlog("list", "--from", "b", "--to", "c").out()).isEqualTo("b1\nb2\n");
    assertThat(kvlog("list", "--from", "b2").out()).isEqualTo("b2\nc\n");
    assertThat(kvlog("list", "--prefix", "b", "--json").out())
        .isEqualTo("{\"key\":\"b1\",\"value\":\"v-b1\"}\n{\"key\":\"b2\",\"value\":\"v-b2\"}\n");
    assertThat(kvlog("list", "--prefix", "b", "--from", "a").code()).isEqualTo(2);
  }

  @Test
  void backup_thenOpenTheCopy() {
    kvlog("set", "a", "1");
    Path copy = dir.resolve("copy.db");
    Result backup = kvlog("backup", copy.toString());
    assertThat(backup.code()).isZero();
    assertThat(backup.err()).contains("backed up 1 entries");
    assertThat(kvlogOn(copy, "get", "a").out()).isEqualTo("1\n");
    Result again = kvlog("backup", copy.toString());
    assertThat(again.code()).as("as export: bad usage").isEqualTo(Main.USAGE);
    assertThat(again.err()).contains("already exists", "never overwrites");
  }

  @Test
  void everyCommandHasHelp() {
    for (String command :
        List.of(
            "set",
            "get",
            "delete",
            "set-if-absent",
            "cas",
            "list",
            "backup",
            "check",
            "export",
            "import",
            "stats")) {
      Result help = kvlog(command, "--help");
      assertThat(help.code()).as(command).isZero();
      assertThat(help.out()).as(command).contains("Usage: kvlog " + command);
    }
  }

  @Test
  void stats_json_isMachineReadable() throws Exception {
    kvlog("set", "a", "1");
    JsonNode stats = new ObjectMapper().readTree(kvlog("stats", "--json").out());
    assertThat(stats.get("entries").asInt()).isEqualTo(1);
    assertThat(stats.get("schemaVersion").asInt()).isEqualTo(1);
    assertThat(stats.get("walBytes").isNumber()).isTrue();
    assertThat(stats.get("databaseBytes").asLong()).isPositive();
    assertThat(stats.get("path").asText()).isEqualTo(dir.resolve("kv.db").toString());
    assertThat(kvlog("stats").out())
        .contains(
            "path            " + dir.resolve("kv.db"),
            "entries         1",
            "database bytes  ",
            "wal bytes       ",
            "schema version  1");
  }

  @Test
  void everyCommand_hasHelp() {
    for (String command :
        new String[] {"set", "get", "delete", "list", "export", "import", "stats"}) {
      Result help = kvlog(command, "--help");
      assertThat(help.code()).as(command).isZero();
      assertThat(help.out()).as(command).startsWith("Usage: kvlog " + command);
    }
    assertThat(kvlog("--help").out()).contains("Exit codes:", "key not found");
  }

  @Test
  void storeErrors_exitWith3_andSayWhatToDo() throws Exception {
    Files.writeString(
        dir.resolve("kv.db"), "this is not a database, it is a note to self\n".repeat(5));
    Result result = kvlog("get", "k");
    assertThat(result.code()).isEqualTo(Main.STORE_ERROR);
    assertThat(result.err())
        .isEqualTo(
            "kvlog: "
                + dir.resolve("kv.db")
                + " is not a KVLog store (file is not a SQLite database); refusing to open it\n");
  }

  /**
   * Review F5: {@code set key -h} printed help, wrote nothing and exited 0. After the first
   * positional argument every argument is data; before it, {@code --} ends the options.
   */
  @Test
  void optionLikeArguments_afterTheKey_areData_andDashDashEndsOptions() {
    for (String v : List.of("-h", "--help", "-V", "--version", "--file=x")) {
      Result set = kvlog("set", "key", v);
      assertThat(set).as("set key " + v).isEqualTo(new Result(0, "", ""));
      assertThat(kvlog("get", "key").out()).as(v).isEqualTo(v + "\n");
      assertThat(kvlog("set-if-absent", "other" + v, v).code()).isZero();
      assertThat(kvlog("get", "other" + v).out()).isEqualTo(v + "\n");
    }
    assertThat(kvlog("set", "--", "-h", "dash").code()).isZero();
    assertThat(kvlog("get", "--", "-h")).isEqualTo(new Result(0, "dash\n", ""));
    assertThat(kvlog("list").out()).contains("-h\n");
    assertThat(kvlog("delete", "--", "-h").code()).isZero();
    assertThat(kvlog("get", "--", "-h").code()).isEqualTo(Main.NOT_FOUND);
    assertThat(kvlog("get", "--help").out()).as("help still works first").startsWith("Usage:");
  }

  /**
   * Round-2 review N1: cas refused a value that looks like an option, the README's own example. A
   * value of exactly "--" stays out of reach: picocli reads it as the end of options (README).
   */
  @Test
  void cas_valuesThatLookLikeOptions_areValues() {
    for (String v : List.of("-h", "-V", "--help", "--new", "--version")) {
      kvlog("set", "k", v);
      assertThat(kvlog("cas", "k", "--expect=" + v, "--new=ok").code()).as("expect " + v).isZero();
      assertThat(kvlog("get", "k").out()).isEqualTo("ok\n");
      assertThat(kvlog("cas", "k", "--expect=ok", "--new", v).code()).as("new " + v).isZero();
      assertThat(kvlog("get", "--", "k").out()).isEqualTo(v + "\n");
    }
  }

  /** Review F6: export/list/get to a full disk ({@code > /dev/full}) exited 0. */
  @Test
  void standardOutputThatCannotBeWritten_exitsNonZero_andSaysSo() {
    kvlog("set", "k", "v".repeat(100_000));
    for (String[] command :
        List.of(
            new String[] {"export"},
            new String[] {"export", "-o", "-"},
            new String[] {"list", "--values"},
            new String[] {"get", "k"},
            new String[] {"schema"})) {
      java.io.OutputStream full =
          new java.io.OutputStream() {
            @Override
            public void write(int b) throws java.io.IOException {
              throw new java.io.IOException("No space left on device");
            }
          };
      StringWriter err = new StringWriter();
      List<String> args = new ArrayList<>(List.of("--file", dir.resolve("kv.db").toString()));
      args.addAll(List.of(command));
      int code =
          Main.run(
              java.io.InputStream.nullInputStream(),
              new PrintWriter(full),
              new PrintWriter(err),
              args.toArray(new String[0]));
      assertThat(code).as(String.join(" ", command) + ": " + err).isEqualTo(Main.STORE_ERROR);
      assertThat(err.toString().lines()).as(err.toString()).hasSize(1);
      assertThat(err.toString()).contains("standard output", "incomplete");
    }
  }

  /** After F6: a reader that stops reading (kvlog list | head -1) is not an error to report. */
  @Test
  void brokenPipe_endsQuietly_withTheStatusOfSigpipe() {
    kvlog("set", "k", "v");
    Console.Stdout pipe =
        new Console.Stdout(
            new java.io.OutputStream() {
              @Override
              public void write(int b) throws java.io.IOException {
                throw new java.io.IOException("Broken pipe");
              }
            });
    StringWriter err = new StringWriter();
    int code =
        Main.run(
            java.io.InputStream.nullInputStream(),
            new PrintWriter(pipe),
            pipe::failure,
            new PrintWriter(err),
            "--file",
            dir.resolve("kv.db").toString(),
            "list");
    assertThat(code).isEqualTo(141);
    assertThat(err.toString()).isEmpty();
    int present =
        Main.run(
            java.io.InputStream.nullInputStream(),
            new PrintWriter(pipe),
            pipe::failure,
            new PrintWriter(new StringWriter()),
            "--file",
            dir.resolve("kv.db").toString(),
            "set-if-absent",
            "k",
            "w");
    assertThat(present).as("the command's own outcome is kept").isEqualTo(Main.CONDITION_FAILED);
  }

  /**
   * Review F4: an argument that did not decode (bytes invalid in the locale's charset) arrived as
   * U+FFFD and was stored, exit 0.
   */
  @Test
  void argumentWithTheReplacementCharacter_isRefused_andNothingIsWritten() {
    Result r = kvlog("set", "k", "h\uFFFD\uFFFDllo");
    assertThat(r.code()).as(r.err()).isEqualTo(Main.BAD_INPUT);
    assertThat(r.err().lines()).hasSize(1);
    assertThat(r.err()).contains("U+FFFD", "argument 5", "set KEY -", "LC_ALL=C.UTF-8");
    assertThat(kvlog("set", "k\uFFFD", "v").code()).isEqualTo(Main.BAD_INPUT);
    assertThat(dir.resolve("kv.db")).as("nothing opened, nothing created").doesNotExist();
  }

  /**
   * Review F7 and F4, through the real launcher (src/main/sh/kvlog) in a directory whose name has a
   * space, beside a jar made here like kvlog-cli.jar (Main-Class, the test class path), under the C
   * locale: it starts (with and without its CDS archive), a non-ASCII argument arrives intact, and
   * bytes that are not UTF-8 are refused.
   */
  @Test
  void launcher_inADirectoryWithASpace_underTheCLocale_keepsArgumentsIntact() throws Exception {
    Path home = Files.createDirectories(dir.resolve("with space/b i n"));
    Path launcher = home.resolve("kvlog");
    Files.copy(Path.of("src/main/sh/kvlog"), launcher);
    assertThat(launcher.toFile().setExecutable(true)).isTrue();
    java.util.jar.Manifest manifest = new java.util.jar.Manifest();
    java.util.jar.Attributes a = manifest.getMainAttributes();
    a.put(java.util.jar.Attributes.Name.MANIFEST_VERSION, "1.0");
    a.put(java.util.jar.Attributes.Name.MAIN_CLASS, Main.class.getName());
    StringBuilder classPath = new StringBuilder();
    for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
      classPath.append(Path.of(entry).toAbsolutePath().toUri()).append(' ');
    }
    a.put(java.util.jar.Attributes.Name.CLASS_PATH, classPath.toString().trim());
    try (var jar =
        new java.util.jar.JarOutputStream(
            Files.newOutputStream(home.resolve("kvlog-cli.jar")), manifest)) {
      jar.flush();
    }
    Path so = Path.of("target/native/Linux/x86_64/libsqlitejdbc.so");
    if (Files.exists(so)) { // exercises the launcher's -Dorg.sqlite.lib.path, also with a space
      Path nativeDir = Files.createDirectories(home.resolve("native/Linux/x86_64"));
      Files.copy(so, nativeDir.resolve("libsqlitejdbc.so"));
    }
    Path db = dir.resolve("l.db");
    for (int i = 0; i < 2; i++) { // the first run writes the CDS archive, the second uses it
      Launched version = launch(launcher, db, "--version");
      assertThat(version.code()).as(version.err()).isZero();
      assertThat(version.out()).isEqualTo("kvlog 0.1.0\n");
    }
    // h\303\251llo is "héllo" in UTF-8, made by the shell so that no Java encoder touches it.
    Launched set = launch(launcher, db, "set", "k", "h$(printf '\\303\\251')llo");
    assertThat(set.code()).as(set.err()).isZero();
    assertThat(launch(launcher, db, "get", "k").out()).isEqualTo("h\u00e9llo\n");
    Launched bad = launch(launcher, db, "set", "k", "$(printf '\\377\\376')");
    assertThat(bad.code()).as(bad.err()).isEqualTo(Main.BAD_INPUT);
    assertThat(bad.err()).contains("U+FFFD", "set KEY -");
    assertThat(launch(launcher, db, "get", "k").out()).isEqualTo("h\u00e9llo\n");
  }

  record Launched(int code, String out, String err) {}

  /** Runs the launcher under LC_ALL=C; each argument is a shell word (in double quotes). */
  private static Launched launch(Path launcher, Path db, String... args) throws Exception {
    StringBuilder script = new StringBuilder("exec \"$0\" --file \"$1\"");
    for (String arg : args) {
      script.append(" \"").append(arg).append('"');
    }
    ProcessBuilder pb =
        new ProcessBuilder("sh", "-c", script.toString(), launcher.toString(), db.toString());
    pb.environment().keySet().removeIf(k -> k.startsWith("LC_") || k.equals("LANG"));
    pb.environment().put("LC_ALL", "C");
    Process p =
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
    byte[] out = p.getInputStream().readAllBytes();
    byte[] err = p.getErrorStream().readAllBytes();
    int code = p.waitFor();
    return new Launched(
        code,
        new String(out, java.nio.charset.StandardCharsets.UTF_8),
        new String(err, java.nio.charset.StandardCharsets.UTF_8));
  }

  /** get adds a newline; piping it into set - grew the value by one each round. --raw does not. */
  @Test
  void getRaw_printsTheValueExactly_soGetPipedIntoSetKeepsIt() {
    kvlog("set", "k", "x");
    Result raw = kvlog("get", "--raw", "k");
    assertThat(raw).isEqualTo(new Result(0, "x", ""));
    StringWriter out = new StringWriter();
    Main.run(
        new java.io.ByteArrayInputStream(
            raw.out().getBytes(java.nio.charset.StandardCharsets.UTF_8)),
        new PrintWriter(out),
        new PrintWriter(new StringWriter()),
        "--file",
        dir.resolve("kv.db").toString(),
        "set",
        "k",
        "-");
    assertThat(kvlog("get", "--raw", "k").out()).isEqualTo("x");
    assertThat(kvlog("get", "k").out()).isEqualTo("x\n");
  }

  @Test
  void badUsage_exitsWith2() {
    assertThat(kvlog("set", "only-a-key").code()).isEqualTo(2);
    Result unknown = kvlog("frobnicate");
    assertThat(unknown.code()).isEqualTo(2);
    assertThat(unknown.err().lines()).as(unknown.err()).hasSize(1);
    assertThat(unknown.err()).startsWith("kvlog: ").contains("--help shows the usage");
  }

  @Test
  void invalidText_exitsWith4() {
    Result result = kvlog("set", "k", "\uD800");
    assertThat(result.code()).isEqualTo(Main.BAD_INPUT);
    assertThat(result.err())
        .contains("value must be valid UTF-16: unpaired surrogate \\uD800 at index 0");
  }
}
