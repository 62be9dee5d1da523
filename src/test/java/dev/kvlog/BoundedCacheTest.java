package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kvlog.sqlite.BoundedProbe;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The bounded cache's own promises ({@link KVLogBuilder#cacheSize}), each at the interleaving that
 * would break it, forced with test hooks: a miss that read the table before a write must not
 * install its older value; a miss must not show a commit before its publication (nor half a batch);
 * an outside commit drops the cache, and a miss begun before the drop installs nothing; a hot
 * absent key is read once; open reads no rows.
 */
class BoundedCacheTest {
  @TempDir Path dir;

  /**
   * A thread per task: on 2 cores the common pool has one thread, and on JDK 25 CompletableFuture
   * queues a second task behind a first one paused in a hook.
   */
  private final ExecutorService threads = Executors.newCachedThreadPool();

  @AfterEach
  void clearHooks() {
    BoundedProbe.beforeInstall(null);
    BoundedProbe.afterCommit(null);
    threads.shutdownNow();
  }

  private KVLog<String, String> open(Path db) {
    return KVLog.builder(db)
        .cacheSize(1 << 20)
        .busyTimeout(Duration.ofSeconds(30))
        .externalChangeCheck(Duration.ZERO)
        .open();
  }

  /**
   * A miss reads v1 and stops before installing; a set of v2 is published and then evicted (as
   * Caffeine may evict any entry); the miss then must not install v1, or every later get would
   * return v1 forever. The break this catches: install without the stripe check.
   */
  @Test
  void get_missRacingAWriteAndAnEviction_neverInstallsTheOlderValue() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = open(db)) {
      store.set("k", "v1");
    }
    try (KVLog<String, String> store = open(db)) { // reopened: nothing cached
      CountDownLatch read = new CountDownLatch(1);
      CountDownLatch go = new CountDownLatch(1);
      pauseFirstInstallOf("k", read, go);
      CompletableFuture<Optional<String>> miss =
          CompletableFuture.supplyAsync(() -> store.get("k"), threads);
      assertThat(read.await(30, TimeUnit.SECONDS)).isTrue();
      BoundedProbe.beforeInstall(null);
      assertThat(store.set("k", "v2")).contains("v1");
      BoundedProbe.evict(store.backend(), "k");
      go.countDown();
      // The miss began before the set: either value is a linearizable answer for it.
      assertThat(miss.get(30, TimeUnit.SECONDS)).isPresent();
      assertThat(store.get("k")).contains("v2");
      assertThat(store.get("k")).contains("v2");
    }
  }

  /**
   * A batch of k1 (cached) and k2 (not cached) has committed but is not yet published: a miss on k2
   * must not return the new k2 while a get of k1 still returns the old k1. The break this catches:
   * stripes moved only at publication (a no-op {@code committing}).
   */
  @Test
  void get_missAfterCommitBeforePublication_waitsForThePublication() throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = open(db)) {
      store.write(new WriteBatch<String, String>().set("k1", "old1").set("k2", "old2"));
    }
    try (KVLog<String, String> store = open(db)) {
      assertThat(store.get("k1")).contains("old1"); // cached now; k2 is not
      CountDownLatch committed = new CountDownLatch(1);
      CountDownLatch publish = new CountDownLatch(1);
      BoundedProbe.afterCommit(
          p -> {
            if (committed.getCount() > 0) {
              committed.countDown();
              await(publish);
            }
          });
      CompletableFuture<Void> batch =
          CompletableFuture.runAsync(
              () ->
                  store.write(new WriteBatch<String, String>().set("k1", "new1").set("k2", "new2")),
              threads);
      assertThat(committed.await(30, TimeUnit.SECONDS)).isTrue();
      CompletableFuture<Optional<String>> miss =
          CompletableFuture.supplyAsync(() -> store.get("k2"), threads);
      try {
        Optional<String> early = miss.get(1, TimeUnit.SECONDS);
        // Answered before the publication: it must then agree with what k1 shows now.
        assertThat(early).as("k2 read while the batch is unpublished").contains("old2");
        assertThat(store.get("k1")).contains("old1");
      } catch (java.util.concurrent.TimeoutException waiting) {
        // Waiting for the publication is the other correct answer.
      }
      assertThat(store.get("k1")).contains("old1");
      publish.countDown();
      batch.get(30, TimeUnit.SECONDS);
      assertThat(miss.get(30, TimeUnit.SECONDS)).isPresent();
      assertThat(store.get("k1")).contains("new1");
      assertThat(store.get("k2")).contains("new2");
    }
  }

  /**
   * Another tool changes a cached key; refresh() drops the cache and the new value is read. A miss
   * that read the old value before the drop must not install it afterwards. The break this catches:
   * install without the {@code droppedAt} check.
   */
  @Test
  void refresh_afterAnOutsideCommit_dropsTheCache_andAnEarlierMissInstallsNothing()
      throws Exception {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = open(db);
        Connection other = ExternalSqlite.sqlite(db)) {
      store.set("a", "a1");
      store.set("k", "k1");
      assertThat(store.get("a")).contains("a1"); // cached by the set
      BoundedProbe.evict(store.backend(), "k");
      CountDownLatch read = new CountDownLatch(1);
      CountDownLatch go = new CountDownLatch(1);
      pauseFirstInstallOf("k", read, go);
      CompletableFuture<Optional<String>> miss =
          CompletableFuture.supplyAsync(() -> store.get("k"), threads);
      assertThat(read.await(30, TimeUnit.SECONDS)).isTrue();
      BoundedProbe.beforeInstall(null);
      try (Statement s = other.createStatement()) {
        s.executeUpdate("UPDATE kv SET value = 'a2' WHERE key = 'a'");
        s.executeUpdate("UPDATE kv SET value = 'k2' WHERE key = 'k'");
      }
      assertThat(store.get("a")).as("cached until the store looks").contains("a1");
      assertThat(store.refresh()).isTrue();
      go.countDown();
      assertThat(miss.get(30, TimeUnit.SECONDS)).contains("k1");
      assertThat(store.get("a")).contains("a2");
      assertThat(store.get("k")).contains("k2");
      assertThat(store.stats().externalReloads()).isEqualTo(1);
    }
  }

  /** A write decides on the table when the key is not cached, and on the cache when it is. */
  @Test
  void writes_onKeysNotCached_decideOnTheTable() {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = open(db)) {
      store.set("k", "v1");
      store.set("gone", "x");
    }
    try (KVLog<String, String> store = open(db)) {
      assertThat(store.compareAndSet("k", "v1", "v2")).isTrue();
      assertThat(store.setIfAbsent("gone", "y")).contains("x");
      assertThat(store.delete("gone")).contains("x");
      assertThat(store.delete("gone")).isEmpty();
      assertThat(store.set("k", "v3")).contains("v2");
      assertThat(store.get("k")).contains("v3");
      assertThat(store.get("gone")).isEmpty();
    }
  }

  /**
   * A hot absent key reads the table once: its absence is cached. The break this catches: a miss
   * that installs nothing for an absent key (each get would read the table).
   */
  @Test
  void get_hotAbsentKey_readsTheTableOnce() {
    try (KVLog<String, String> store = open(dir.resolve("kv.db"))) {
      store.set("present", "v");
      long missesBefore = store.stats().cacheMisses();
      for (int i = 0; i < 1_000; i++) {
        assertThat(store.get("absent")).isEmpty();
      }
      KVLogStats stats = store.stats();
      assertThat(stats.cacheMisses() - missesBefore).isEqualTo(1);
      assertThat(stats.cacheHits()).isGreaterThanOrEqualTo(999);
      store.set("absent", "now");
      assertThat(store.get("absent")).contains("now");
      store.delete("absent");
      assertThat(store.get("absent")).isEmpty();
    }
  }

  /** Counted gets: misses read the table, hits do not; size() counts the table's rows. */
  @Test
  void stats_countHitsAndMisses_andEntriesFromTheTable() {
    Path db = dir.resolve("kv.db");
    try (KVLog<String, String> store = open(db)) {
      for (int i = 0; i < 100; i++) {
        store.set("k" + i, "v" + i);
      }
    }
    try (KVLog<String, String> store = open(db)) {
      for (int i = 0; i < 100; i++) {
        assertThat(store.get("k" + i)).contains("v" + i);
        assertThat(store.get("k" + i)).contains("v" + i);
      }
      KVLogStats stats = store.stats();
      assertThat(stats.cacheMisses()).isEqualTo(100);
      assertThat(stats.cacheHits()).isEqualTo(100);
      assertThat(stats.cacheHitRate()).isEqualTo(0.5);
      assertThat(stats.entries()).as("not counted: that reads every key").isEqualTo(-1);
      assertThat(store.size()).isEqualTo(100);
    }
  }

  /**
   * Open reads no rows: a store whose data pages in the middle of the file are garbage opens, and
   * keys on sound pages are read; the whole-table open of the same file fails (the negative
   * control: it reads every row).
   */
  @Test
  void open_readsNoRows_soADamagedDataPageIsNotRead() throws Exception {
    Path db = dir.resolve("kv.db");
    String value = "x".repeat(300); // rows stay on their leaf pages: no overflow pages
    int rows = 12_000;
    try (KVLog<String, String> store = KVLog.open(db)) {
      for (int from = 0; from < rows; from += 500) {
        WriteBatch<String, String> batch = new WriteBatch<>();
        for (int i = from; i < from + 500; i++) {
          batch.set(String.format("k%05d", i), value);
        }
        store.write(batch);
      }
    }
    long size = Files.size(db);
    try (RandomAccessFile f = new RandomAccessFile(db.toFile(), "rw")) {
      byte[] garbage = new byte[4096 * 4];
      java.util.Arrays.fill(garbage, (byte) 0x5A);
      f.seek((size / 2) / 4096 * 4096); // four whole pages in the middle
      f.write(garbage);
    }
    assertThatThrownBy(() -> KVLog.builder(db).verifyOnOpen(false).open().close())
        .isInstanceOf(KVLogException.class);
    try (KVLog<String, String> store = KVLog.builder(db).cacheSize(1 << 20).open()) {
      int read = 0;
      for (int i = 0; i < rows; i += 97) {
        try {
          if (store.get(String.format("k%05d", i)).isPresent()) {
            read++;
          }
        } catch (KVLogException onTheDamagedPages) {
          // A miss that lands on the damaged pages fails, naming the damage.
        }
      }
      assertThat(read).isGreaterThan(rows / 97 / 2);
    }
  }

  /**
   * Many threads on a small key set with a cache of a few entries: every get returns a version at
   * least as new as the last acknowledged set of that key before the get began.
   */
  @Test
  void get_underConcurrentWritesAndEvictions_neverGoesBackInTime() throws Exception {
    int keys = 32;
    AtomicLongArray acked = new AtomicLongArray(keys);
    AtomicReference<String> problem = new AtomicReference<>();
    try (KVLog<String, String> store =
        KVLog.builder(dir.resolve("kv.db")).cacheSize(2_000).open()) {
      ExecutorService pool = Executors.newFixedThreadPool(6);
      List<Future<?>> tasks = new ArrayList<>();
      long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
      for (int w = 0; w < 2; w++) {
        int writer = w;
        tasks.add(
            pool.submit(
                () -> {
                  for (long n = 1; System.nanoTime() < end; n++) {
                    for (int k = writer; k < keys; k += 2) {
                      store.set("k" + k, Long.toString(n));
                      acked.set(k, n);
                    }
                  }
                }));
      }
      for (int r = 0; r < 4; r++) {
        tasks.add(
            pool.submit(
                () -> {
                  java.util.Random random = new java.util.Random();
                  while (System.nanoTime() < end && problem.get() == null) {
                    int k = random.nextInt(keys);
                    long floor = acked.get(k);
                    long seen = store.get("k" + k).map(Long::parseLong).orElse(0L);
                    if (seen < floor) {
                      problem.set(
                          "k" + k + " read " + seen + " after " + floor + " was acknowledged");
                    }
                  }
                }));
      }
      for (Future<?> t : tasks) {
        t.get(60, TimeUnit.SECONDS);
      }
      pool.shutdown();
      assertThat(problem.get()).isNull();
      assertThat(store.stats().cacheMisses()).isPositive();
    }
  }

  /**
   * An async get may read the file: it runs on the executor, not on the caller's thread (which the
   * whole-table mode uses, its gets never waiting for I/O). The break this catches: async gets run
   * inline in bounded mode.
   */
  @Test
  void asyncGet_runsOnTheExecutor_inBoundedMode_andInlineOtherwise() throws Exception {
    java.util.concurrent.atomic.AtomicInteger ran = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.Executor counting =
        task -> {
          ran.incrementAndGet();
          task.run();
        };
    try (KVLog<String, String> store = open(dir.resolve("b.db"))) {
      store.set("k", "v");
      assertThat(store.async(counting).get("k").get(30, TimeUnit.SECONDS)).contains("v");
      assertThat(ran).hasValue(1);
    }
    ran.set(0);
    try (KVLog<String, String> store = KVLog.open(dir.resolve("w.db"))) {
      store.set("k", "v");
      assertThat(store.async(counting).get("k").get(30, TimeUnit.SECONDS)).contains("v");
      assertThat(ran).hasValue(0);
    }
  }

  @Test
  void cacheSize_belowOne_isRefused_andPostgresRefusesIt() {
    assertThatThrownBy(() -> KVLog.builder(dir.resolve("kv.db")).cacheSize(0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("cacheSize must be at least 1");
    assertThatThrownBy(
            () -> KVLog.builder("jdbc:postgresql://127.0.0.1:5432/test").cacheSize(1 << 20).open())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("cacheSize");
  }

  /** The first miss of {@code key} counts {@code read} down, then waits for {@code go}. */
  private static void pauseFirstInstallOf(String key, CountDownLatch read, CountDownLatch go) {
    BoundedProbe.beforeInstall(
        k -> {
          if (k.equals(key) && read.getCount() > 0) {
            read.countDown();
            await(go);
          }
        });
  }

  private static void await(CountDownLatch latch) {
    try {
      if (!latch.await(30, TimeUnit.SECONDS)) {
        throw new IllegalStateException("the test never released the hook");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
