package dev.kvlog.tools;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kvlog.KVLog;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LocationTest {
  @TempDir Path dir;

  /**
   * A command that writes opens the file with a bounded cache: its open reads no rows, and its gets
   * are counted as misses (the whole-table mode counts none). Fails if openForWriting loads the
   * table.
   */
  @Test
  void openForWriting_aFile_usesABoundedCache() {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.open(db)) {
      store.set("k", "v");
    }
    try (KVLog<String, String> store = Location.file(db).openForWriting()) {
      assertThat(store.get("k")).contains("v");
      assertThat(store.stats().cacheMisses()).isEqualTo(1);
      assertThat(store.set("k", "w")).contains("v");
    }
    try (KVLog<String, String> store = KVLog.open(db)) {
      assertThat(store.get("k")).contains("w");
    }
  }
}
