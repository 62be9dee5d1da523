package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kvlog.sqlite.FloodKeys;
import dev.kvlog.sqlite.FloodKeys.TableStats;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Keys from users (say, HTTP requests) made to share one String.hashCode: a batch of them and the
 * open that loads them cost the cache a bounded number of probes per key, and so does every get of
 * such a key, stored or not. Counted in probes: {@code CacheTableFloodTest} has the table's cases.
 */
class HashFloodStoreTest {
  @TempDir Path dir;

  @Test
  void open_storeOf65536EqualHashCodeKeys_loadAndGetsBoundedInProbes() {
    List<String> present = FloodKeys.equalHashCode("Aa", 16);
    List<String> absent = FloodKeys.equalHashCode("BB", 16);
    Path file = dir.resolve("kv.db");
    try (KVLog<String, String> store = KVLog.open(file)) {
      WriteBatch<String, String> batch = new WriteBatch<>();
      present.forEach(k -> batch.set(k, "v" + k));
      store.write(batch);
      assertBounded(FloodKeys.of(store.backend(), present), present.size());
    }
    try (KVLog<String, String> store = KVLog.open(file)) {
      List<String> all = new ArrayList<>(present);
      all.addAll(absent);
      assertBounded(FloodKeys.of(store.backend(), all), present.size());
      assertThat(store.size()).isEqualTo(present.size());
      for (String k : present) {
        assertThat(store.get(k)).contains("v" + k);
      }
      for (String k : absent) {
        assertThat(store.get(k)).isEmpty();
      }
    }
  }

  private static void assertBounded(TableStats stats, int keys) {
    assertThat(stats.seeded()).as("cache rebuilt with SipHash").isTrue();
    assertThat(stats.longestRun()).as("longest run").isLessThanOrEqualTo(512);
    assertThat(stats.maxGetProbes()).as("probes of a get").isLessThanOrEqualTo(128);
    assertThat(stats.writerProbes()).as("probes to insert").isLessThanOrEqualTo(64L * keys);
  }
}
