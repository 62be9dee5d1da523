package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kvlog.cli.MainAccess;
import dev.kvlog.sqlite.KVLogReader;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** kvlog export and import: lossless, strict, and honest about what a stopped import kept. */
class ImportExportTest {
  @TempDir Path dir;
  @RegisterExtension final PostgresSchema postgres = new PostgresSchema();

  static MainAccess.Result kvlog(Path db, String... args) {
    return kvlogWithInput(db, new byte[0], args);
  }

  static MainAccess.Result kvlogWithInput(Path db, byte[] stdin, String... args) {
    List<String> all = new ArrayList<>(List.of("--file", db.toString()));
    all.addAll(List.of(args));
    return MainAccess.runWithInput(stdin, all.toArray(new String[0]));
  }

  private static final String GOOD_1 = "{\"key\":\"a\",\"value\":\"1\"}";
  private static final String GOOD_3 = "{\"key\":\"z\",\"value\":\"3\"}";

  /** Each kind of bad second line: exit 4, the line named, line 1 kept, line 3 not imported. */
  @ParameterizedTest
  @ValueSource(
      strings = {
        "{\"key\":\"f\",\"value\":\"1\"}{\"key\":\"g\",\"value\":\"2\"}", // two objects
        "{\"key\":\"f\",\"value\":\"1\"} trailing", // trailing junk
        "{\"key\":\"f\",\"value\":\"1\"},", // a trailing comma
        "{\"key\":\"f\",\"value\":2}", // a number
        "{\"key\":null,\"value\":\"1\"}", // null key
        "[\"f\",\"1\"]", // an array
        "\"just a string\"", // a scalar
        "{\"key\":\"f\"}", // no value
        "{\"key\":\"f\",\"value\":\"1\",\"ttl\":\"5\"}", // an extra member
        "{\"key\":\"f\",\"value\":\"1\",\"value\":\"2\"}", // a duplicate member
        "{\"key\":\"f\",\"value\":\"1\"", // cut short
        "not json",
        "", // a blank line
        "{\"key\":\"f\",\"value\":\"\\ud800\"}", // a value the store refuses (lone surrogate)
        "{\"key\":\"\\udc00\",\"value\":\"1\"}", // a key the store refuses
        "INVALID-UTF-8" // replaced by bytes below
      })
  void import_badSecondLine_stopsWithItsNumber_keepsTheFirst(String bad) throws Exception {
    Path db = dir.resolve("kv.db");
    Path input = dir.resolve("in.jsonl");
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    bytes.write((GOOD_1 + "\n").getBytes(StandardCharsets.UTF_8));
    if (bad.equals("INVALID-UTF-8")) {
      bytes.write("{\"key\":\"f\",\"value\":\"".getBytes(StandardCharsets.UTF_8));
      bytes.write(new byte[] {(byte) 0xC3, (byte) 0x28}); // a broken two-byte sequence
      bytes.write("\"}".getBytes(StandardCharsets.UTF_8));
    } else {
      bytes.write(bad.getBytes(StandardCharsets.UTF_8));
    }
    bytes.write(("\n" + GOOD_3 + "\n").getBytes(StandardCharsets.UTF_8));
    Files.write(input, bytes.toByteArray());

    MainAccess.Result result = kvlog(db, "import", input.toString());
    assertThat(result.code()).as(result.err()).isEqualTo(4);
    assertThat(result.err())
        .startsWith("kvlog: " + input + " line 2 ")
        .contains("the 1 lines before it were imported, nothing after it")
        .doesNotContain("\tat ", "Source:", "REDACTED", "StreamReadFeature");
    assertThat(result.err().lines()).hasSize(1);
    assertThat(kvlog(db, "list", "--values").out()).isEqualTo("a\t1\n");
  }

  /** File-system errors name the file and the problem in words, not a Java exception. */
  @Test
  void fileSystemErrors_nameTheFileAndTheProblem_notAJavaException() {
    org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(Path.of("/sys/kernel")));
    Path db = dir.resolve("kv.db");
    kvlog(db, "set", "k", "v");
    MainAccess.Result export = kvlog(db, "export", "-o", "/sys/kernel/kvlog-test.jsonl");
    assertThat(export.code()).as(export.err()).isEqualTo(3);
    assertThat(export.err().lines()).hasSize(1);
    assertThat(export.err())
        .contains("/sys/kernel/kvlog-test.jsonl", "/sys/kernel")
        .doesNotContain("java.", "Exception", ".tmp-");
    MainAccess.Result backup = kvlog(db, "backup", dir.toString());
    assertThat(backup.code()).as("an existing target is bad usage, as for export").isEqualTo(2);
    assertThat(backup.err()).contains("already exists");
  }

  /** A table named kv that KVLog did not make (no kvlog_schema) is not read as a store. */
  @Test
  void readCommands_onPostgres_refuseAKvTableWithoutKvlogSchema() throws Exception {
    try (var c = java.sql.DriverManager.getConnection(postgres.url());
        var s = c.createStatement()) {
      s.execute("CREATE TABLE kv (key text PRIMARY KEY, value text)");
      s.execute("INSERT INTO kv VALUES ('theirs', 'row')");
    }
    for (String[] command :
        List.of(new String[] {"get", "theirs"}, new String[] {"list"}, new String[] {"export"})) {
      List<String> args = new ArrayList<>(List.of("--url", postgres.url()));
      args.addAll(List.of(command));
      MainAccess.Result r = MainAccess.run(args.toArray(new String[0]));
      assertThat(r.code()).as(command[0] + ": " + r.err()).isEqualTo(3);
      assertThat(r.out()).isEmpty();
      assertThat(r.err()).contains("kvlog_schema", "not a KVLog store");
    }
  }

  /** A key on two lines is one entry: the summary counts lines, and says which value wins. */
  @Test
  void import_repeatedKey_countsLines_andTheLastValueWins() {
    Path db = dir.resolve("kv.db");
    byte[] lines =
        "{\"key\":\"a\",\"value\":\"1\"}\n{\"key\":\"a\",\"value\":\"2\"}\n"
            .getBytes(StandardCharsets.UTF_8);
    MainAccess.Result r = kvlogWithInput(db, lines, "import");
    assertThat(r.code()).isZero();
    assertThat(r.err()).startsWith("imported 2 lines").contains("last").doesNotContain("entries");
    assertThat(kvlog(db, "list", "--values").out()).isEqualTo("a\t2\n");
  }

  /** A file saved by an editor that adds a BOM: say so, and how to remove it. */
  @Test
  void import_byteOrderMarkAtTheStart_isNamed_withTheFix() throws Exception {
    Path db = dir.resolve("kv.db");
    Path input = dir.resolve("bom.jsonl");
    Files.writeString(input, "\uFEFF" + GOOD_1 + "\n");
    MainAccess.Result result = kvlog(db, "import", input.toString());
    assertThat(result.code()).isEqualTo(4);
    assertThat(result.err())
        .contains("line 1", "byte order mark", "remove it")
        .doesNotContain("code 65279", "Unexpected character");
  }

  /** Jackson's parser states (source, column markers) are not the user's business. */
  @Test
  void import_truncatedLine_saysWhatIsWrong_withoutParserInternals() throws Exception {
    Path db = dir.resolve("kv.db");
    Path input = dir.resolve("cut.jsonl");
    Files.writeString(input, "{\"key\":\"a\",\"value\":\"1\"\n");
    MainAccess.Result result = kvlog(db, "import", input.toString());
    assertThat(result.code()).isEqualTo(4);
    assertThat(result.err())
        .contains("line 1")
        .doesNotContain("Source:", "REDACTED", "StreamReadFeature", "start marker");
  }

  @Test
  void import_refusedValueDeepInABatch_keepsEveryLineBeforeIt() throws Exception {
    for (int badLine : new int[] {700, 1501}) {
      Path db = dir.resolve("batch-" + badLine + ".db");
      StringBuilder in = new StringBuilder();
      for (int line = 1; line <= 2000; line++) {
        String value = line == badLine ? "\\ud800" : "v" + line;
        in.append(String.format("{\"key\":\"k%05d\",\"value\":\"%s\"}%n", line, value));
      }
      MainAccess.Result result =
          kvlogWithInput(db, in.toString().getBytes(StandardCharsets.UTF_8), "import", "-");
      assertThat(result.code()).isEqualTo(4);
      assertThat(result.err())
          .contains(
              "standard input line " + badLine + " holds an entry the store refuses",
              "unpaired surrogate",
              "the " + (badLine - 1) + " lines before it were imported");
      try (KVLogReader reader = KVLogReader.open(db)) {
        assertThat(reader.size()).isEqualTo(badLine - 1);
        assertThat(reader.get(String.format("k%05d", badLine - 1))).isPresent();
        assertThat(reader.get(String.format("k%05d", badLine + 1))).isEmpty();
      }
    }
  }

  @Test
  void import_nulOnPostgres_namesTheLine_andKeepsTheLinesBefore() {
    String url = postgres.url();
    String in = GOOD_1 + "\n{\"key\":\"f\",\"value\":\"nul \\u0000 here\"}\n" + GOOD_3 + "\n";
    MainAccess.Result result =
        MainAccess.runWithInput(in.getBytes(StandardCharsets.UTF_8), "--url", url, "import");
    assertThat(result.code()).as(result.err()).isEqualTo(4);
    assertThat(result.err())
        .contains("standard input line 2 holds an entry the store refuses", "the 1 lines before");
    assertThat(MainAccess.run("--url", url, "list").out()).isEqualTo("a\n");
  }

  @Test
  void exportThenImport_isByteForByte_forEveryKindOfText_includingA25MillionCharacterValue()
      throws Exception {
    Map<String, String> entries = new LinkedHashMap<>();
    entries.put("", "empty key");
    entries.put("empty value", "");
    entries.put("nul\u0000key", "nul\u0000value");
    entries.put("emoji \uD83D\uDE00", "\uD83D\uDCA9 and \u00e9\u0301");
    entries.put("separators", "\u2028\u2029\r\n\t\b\f\u0001\u001f\u007f");
    entries.put("bom", "\uFEFFstarts with a BOM");
    entries.put("quotes", "\"'\\/ </script>");
    entries.put("private use \uE000", "\uFFFF\uFFFE");
    entries.put("big", "0123456789abcdefghijklmnopqrstuvwxy\u00e9".repeat(25_000_000 / 36 + 1));
    Path source = dir.resolve("source.db");
    try (KVLog<String, String> store = KVLog.load(source)) {
      entries.forEach(store::set);
    }
    Path export = dir.resolve("export.jsonl");
    assertThat(kvlog(source, "export", "-o", export.toString()).code()).isZero();
    Path target = dir.resolve("target.db");
    MainAccess.Result imported = kvlog(target, "import", export.toString());
    assertThat(imported.code()).as(imported.err()).isZero();
    assertThat(imported.err()).startsWith("imported " + entries.size() + " lines");
    try (KVLogReader reader = KVLogReader.open(target)) {
      entries.forEach((k, v) -> assertThat(reader.get(k)).as(k).contains(v));
    }
    Path again = dir.resolve("again.jsonl");
    assertThat(kvlog(target, "export", "-o", again.toString()).code()).isZero();
    assertThat(Files.mismatch(export, again)).isEqualTo(-1L);
  }

  @Test
  void export_isOwnerOnly_andNeverOverwritesWithoutForce() throws Exception {
    Path db = dir.resolve("kv.db");
    kvlog(db, "set", "k", "v");
    Path out = dir.resolve("out.jsonl");
    assertThat(kvlog(db, "export", "-o", out.toString()).code()).isZero();
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(out)))
        .isEqualTo("rw-------");

    Files.writeString(out, "precious\n");
    MainAccess.Result refused = kvlog(db, "export", "-o", out.toString());
    assertThat(refused.code()).isEqualTo(2);
    assertThat(refused.err()).contains(out.toString(), "already exists", "--force");
    assertThat(Files.readString(out)).isEqualTo("precious\n");

    assertThat(kvlog(db, "export", "-o", out.toString(), "--force").code()).isZero();
    assertThat(Files.readString(out)).isEqualTo("{\"key\":\"k\",\"value\":\"v\"}\n");
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(out)))
        .isEqualTo("rw-------");
    try (var files = Files.list(dir)) {
      assertThat(files.filter(f -> f.getFileName().toString().contains(".tmp-"))).isEmpty();
    }
  }

  /**
   * Review F1: {@code --force} renamed a regular file over a device node or FIFO (as root, {@code
   * -o /dev/null --force} replaced /dev/null). Only a regular file is ever replaced; private nodes
   * made here, never a real device.
   */
  @Test
  void export_force_refusesAnythingButARegularFile_andDashIsStandardOutput() throws Exception {
    Path db = dir.resolve("kv.db");
    kvlog(db, "set", "k", "v");
    Path fifo = dir.resolve("fifo");
    Path device = dir.resolve("null");
    Path link = dir.resolve("link");
    Path linked = dir.resolve("linked.jsonl");
    Files.writeString(linked, "precious\n");
    Files.createSymbolicLink(link, linked);
    Files.createDirectory(dir.resolve("adir"));
    assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
    List<Path> nodes = new ArrayList<>(List.of(fifo, link, dir.resolve("adir")));
    if (new ProcessBuilder("mknod", "-m", "666", device.toString(), "c", "1", "3").start().waitFor()
        == 0) {
      nodes.add(device); // only as root; the FIFO and the link cover the rule otherwise
    }
    for (Path node : nodes) {
      String before = describe(node);
      MainAccess.Result r = kvlog(db, "export", "-o", node.toString(), "--force");
      assertThat(r.code()).as(node + ": " + r.err()).isEqualTo(2);
      assertThat(r.err().lines()).as(node.toString()).hasSize(1);
      assertThat(r.err()).contains(node.toString(), "not a regular file");
      assertThat(describe(node)).as(node + " left alone").isEqualTo(before);
    }
    assertThat(Files.readString(linked)).isEqualTo("precious\n");

    MainAccess.Result dash = kvlog(db, "export", "-o", "-");
    assertThat(dash.code()).as(dash.err()).isZero();
    assertThat(dash.out()).isEqualTo("{\"key\":\"k\",\"value\":\"v\"}\n");
    assertThat(Path.of("-")).doesNotExist();
    try (var files = Files.list(dir)) {
      assertThat(files.filter(f -> f.getFileName().toString().contains(".tmp-"))).isEmpty();
    }
  }

  private static String describe(Path node) throws java.io.IOException {
    return Files.readAttributes(
                node, java.nio.file.attribute.PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
            .fileKey()
        + " "
        + Files.isSymbolicLink(node)
        + " "
        + Files.isRegularFile(node, LinkOption.NOFOLLOW_LINKS);
  }

  @Test
  void setDash_andImportDash_readStandardInput() {
    Path db = dir.resolve("kv.db");
    byte[] value = "line one\nline two ü \uD83D\uDE00\n".getBytes(StandardCharsets.UTF_8);
    assertThat(kvlogWithInput(db, value, "set", "k", "-").code()).isZero();
    assertThat(kvlog(db, "get", "k").out())
        .isEqualTo(new String(value, StandardCharsets.UTF_8) + "\n");

    MainAccess.Result invalid = kvlogWithInput(db, new byte[] {'a', (byte) 0xFF}, "set", "k", "-");
    assertThat(invalid.code()).isEqualTo(4);
    assertThat(invalid.err()).contains("not valid UTF-8", "nothing was written");
    assertThat(kvlog(db, "get", "k").out()).startsWith("line one");

    byte[] lines = (GOOD_1 + "\n" + GOOD_3 + "\n").getBytes(StandardCharsets.UTF_8);
    assertThat(kvlogWithInput(db, lines, "import", "-").code()).isZero();
    assertThat(kvlogWithInput(db, lines, "import").code()).as("- is the default").isZero();
    assertThat(kvlog(db, "list").out()).isEqualTo("a\nk\nz\n");
  }

  @Test
  void import_missingFile_namesTheProblem_andCreatesNoStore() {
    Path db = dir.resolve("kv.db");
    MainAccess.Result result = kvlog(db, "import", dir.resolve("nosuch.jsonl").toString());
    assertThat(result.code()).isEqualTo(2);
    assertThat(result.err())
        .isEqualTo(
            "kvlog: cannot import "
                + dir.resolve("nosuch.jsonl")
                + ": no such file; give a JSON lines file, or - for standard input\n");
    assertThat(db).doesNotExist();
  }
}
