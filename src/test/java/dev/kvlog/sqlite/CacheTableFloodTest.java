package dev.kvlog.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kvlog.sqlite.FloodKeys.TableStats;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.Test;

/**
 * Hash flooding: keys made to collide must cost no more probes than ordinary keys, through every
 * way into the table (put, the bulk load, a batch published under the seqlock). Counted in probes,
 * never in time. Before the defence, 65,536 equal-hashCode keys took 65,536^2 / 2 probes to put.
 */
class CacheTableFloodTest {
  private static final int N = 1 << 16;

  /** Inserts may visit this many slots per entry on average (ordinary keys visit about 2). */
  private static final long PROBES_PER_INSERT = 64;

  private static void assertBounded(TableStats stats, int inserted) {
    assertThat(stats.seeded()).as("rebuilt with SipHash").isTrue();
    assertThat(stats.longestRun()).as("longest run").isLessThanOrEqualTo(CacheTable.RUN_LIMIT);
    assertThat(stats.maxGetProbes()).as("probes of a get").isLessThanOrEqualTo(128);
    assertThat(stats.writerProbes())
        .as("probes of %d inserts", inserted)
        .isLessThanOrEqualTo(PROBES_PER_INSERT * inserted);
  }

  private static List<String> both(List<String> a, List<String> b) {
    List<String> all = new ArrayList<>(a);
    all.addAll(b);
    return all;
  }

  @Test
  void put_65536EqualHashCodeKeys_probesBoundedForPutsAndForGetsOfPresentAndAbsentKeys() {
    List<String> present = FloodKeys.equalHashCode("Aa", 16);
    List<String> absent = FloodKeys.equalHashCode("BB", 16); // same hashCode, never stored
    assertThat(both(present, absent).stream().mapToInt(String::hashCode).distinct()).hasSize(1);
    CacheTable table = new CacheTable(0);
    present.forEach(k -> table.put(k, "v" + k));
    assertBounded(FloodKeys.of(table, both(present, absent)), N);
    for (String k : present) {
      assertThat(table.get(k)).isEqualTo("v" + k);
    }
    for (String k : absent) {
      assertThat(table.get(k)).isNull();
    }
    for (int i = 0; i < N; i += 2) {
      table.remove(present.get(i));
    }
    assertThat(table.size()).isEqualTo(N / 2);
    for (int i = 0; i < N; i++) {
      assertThat(table.get(present.get(i))).isEqualTo(i % 2 == 0 ? null : "v" + present.get(i));
    }
    assertThat(FloodKeys.of(table, present).maxGetProbes()).isLessThanOrEqualTo(128);
  }

  /** More than EQUAL_HASH_LIMIT keys of one hash are a flood, not chance: a get compares <= 8. */
  @Test
  void put_moreThanEightKeysOfOneHashCode_rebuildSeededAtTheNinth() {
    List<String> keys = FloodKeys.equalHashCode("Aa", 4);
    CacheTable table = new CacheTable(0);
    for (int i = 0; i < keys.size(); i++) {
      assertThat(table.seeded()).as("after %d keys", i).isEqualTo(i > CacheTable.EQUAL_HASH_LIMIT);
      table.put(keys.get(i), "v");
    }
    keys.forEach(k -> assertThat(table.get(k)).isEqualTo("v"));
  }

  /** Keys with distinct hashCodes aimed at consecutive home slots: no equal hash, one long run. */
  @Test
  void put_keysAimedAtConsecutiveHomes_runStaysBounded() {
    int capacity = 1 << 13; // what new CacheTable(4096) allocates
    List<String> keys = FloodKeys.consecutiveHomes(capacity, 4096);
    assertThat(keys.stream().mapToInt(String::hashCode).distinct()).hasSize(4096);
    CacheTable table = new CacheTable(4096);
    keys.forEach(k -> table.put(k, "v"));
    assertBounded(FloodKeys.of(table, keys), keys.size());
    keys.forEach(k -> assertThat(table.get(k)).isEqualTo("v"));
  }

  /** The load's path: sinks on two threads, then finish (partitioned inserts, countInserted). */
  @Test
  void bulk_65536EqualHashCodeKeysAmongOrdinaryOnes_probesBounded() throws Exception {
    List<String> flood = FloodKeys.equalHashCode("Aa", 16);
    List<String> keys = new ArrayList<>(flood);
    for (int i = 0; i < 10_000; i++) {
      keys.add("k" + i);
    }
    WarmCache cache = load(keys);
    assertThat(cache.size()).isEqualTo(keys.size());
    assertBounded(
        FloodKeys.of(cache.table(), both(keys, FloodKeys.equalHashCode("BB", 16))), keys.size());
    for (String k : keys) {
      assertThat(cache.get(k)).isEqualTo("v" + k);
    }
    assertThat(cache.get("BB".repeat(17))).isNull();
  }

  @Test
  void bulk_keysAimedAtConsecutiveHomes_rebuiltSeeded() throws Exception {
    // 4096 entries: the bulk table has 8192 slots; the keys fill homes 0..4095 without a collision
    List<String> keys = FloodKeys.consecutiveHomes(1 << 13, 4096);
    WarmCache cache = load(keys);
    assertBounded(FloodKeys.of(cache.table(), keys), keys.size());
    keys.forEach(k -> assertThat(cache.get(k)).isEqualTo("v" + k));
  }

  /** A batch of the flood published under the seqlock: the publication is bounded in probes too. */
  @Test
  void publish_65536EqualHashCodeKeysInOneBatch_probesBounded() {
    WarmCache cache = WarmCache.of(Map.of("a", "1"));
    Map<String, String> batch = new HashMap<>();
    FloodKeys.equalHashCode("Aa", 16).forEach(k -> batch.put(k, "v" + k));
    cache.publish(batch);
    assertThat(cache.size()).isEqualTo(N + 1);
    assertBounded(FloodKeys.of(cache.table(), batch.keySet()), N + 1);
    assertThat(cache.get("a")).isEqualTo("1");
  }

  /** Ordinary keys never trip the defence: the table keeps the free String.hashCode. */
  @Test
  void ordinaryKeys_stayInHashCodeMode() {
    CacheTable table = new CacheTable(0);
    List<String> keys = new ArrayList<>();
    for (int i = 0; i < 200_000; i++) {
      keys.add(String.format("key-%011d", i));
      table.put(keys.get(i), "v");
    }
    assertThat(table.seeded()).isFalse();
    WarmCache loaded = load(keys);
    assertThat(loaded.table().seeded()).isFalse();
  }

  @Test
  void seededHash_dependsOnTheKeyAndSplitsEqualHashCodes() {
    List<String> keys = FloodKeys.equalHashCode("Aa", 10);
    long distinct =
        keys.stream().mapToInt(k -> CacheTable.seededHash(k, 42, 43)).distinct().count();
    assertThat(distinct).isGreaterThan(1020);
    assertThat(CacheTable.seededHash("abcde", 1, 2))
        .isNotEqualTo(CacheTable.seededHash("abcde", 1, 3))
        .isEqualTo(CacheTable.seededHash(new String("abcde".toCharArray()), 1, 2));
  }

  private static WarmCache load(List<String> keys) {
    WarmCache.Bulk bulk = new WarmCache.Bulk(keys.size());
    List<Thread> loaders = new ArrayList<>();
    for (int t = 0; t < 2; t++) {
      BiConsumer<String, String> sink = bulk.sink();
      int part = t;
      loaders.add(
          new Thread(
              () -> {
                for (int i = part; i < keys.size(); i += 2) {
                  sink.accept(keys.get(i), "v" + keys.get(i));
                }
              }));
    }
    loaders.forEach(Thread::start);
    for (Thread t : loaders) {
      try {
        t.join();
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
    }
    return bulk.finish();
  }
}
