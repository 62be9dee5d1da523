package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Outside review: {@code KVLog.connect("jdbc:sqlite:...")} took URL forms as literal file names
 * ({@code file:/tmp/d/kv.db} opened ./file:/tmp/d/kv.db, {@code :memory:} made ./:memory: files,
 * {@code p.db?mode=ro} made a file of that name) while the CLI read them as URLs. Both now read a
 * {@code jdbc:sqlite:} URL the same way.
 */
class SqliteUrlTest {
  @TempDir Path dir;

  private static List<String> names(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void connect_uriFilename_opensTheFileItNames() {
    Path db = dir.resolve("kv.db");
    for (String url :
        List.of(
            "jdbc:sqlite:file:" + db,
            "jdbc:sqlite:file://" + db,
            "jdbc:sqlite:file://localhost" + db)) {
      try (KVLog<String, String> kv = KVLog.connect(url)) {
        kv.set("k", url);
      }
      try (KVLog<String, String> kv = KVLog.open(db)) {
        assertThat(kv.get("k")).as(url).contains(url);
      }
    }
    assertThat(Path.of("file:" + db).toAbsolutePath()).doesNotExist();
    assertThat(Path.of("file:").toAbsolutePath()).doesNotExist();
  }

  @Test
  void connect_memoryParametersOrNoName_isRefused_sayingWhatToWrite_andCreatesNothing()
      throws Exception {
    Path cwd = Path.of("").toAbsolutePath();
    List<String> before = names(cwd);
    for (String url :
        List.of(
            "jdbc:sqlite::memory:",
            "jdbc:sqlite:file::memory:",
            "jdbc:sqlite:" + dir.resolve("p.db") + "?mode=ro",
            "jdbc:sqlite:file:" + dir.resolve("p.db") + "?mode=memory&cache=shared",
            "jdbc:sqlite:",
            "jdbc:sqlite:file:",
            "jdbc:sqlite:file://db.example/x.db",
            "jdbc:sqlite:" + dir.resolve("50%.db"),
            "jdbc:sqlite:file:" + dir.resolve("a%zz.db"),
            "jdbc:sqlite:file:" + dir.resolve("a%00.db"))) {
      Throwable e = catchThrowable(() -> KVLog.connect(url).close());
      assertThat(e).as(url).isInstanceOf(IllegalArgumentException.class);
      assertThat(e.getMessage()).as(url).contains("jdbc:sqlite:");
    }
    assertThat(names(dir)).isEmpty();
    assertThat(names(cwd)).isEqualTo(before);
    assertThat(
            catchThrowable(() -> KVLog.connect("jdbc:sqlite:" + dir.resolve("p.db") + "?mode=ro")))
        .hasMessageContaining("URL parameters (mode=ro) are not supported")
        .hasMessageContaining("jdbc:sqlite:" + dir.resolve("p.db"));
    assertThat(catchThrowable(() -> KVLog.connect("jdbc:sqlite::memory:")))
        .hasMessageContaining("in-memory");
  }

  @Test
  void connect_uriFilenameWithEscapes_opensTheDecodedName() {
    try (KVLog<String, String> kv =
        KVLog.connect("jdbc:sqlite:file:" + dir.resolve("a%3Fb%20c%25.db"))) {
      kv.set("k", "v");
    }
    assertThat(dir.resolve("a?b c%.db")).isRegularFile();
    assertThat(catchThrowable(() -> KVLog.connect("jdbc:sqlite:" + dir.resolve("50%.db"))))
        .hasMessageContaining("%25");
  }

  /** The Path factories name a file literally, whatever characters its name holds. */
  @Test
  void openPath_nameWithUrlCharacters_isTheFileItself() throws Exception {
    for (String name : List.of("a?b.db", "50%.db", "file:x.db", ":memory:", "c#d.db")) {
      Path db = dir.resolve(name);
      try (KVLog<String, String> kv = KVLog.open(db)) {
        kv.set("k", name);
      }
      assertThat(db).as(name).isRegularFile();
      try (KVLog<String, String> kv = KVLog.open(db)) {
        assertThat(kv.get("k")).contains(name);
      }
      assertThat(KVLog.check(db)).as(name).isEmpty();
    }
    assertThat(names(dir))
        .filteredOn(n -> n.endsWith(".db") || n.equals(":memory:"))
        .containsExactlyInAnyOrder("a?b.db", "50%.db", "file:x.db", ":memory:", "c#d.db");
  }
}
