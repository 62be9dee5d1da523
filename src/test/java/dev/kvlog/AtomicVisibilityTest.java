package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Defect 4 through the other readers: {@code size()} and {@code forEach} never show part of a batch
 * either. Each batch alternately adds eight keys and removes them, or sets all eight to the same
 * new value.
 */
class AtomicVisibilityTest {
  @TempDir Path dir;

  /** In bounded mode size() and forEach read the table in one snapshot rather than the cache. */
  @ParameterizedTest(name = "{0} cache")
  @EnumSource(CacheMode.class)
  void sizeAndForEach_neverShowPartOfABatch(CacheMode mode) throws Exception {
    try (KVLog<String, String> store =
        mode.builder(dir.resolve("kv.db")).externalChangeCheck(Duration.ZERO).open()) {
      store.set("base", "x");
      AtomicBoolean stop = new AtomicBoolean();
      AtomicReference<String> violation = new AtomicReference<>();
      Thread sizes =
          new Thread(
              () -> {
                while (!stop.get()) {
                  int n = store.size();
                  if (n != 1 && n != 9) {
                    violation.compareAndSet(null, "size() was " + n);
                  }
                }
              });
      Thread forEach =
          new Thread(
              () -> {
                while (!stop.get()) {
                  Map<String, String> seen = new HashMap<>();
                  store.forEach(seen::put);
                  seen.remove("base");
                  if (!seen.isEmpty()
                      && (seen.size() != 8 || seen.values().stream().distinct().count() != 1)) {
                    violation.compareAndSet(null, "forEach saw " + seen);
                  }
                }
              });
      sizes.start();
      forEach.start();
      try {
        for (int i = 0; i < mode.scaled(400) && violation.get() == null; i++) {
          WriteBatch<String, String> batch = new WriteBatch<>();
          for (int k = 0; k < 8; k++) {
            if (i % 3 == 2) {
              batch.delete("k" + k);
            } else {
              batch.set("k" + k, Integer.toString(i));
            }
          }
          store.write(batch);
        }
      } finally {
        stop.set(true);
        sizes.join();
        forEach.join();
      }
      assertThat(violation.get()).isNull();
    }
  }
}
