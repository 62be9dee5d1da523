package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the facade refuses, and how it says so: an option of the other backend, a URL no backend
 * accepts, and the SQLite-only operations on PostgreSQL. Each message names the problem and what to
 * do instead, and never a password.
 */
class FacadeRefusalsTest {
  private static final String SQLITE_FORM = "jdbc:sqlite:<file>";
  private static final String POSTGRES_FORM = "jdbc:postgresql://host/database";

  @TempDir Path dir;
  @RegisterExtension final PostgresSchema schema = new PostgresSchema();

  @Test
  void sqlite_refusesPoolSize_namingIt_andCreatesNothing() throws Exception {
    Path db = dir.resolve("kv.db");
    assertThatThrownBy(() -> KVLog.builder("jdbc:sqlite:" + db).poolSize(4).open())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("poolSize(4)")
        .hasMessageContaining("jdbc:sqlite:")
        .hasMessageContaining("busyTimeout");
    assertThatThrownBy(() -> KVLog.builder(db).poolSize(4).open())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("poolSize(4)");
    try (var files = Files.list(dir)) {
      assertThat(files).as("a refused open leaves no file").isEmpty();
    }
  }

  @Test
  void postgres_refusesSqliteOptions_namingEach_beforeConnecting() {
    // Port 1: nothing listens, so only a refusal made before connecting can name the option.
    String unreachable = "jdbc:postgresql://127.0.0.1:1/kv?password=hunter2&connectTimeout=1";
    assertThatThrownBy(() -> KVLog.builder(unreachable).busyTimeout(Duration.ofSeconds(3)).open())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("busyTimeout(PT3S)")
        .hasMessageContaining("jdbc:postgresql:")
        .hasMessageContaining("poolSize")
        .hasMessageNotContaining("hunter2");
    Throwable all =
        catchThrowable(
            () ->
                KVLog.builder(unreachable)
                    .groupCommit(false)
                    .externalChangeCheck(Duration.ZERO)
                    .verifyOnOpen(false)
                    .poolSize(2)
                    .open());
    assertThat(all)
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("groupCommit(false)")
        .hasMessageContaining("externalChangeCheck(PT0S)")
        .hasMessageContaining("verifyOnOpen(false)")
        .hasMessageNotContaining("poolSize(2)");
  }

  /**
   * Review: pgjdbc reads user:password@host as host and port and logs a warning quoting the whole
   * URL, password included; the library (like the CLI) refuses such a URL before the driver sees
   * it. Failed before: a StoreOpenException from the driver, after its warning.
   */
  @Test
  void postgresUserInfo_isRefusedBeforeTheDriverSeesIt_neverShowingThePassword() {
    for (String url :
        List.of(
            "jdbc:postgresql://postgres:hunter2@127.0.0.1:1/test",
            "jdbc:postgresql://postgres:pa/hunter2@127.0.0.1:1/test?currentSchema=x",
            "jdbc:postgresql://postgres:pa@hunter2@127.0.0.1:1/test")) {
      assertThatThrownBy(() -> KVLog.connect(url))
          .as(url)
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("does not take user:password@")
          .hasMessageContaining("?user=USER&password=PASSWORD")
          .hasMessageNotContaining("hunter2");
    }
  }

  @Test
  void unknownUrl_listsTheAcceptedForms_neverAPassword() {
    for (String url :
        List.of(
            "jdbc:mysql://app:hunter2@db.example/kv",
            "jdbc:h2:mem:kv;password=hunter2",
            "postgresql://db.example/kv?password=hunter2",
            "sqlite:kv.db",
            "")) {
      for (ThrowingCallable open :
          List.<ThrowingCallable>of(() -> KVLog.connect(url), () -> KVLog.builder(url).open())) {
        assertThatThrownBy(open)
            .as(url)
            .isInstanceOf(IllegalArgumentException.class)
            .hasMessageContaining("unsupported JDBC URL")
            .hasMessageContaining(SQLITE_FORM)
            .hasMessageContaining(POSTGRES_FORM)
            .hasMessageNotContaining("hunter2");
      }
    }
  }

  @Test
  void postgres_sqliteOnlyOperations_sayWhatToUseInstead() {
    try (KVLog<String, String> store = KVLog.connect(schema.url() + "&password=hunter2")) {
      store.set("k", "v");
      Map<String, ThrowingCallable> calls =
          Map.of(
              "backup() is not available", () -> store.backup(dir.resolve("copy.db")),
              "stats() is not available", store::stats,
              "check() is not available", store::check,
              "path() is not available", store::path);
      Map<String, String> instead =
          Map.of(
              "backup() is not available", "pg_dump",
              "stats() is not available", "size() and schemaVersion()",
              "check() is not available", "amcheck",
              "path() is not available", "JDBC URL");
      calls.forEach(
          (what, call) ->
              assertThatThrownBy(call)
                  .as(what)
                  .isInstanceOf(UnsupportedOperationException.class)
                  .hasMessageContaining(what)
                  .hasMessageContaining("jdbc:postgresql://127.0.0.1")
                  .hasMessageContaining(instead.get(what))
                  .hasMessageNotContaining("hunter2"));
      assertThat(dir.resolve("copy.db")).doesNotExist();
      assertThat(store.get("k")).as("the store is still usable").contains("v");
      assertThat(store.size()).isEqualTo(1);
      assertThat(store.schemaVersion()).isPositive();
    }
  }
}
