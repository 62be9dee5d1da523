package dev.kvlog;

import static dev.kvlog.KVLogTest.contents;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Many writers on a few keys, through every kind of caller. Each set writes a value no other
 * operation writes, so the (prior → new) pairs the calls returned must chain, per key, into one
 * serial history that ends in the value the cache holds and a reopen reads. Two writers that saw
 * the same prior value, a lost update or a cache that disagrees with the table breaks it.
 */
class ConcurrencyTest {
  static final int KEYS = 6;
  static final int WRITERS = 8;
  static final int OPS_PER_WRITER = 150;

  @TempDir Path dir;

  /** One completed operation: what it changed, and what it returned. */
  record Op(String key, String prior, String written) {}

  /** Runs WRITERS tasks on {@code executor}, each calling the store directly. */
  void hammer(ExecutorService executor, CacheMode mode) throws Exception {
    Path db = dir.resolve("kv.db");
    ConcurrentLinkedQueue<Op> history = new ConcurrentLinkedQueue<>();
    Map<String, String> cache;
    try (KVLog<String, String> store = mode.open(db)) {
      run(store, executor, history);
      cache = shown(store, mode);
    } finally {
      executor.shutdownNow();
    }
    assertReopenAndHistoryAgree(db, history, cache, mode);
  }

  /**
   * A reopen reads what the cache held, and the returned values chain into a serial history. In
   * bounded mode {@code cache} is what gets of every key returned, and the reopened store is read
   * with gets too (each a miss) as well as a scan.
   */
  private static void assertReopenAndHistoryAgree(
      Path db, Iterable<Op> history, Map<String, String> cache, CacheMode mode) {
    try (KVLog<String, String> reopened = mode.open(db)) {
      if (mode.bounded()) {
        assertThat(viaGets(reopened))
            .as("gets after a reopen read what the store held")
            .isEqualTo(cache);
      }
      assertThat(contents(reopened)).as("a reopen reads what the cache held").isEqualTo(cache);
    }
    assertSerializable(history, cache);
  }

  private void run(
      KVLog<String, String> store, ExecutorService executor, ConcurrentLinkedQueue<Op> history)
      throws Exception {
    CountDownLatch start = new CountDownLatch(1);
    AtomicReference<Throwable> failure = new AtomicReference<>();
    List<java.util.concurrent.Future<?>> tasks = new ArrayList<>();
    for (int w = 0; w < WRITERS; w++) {
      int writer = w;
      tasks.add(
          executor.submit(
              () -> {
                try {
                  start.await();
                  Random random = new Random(writer);
                  for (int i = 0; i < OPS_PER_WRITER; i++) {
                    String key = "key" + random.nextInt(KEYS);
                    if (random.nextInt(5) == 0) {
                      history.add(new Op(key, store.delete(key).orElse(null), null));
                    } else {
                      String value = "w" + writer + "-" + i;
                      history.add(new Op(key, store.set(key, value).orElse(null), value));
                    }
                    // Readers run alongside: a get never blocks and never sees a value nobody
                    // wrote.
                    store
                        .get("key" + ThreadLocalRandom.current().nextInt(KEYS))
                        .ifPresent(v -> assertThat(v).matches("w\\d+-\\d+"));
                  }
                } catch (Throwable t) {
                  failure.compareAndSet(null, t);
                }
                return null;
              }));
    }
    start.countDown();
    for (java.util.concurrent.Future<?> task : tasks) {
      try {
        task.get(120, TimeUnit.SECONDS);
      } catch (TimeoutException e) {
        throw new AssertionError("writers hung; thread dump:\n" + threadDump(), e);
      }
    }
    if (failure.get() != null) {
      throw new AssertionError("a writer failed", failure.get());
    }
  }

  /**
   * The returned prior values chain into one serial history per key ending at {@code finalState}.
   */
  static void assertSerializable(Iterable<Op> history, Map<String, String> finalState) {
    Map<String, List<Op>> byKey = new HashMap<>();
    history.forEach(op -> byKey.computeIfAbsent(op.key(), k -> new ArrayList<>()).add(op));
    for (Map.Entry<String, List<Op>> e : byKey.entrySet()) {
      String key = e.getKey();
      Set<String> consumed = new HashSet<>();
      Set<String> written = new HashSet<>();
      int inserts = 0;
      int removals = 0;
      for (Op op : e.getValue()) {
        if (op.prior() != null) {
          assertThat(consumed.add(op.prior()))
              .as("%s: value %s was replaced or deleted by two operations", key, op.prior())
              .isTrue();
        }
        if (op.written() != null) {
          written.add(op.written());
          if (op.prior() == null) {
            inserts++;
          }
        } else if (op.prior() != null) {
          removals++;
        }
      }
      assertThat(written)
          .as("%s: every replaced value was written first", key)
          .containsAll(consumed);
      String last = finalState.get(key);
      Set<String> survivors = new HashSet<>(written);
      survivors.removeAll(consumed);
      assertThat(survivors)
          .as("%s: the one value never replaced is the final one", key)
          .isEqualTo(last == null ? Set.of() : Set.of(last));
      assertThat(inserts - removals)
          .as("%s: inserts minus removals", key)
          .isEqualTo(last == null ? 0 : 1);
    }
  }

  /** Every key the writers use, read with get. */
  static Map<String, String> viaGets(KVLog<String, String> store) {
    Map<String, String> all = new HashMap<>();
    for (int k = 0; k < KEYS; k++) {
      String key = "key" + k;
      store.get(key).ifPresent(v -> all.put(key, v));
    }
    return all;
  }

  /** What the store shows: its gets (bounded mode, checked against a scan) or its cache. */
  static Map<String, String> shown(KVLog<String, String> store, CacheMode mode) {
    if (mode.bounded()) {
      Map<String, String> gets = viaGets(store);
      assertThat(contents(store)).as("a scan shows what the gets showed").isEqualTo(gets);
      return gets;
    }
    return contents(store);
  }

  static String threadDump() {
    StringBuilder dump = new StringBuilder();
    for (ThreadInfo info : ManagementFactory.getThreadMXBean().dumpAllThreads(true, true)) {
      dump.append(info);
    }
    return dump.toString();
  }

  @ParameterizedTest(name = "{0} cache")
  @EnumSource(CacheMode.class)
  void platformThreads_keepCacheEqualToLog(CacheMode mode) throws Exception {
    hammer(Executors.newFixedThreadPool(WRITERS), mode);
  }

  @ParameterizedTest(name = "{0} cache")
  @EnumSource(CacheMode.class)
  void virtualThreads_keepCacheEqualToLog(CacheMode mode) throws Exception {
    ExecutorService virtual;
    try {
      virtual =
          (ExecutorService)
              Executors.class.getMethod("newVirtualThreadPerTaskExecutor").invoke(null);
    } catch (NoSuchMethodException e) {
      assumeTrue(false, "virtual threads need JDK 21+, running on " + Runtime.version());
      return;
    }
    hammer(virtual, mode);
  }

  @Test
  void completableFutures_onASingleThreadExecutor() throws Exception {
    ExecutorService single = Executors.newSingleThreadExecutor();
    hammerAsync(single);
  }

  @Test
  void completableFutures_onAMultiThreadExecutor() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(4);
    hammerAsync(pool);
  }

  @Test
  void completableFutures_onTheDefaultAsyncExecutor() throws Exception {
    hammerAsync(null);
  }

  /**
   * Writers are tasks that chain CompletableFutures from {@link
   * KVLog#async(java.util.concurrent.Executor)}: each operation is issued from the previous one's
   * completion, on the store's executor.
   */
  private void hammerAsync(ExecutorService asyncExecutor) throws Exception {
    Path db = dir.resolve("kv.db");
    ConcurrentLinkedQueue<Op> history = new ConcurrentLinkedQueue<>();
    Map<String, String> cache;
    try (KVLog<String, String> store = KVLog.load(db)) {
      AsyncKVStore<String, String> async =
          asyncExecutor == null ? store.async() : store.async(asyncExecutor);
      List<CompletableFuture<Void>> writers = new ArrayList<>();
      for (int w = 0; w < WRITERS; w++) {
        Random random = new Random(w);
        int writer = w;
        CompletableFuture<Void> chain = CompletableFuture.completedFuture(null);
        for (int i = 0; i < OPS_PER_WRITER; i++) {
          String key = "key" + random.nextInt(KEYS);
          boolean delete = random.nextInt(5) == 0;
          String value = "w" + writer + "-" + i;
          chain =
              chain.thenCompose(
                  ignored ->
                      delete
                          ? async
                              .delete(key)
                              .thenAccept(p -> history.add(new Op(key, p.orElse(null), null)))
                          : async
                              .set(key, value)
                              .thenAccept(p -> history.add(new Op(key, p.orElse(null), value))));
        }
        writers.add(chain);
      }
      try {
        CompletableFuture.allOf(writers.toArray(new CompletableFuture<?>[0]))
            .get(120, TimeUnit.SECONDS);
      } catch (TimeoutException e) {
        throw new AssertionError("async writers hung; thread dump:\n" + threadDump(), e);
      }
      assertThat(history).hasSize(WRITERS * OPS_PER_WRITER);
      cache = contents(store);
    } finally {
      if (asyncExecutor != null) {
        asyncExecutor.shutdownNow();
      }
    }
    assertReopenAndHistoryAgree(db, history, cache, CacheMode.WHOLE);
  }
}
