package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The behaviour every backend of {@link KVStore} must have: one suite, run against SQLite ({@link
 * SqliteContractTest}) and PostgreSQL ({@link PostgresContractTest}).
 */
abstract class KVStoreContract {
  /** Opens the store under test; every call in one test opens the same underlying store. */
  abstract KVStore<String, String> open() throws Exception;

  @Test
  void roundTrip_andPriorValues() throws Exception {
    try (KVStore<String, String> store = open()) {
      assertThat(store.get("k")).isEmpty();
      assertThat(store.set("k", "1")).isEmpty();
      assertThat(store.get("k")).contains("1");
      assertThat(store.set("k", "2")).contains("1");
      assertThat(store.delete("k")).contains("2");
      assertThat(store.delete("k")).as("deleting an absent key").isEmpty();
      assertThat(store.get("k")).isEmpty();
      String unicode = "ключ \uD83D\uDE00 鍵";
      store.set(unicode, "x".repeat(100_000));
      assertThat(store.get(unicode)).contains("x".repeat(100_000));
    }
  }

  @Test
  void restart_keepsEveryAcknowledgedWrite() throws Exception {
    Map<String, String> written = new HashMap<>();
    try (KVStore<String, String> store = open()) {
      for (int i = 0; i < 200; i++) {
        store.set("k" + i, "v" + i);
        written.put("k" + i, "v" + i);
      }
      for (int i = 0; i < 200; i += 3) {
        store.delete("k" + i);
        written.remove("k" + i);
      }
    }
    try (KVStore<String, String> reopened = open()) {
      for (int i = 0; i < 200; i++) {
        assertThat(reopened.get("k" + i)).isEqualTo(Optional.ofNullable(written.get("k" + i)));
      }
    }
  }

  @Test
  void conditionalWrites() throws Exception {
    try (KVStore<String, String> store = open()) {
      assertThat(store.setIfAbsent("k", "1")).isEmpty();
      assertThat(store.setIfAbsent("k", "2")).contains("1");
      assertThat(store.compareAndSet("k", "2", "3")).isFalse();
      assertThat(store.compareAndSet("k", "1", "3")).isTrue();
      assertThat(store.compareAndSet("k", null, "4")).isFalse();
      assertThat(store.compareAndSet("k", "3", null)).isTrue();
      assertThat(store.get("k")).isEmpty();
      assertThat(store.compareAndSet("k", null, "5")).isTrue();
      assertThat(store.get("k")).contains("5");
    }
  }

  /**
   * Concurrent sets of unique values: per key, the (prior, new) pairs the calls returned must form
   * one chain from "absent" to the final value. A lost update breaks the chain.
   */
  @Test
  void concurrentSets_priorValuesFormOneChainPerKey() throws Exception {
    int threads = 8;
    int perThread = 40;
    ConcurrentLinkedQueue<String[]> history = new ConcurrentLinkedQueue<>();
    try (KVStore<String, String> store = open()) {
      ExecutorService pool = Executors.newFixedThreadPool(threads);
      CountDownLatch start = new CountDownLatch(1);
      List<Future<?>> tasks = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int thread = t;
        tasks.add(
            pool.submit(
                () -> {
                  start.await();
                  for (int i = 0; i < perThread; i++) {
                    String key = "k" + (i % 3);
                    String value = "t" + thread + "-" + i;
                    history.add(new String[] {key, store.set(key, value).orElse(null), value});
                  }
                  return null;
                }));
      }
      start.countDown();
      for (Future<?> f : tasks) {
        f.get(120, TimeUnit.SECONDS);
      }
      pool.shutdown();
      for (int k = 0; k < 3; k++) {
        String key = "k" + k;
        Map<String, String> next = new HashMap<>();
        for (String[] h : history) {
          if (h[0].equals(key)) {
            assertThat(next.put(h[1], h[2]))
                .as("two sets of %s both replaced %s", key, h[1])
                .isNull();
          }
        }
        String at = null;
        for (int steps = 0; steps < next.size(); steps++) {
          at = next.get(at);
          assertThat(at).as("chain of %s broken after %d steps", key, steps).isNotNull();
        }
        assertThat(store.get(key)).contains(at);
      }
    }
  }

  @Test
  void casCounter_isExact() throws Exception {
    int threads = 4;
    int increments = 25;
    try (KVStore<String, String> store = open()) {
      ExecutorService pool = Executors.newFixedThreadPool(threads);
      List<Future<?>> tasks = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        tasks.add(
            pool.submit(
                () -> {
                  for (int i = 0; i < increments; i++) {
                    for (; ; ) {
                      String seen = store.get("counter").orElse(null);
                      String next = Integer.toString(seen == null ? 1 : Integer.parseInt(seen) + 1);
                      if (store.compareAndSet("counter", seen, next)) {
                        break;
                      }
                    }
                  }
                  return null;
                }));
      }
      for (Future<?> f : tasks) {
        f.get(120, TimeUnit.SECONDS);
      }
      pool.shutdown();
      assertThat(store.get("counter")).contains(Integer.toString(threads * increments));
    }
  }

  @Test
  void badInput_isRefusedClearly_andLosesNothing() throws Exception {
    try (KVStore<String, String> store = open()) {
      store.set("keep", "1");
      assertThatThrownBy(() -> store.set(null, "v"))
          .isInstanceOf(NullPointerException.class)
          .hasMessageContaining("key");
      assertThatThrownBy(() -> store.set("k", null))
          .isInstanceOf(NullPointerException.class)
          .hasMessageContaining("value");
      assertThatThrownBy(() -> store.set("k", "bad \uD800"))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("unpaired surrogate");
      assertThatThrownBy(() -> store.get("\uDC00")).isInstanceOf(IllegalArgumentException.class);
      assertThat(store.get("keep")).contains("1");
      assertThat(store.set("keep", "2")).contains("1");
    }
  }

  @Test
  void closedStore_refusesUse() throws Exception {
    KVStore<String, String> store = open();
    store.close();
    store.close(); // idempotent
    assertThatThrownBy(() -> store.get("k")).isInstanceOf(StoreClosedException.class);
    assertThatThrownBy(() -> store.set("k", "v")).isInstanceOf(StoreClosedException.class);
  }
}
