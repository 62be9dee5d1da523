package dev.kvlog.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.Test;

/** The cache's table and its seqlock, without a store around them. */
class WarmCacheTest {

  /** 2^10 distinct keys with one hashCode: every one lands in the same probe run. */
  private static List<String> equalHashKeys() {
    List<String> keys = new ArrayList<>();
    for (int bits = 0; bits < 1 << 10; bits++) {
      StringBuilder b = new StringBuilder();
      for (int i = 0; i < 10; i++) {
        b.append((bits >> i & 1) == 0 ? "Aa" : "BB");
      }
      keys.add(b.toString());
    }
    return keys;
  }

  @Test
  void keysWithEqualHashCode_putRemoveGet_eachKeepsItsOwnValue() {
    List<String> keys = equalHashKeys();
    assertThat(keys.stream().mapToInt(String::hashCode).distinct().count()).isEqualTo(1);
    CacheTable table = new CacheTable(0);
    keys.forEach(k -> table.put(k, "v" + k));
    for (int i = 0; i < keys.size(); i += 2) {
      table.remove(keys.get(i));
    }
    for (int i = 0; i < keys.size(); i++) {
      assertThat(table.get(keys.get(i))).isEqualTo(i % 2 == 0 ? null : "v" + keys.get(i));
    }
    assertThat(table.size()).isEqualTo(keys.size() / 2);
  }

  @Test
  void removes_manyRounds_leaveNoTombstonesAndEveryKeyReachable() {
    CacheTable table = new CacheTable(0);
    Map<String, String> model = new HashMap<>();
    ThreadLocalRandom r = ThreadLocalRandom.current();
    for (int i = 0; i < 200_000; i++) {
      String k = "key" + r.nextInt(5_000);
      if (r.nextBoolean()) {
        table.put(k, "v" + i);
        model.put(k, "v" + i);
      } else {
        table.remove(k);
        model.remove(k);
      }
    }
    for (int i = 0; i < 5_000; i++) {
      assertThat(table.get("key" + i)).isEqualTo(model.get("key" + i));
    }
    assertThat(table.size()).isEqualTo(model.size());
  }

  @Test
  void hugeValue_isStoredAndReturnedWhole() {
    String huge = "x".repeat(8 << 20) + "\u00e9\u4e2d";
    WarmCache cache = WarmCache.of(Map.of("k", "small"));
    cache.publish(Map.of("k", huge, "\u4e2d\u6587", huge));
    assertThat(cache.get("k")).isSameAs(huge);
    assertThat(cache.get("\u4e2d\u6587")).isSameAs(huge);
    assertThat(cache.size()).isEqualTo(2);
  }

  @Test
  void bulk_sinksFilledOnSeveralThreads_finishHoldsEveryEntry() throws Exception {
    WarmCache.Bulk bulk = new WarmCache.Bulk();
    List<Thread> loaders = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      BiConsumer<String, String> sink = bulk.sink();
      int part = t;
      loaders.add(
          new Thread(
              () -> {
                for (int i = part; i < 40_000; i += 4) {
                  sink.accept("k" + i, "v" + i);
                }
              }));
    }
    loaders.forEach(Thread::start);
    for (Thread t : loaders) {
      t.join();
    }
    WarmCache cache = bulk.finish();
    assertThat(cache.size()).isEqualTo(40_000);
    for (int i = 0; i < 40_000; i++) {
      assertThat(cache.get("k" + i)).isEqualTo("v" + i);
    }
    assertThat(cache.copy(1)).hasSize(40_000);
  }

  /**
   * Concurrent direct inserts into a presized table: four threads insert disjoint keys, the equal-
   * hashCode ones among them (they all contend for one probe run), at most room() in total; every
   * entry is then found, the size counts them, and the table did not grow (room fell by exactly the
   * entries inserted), and removes still find their way through the runs the CAS built.
   */
  @Test
  void insertAbsent_fourThreadsIntoAPresizedTable_everyEntryOnce_noGrowth() throws Exception {
    List<String> keys = new ArrayList<>(equalHashKeys());
    for (int i = 0; keys.size() < 30_000; i++) {
      keys.add("k" + i);
    }
    CacheTable table = new CacheTable(keys.size());
    int room = table.room();
    assertThat(room).isGreaterThanOrEqualTo(keys.size());
    List<Thread> loaders = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      int part = t;
      loaders.add(
          new Thread(
              () -> {
                for (int i = part; i < keys.size(); i += 4) {
                  table.insertAbsent(keys.get(i), "v" + keys.get(i));
                }
              }));
    }
    loaders.forEach(Thread::start);
    for (Thread t : loaders) {
      t.join();
    }
    table.countInserted(keys.size());
    assertThat(table.size()).isEqualTo(keys.size());
    assertThat(table.room()).isEqualTo(room - keys.size());
    Map<String, String> all = new HashMap<>();
    table.forEach(all::put);
    assertThat(all).hasSize(keys.size());
    for (String k : keys) {
      assertThat(table.get(k)).isEqualTo("v" + k);
    }
    for (int i = 0; i < keys.size(); i += 2) {
      table.remove(keys.get(i));
    }
    for (int i = 0; i < keys.size(); i++) {
      assertThat(table.get(keys.get(i))).isEqualTo(i % 2 == 0 ? null : "v" + keys.get(i));
    }
  }

  /**
   * Bulk loads whose estimate is none, far too low, a little low, exact and too high (it only sizes
   * the sinks' partition buffers): finish holds every entry once.
   */
  @Test
  void bulk_anyEstimate_sinksOnFourThreads_finishHoldsEveryEntryOnce() throws Exception {
    int n = 40_000;
    for (int expected : new int[] {0, 100, 30_000, n, 3 * n}) {
      WarmCache.Bulk bulk = new WarmCache.Bulk(expected);
      List<Thread> loaders = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        BiConsumer<String, String> sink = bulk.sink();
        int part = t;
        loaders.add(
            new Thread(
                () -> {
                  for (int i = part; i < n; i += 4) {
                    sink.accept("k" + i, "v" + i);
                  }
                }));
      }
      loaders.forEach(Thread::start);
      for (Thread t : loaders) {
        t.join();
      }
      WarmCache cache = bulk.finish();
      assertThat(cache.size()).as("expected %d", expected).isEqualTo(n);
      for (int i = 0; i < n; i++) {
        assertThat(cache.get("k" + i)).as("expected %d", expected).isEqualTo("v" + i);
      }
      assertThat(cache.copy(1)).as("expected %d", expected).hasSize(n);
    }
  }

  /**
   * The writer publishes groups that each set every key of a generation to the same value and add
   * new keys (so the table grows from 16 slots while readers run); readers must never see a group
   * in part: a copy holds one generation throughout, size is a whole number of groups, and a key's
   * generation never goes back for one reader.
   */
  @Test
  void publish_growingUnderConcurrentReaders_neverShowsPartOfAGroup() throws Exception {
    int group = 64;
    int rounds = 3_000;
    WarmCache cache = WarmCache.of(Map.of());
    AtomicBoolean done = new AtomicBoolean();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    List<Thread> readers = new ArrayList<>();
    for (int t = 0; t < 3; t++) {
      int kind = t;
      readers.add(
          new Thread(
              () -> {
                try {
                  long[] last = new long[group];
                  while (!done.get()) {
                    if (kind == 0) {
                      Map<String, String> copy = cache.copy(1);
                      if (copy != null && !copy.isEmpty()) {
                        assertThat(copy.size() % group).as("copy size").isZero();
                        String gen = copy.get("g0");
                        copy.forEach(
                            (k, v) -> {
                              if (!k.startsWith("s")) { // s keys stay from earlier groups
                                assertThat(v).as(k + " in one copy").isEqualTo(gen);
                              }
                            });
                        assertThat(copy).containsKey("r" + gen + "-" + (group - 1));
                      }
                    } else if (kind == 1) {
                      assertThat(cache.size() % group).as("size").isZero();
                    } else {
                      int i = ThreadLocalRandom.current().nextInt(group);
                      String v = cache.get("g" + i);
                      long gen = v == null ? 0 : Long.parseLong(v);
                      assertThat(gen).as("generation of g" + i).isGreaterThanOrEqualTo(last[i]);
                      last[i] = gen;
                      String other = cache.get("g" + ((i + 1) % group));
                      long otherGen = other == null ? 0 : Long.parseLong(other);
                      // published after v was: at least v's generation
                      assertThat(otherGen).isGreaterThanOrEqualTo(gen);
                    }
                  }
                } catch (Throwable e) {
                  failure.compareAndSet(null, e);
                }
              }));
    }
    readers.forEach(Thread::start);
    try {
      for (int round = 1; round <= rounds && failure.get() == null; round++) {
        Map<String, String> changes = new HashMap<>();
        for (int i = 0; i < group; i++) {
          changes.put("g" + i, Long.toString(round));
        }
        for (int i = 0; i < group; i++) {
          changes.put("r" + round + "-" + i, Long.toString(round)); // growth
        }
        if (round > 1) {
          for (int i = 0; i < group; i++) {
            changes.put("r" + (round - 1) + "-" + i, null); // and removes (backward shifts)
          }
          for (int i = 0; i < group; i++) {
            changes.put("s" + round + "-" + i, Long.toString(round)); // net growth of one group
          }
        }
        cache.publish(changes); // its g and r keys all hold this round's generation
      }
    } finally {
      done.set(true);
      for (Thread t : readers) {
        t.join();
      }
    }
    if (failure.get() != null) {
      throw new AssertionError(failure.get());
    }
    assertThat(cache.size()).isEqualTo(group * (2 + rounds - 1));
  }
}
