package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Linearizability of get, set, delete, setIfAbsent and compareAndSet, checked against a sequential
 * map. Threads run random operations on a few keys and record when each call started and returned;
 * a Wing–Gong search then looks for an order of the calls that respects real time and in which
 * every call returns what the sequential model returns. Linearizability is local, so each key's
 * history is checked alone.
 *
 * <p>Multi-key histories (batches, whole-store ranges, transactions of another connection on the
 * same file, some holding SQLite's write lock while KVLog's writers wait) are checked as one
 * history by {@link MultiKeyHistory}. A second, simpler and sharper check runs many more versions:
 * each version sets k0..k7 to one number atomically (a batch, or an external transaction picked up
 * by a reload), and readers reading those keys one by one, or with {@code range}/{@code scan}, must
 * never see a number lower than one they saw before (so no part of a write is visible alone, and no
 * scan is ahead of a later {@code get}).
 */
class LinearizabilityTest {
  static final int THREADS = 4;
  static final int OPS_PER_THREAD = 14;
  static final int KEYS = 2;
  static final int ROUNDS = Integer.getInteger("kvlog.linearizability.rounds", 25);

  @TempDir Path dir;

  enum Kind {
    GET,
    SET,
    DELETE,
    SET_IF_ABSENT,
    CAS
  }

  /** One completed call: arguments, result, and its real-time interval. */
  record Call(
      Kind kind, String key, String arg, String expected, Object result, long start, long end) {}

  /**
   * The model's answer to {@code c} in state {@code value}; the new state is in {@code next[0]}.
   */
  static Object apply(Call c, String value, String[] next) {
    next[0] = value;
    switch (c.kind()) {
      case GET:
        return value;
      case SET:
        next[0] = c.arg();
        return value;
      case DELETE:
        next[0] = null;
        return value;
      case SET_IF_ABSENT:
        if (value == null) {
          next[0] = c.arg();
        }
        return value;
      case CAS:
        if (Objects.equals(value, c.expected())) {
          next[0] = c.arg();
          return Boolean.TRUE;
        }
        return Boolean.FALSE;
      default:
        throw new AssertionError(c);
    }
  }

  /** True if the calls (of one key, at most 63) have a linearization from {@code initial}. */
  static boolean linearizable(List<Call> calls, String initial) {
    return search(calls, 0L, initial, new HashSet<>());
  }

  private static boolean search(List<Call> calls, long done, String value, Set<String> seen) {
    if (Long.bitCount(done) == calls.size()) {
      return true;
    }
    if (!seen.add(done + "|" + value)) {
      return false; // this set of calls leading to this state was already explored
    }
    long earliestEnd = Long.MAX_VALUE;
    for (int i = 0; i < calls.size(); i++) {
      if ((done & (1L << i)) == 0) {
        earliestEnd = Math.min(earliestEnd, calls.get(i).end());
      }
    }
    String[] next = new String[1];
    for (int i = 0; i < calls.size(); i++) {
      Call c = calls.get(i);
      // Only a call that started before every other pending call ended can come next.
      if ((done & (1L << i)) != 0 || c.start() > earliestEnd) {
        continue;
      }
      if (Objects.equals(apply(c, value, next), c.result())
          && search(calls, done | (1L << i), next[0], seen)) {
        return true;
      }
    }
    return false;
  }

  @ParameterizedTest(name = "{0} cache, group commit {1}")
  @CsvSource({"WHOLE, true", "WHOLE, false", "BOUNDED, true", "BOUNDED, false"})
  void concurrentCalls_areLinearizable(CacheMode mode, boolean groupCommit) throws Exception {
    int checked = 0;
    String pad = mode.bounded() ? PAD : "";
    KVLogStats stats;
    try (KVLog<String, String> store =
        mode.builder(dir.resolve("kv-" + groupCommit + ".db")).groupCommit(groupCommit).open()) {
      for (int round = 0; round < mode.scaled(ROUNDS); round++) {
        Map<String, String> before = new HashMap<>();
        for (int k = 0; k < KEYS; k++) {
          before.put("k" + k, unpad(store.get("k" + k).orElse(null), pad));
        }
        Map<String, List<Call>> histories = round(store, round, pad);
        for (Map.Entry<String, List<Call>> e : histories.entrySet()) {
          assertThat(linearizable(e.getValue(), before.get(e.getKey())))
              .as("round %d, key %s: no linearization of %s", round, e.getKey(), e.getValue())
              .isTrue();
          checked += e.getValue().size();
        }
      }
      stats = store.stats();
    }
    TortureSummary.record(
        "linearizability ("
            + (groupCommit ? "group commit" : "per-op commit")
            + missesNote(mode, stats)
            + "), calls checked",
        checked,
        0,
        0);
    assertMissesAreCommon(mode, stats, 15); // measured 35-40%
  }

  /**
   * Appended to every value written in bounded mode (and taken off what is read, so that the
   * histories stay readable): 5,000 chars make every entry weigh more than all of {@link
   * CacheMode#SMALL_CACHE}, so Caffeine evicts each one at its next maintenance, and many gets
   * (35-60% measured; a hot key is hit between its install and that maintenance) miss and read
   * SQLite while other threads write the same key. With 3,000 chars (two entries do not fit) only
   * 10-15% missed: W-TinyLFU keeps the hotter key.
   */
  static final String PAD = "." + "p".repeat(5_000);

  /** {@code v} without {@code pad}; a value that lacks it is returned marked, so it fails. */
  static String unpad(String v, String pad) {
    if (v == null || pad.isEmpty()) {
      return v;
    }
    return v.endsWith(pad) ? v.substring(0, v.length() - pad.length()) : v + " (no pad)";
  }

  /** ", bounded: N% of G gets missed" in bounded mode, else "". */
  static String missesNote(CacheMode mode, KVLogStats stats) {
    if (!mode.bounded()) {
      return "";
    }
    long gets = stats.cacheHits() + stats.cacheMisses();
    return String.format(
        ", bounded cache: %.0f%% of %,d gets missed", 100.0 * stats.cacheMisses() / gets, gets);
  }

  /**
   * In bounded mode, at least {@code percent}% of the gets must have missed: else the variant no
   * longer tests what it is for (a miss racing a write), and its keys or sizes need changing. The
   * floors are well below what was measured (see each caller), since Caffeine evicts on its own
   * schedule.
   */
  static void assertMissesAreCommon(CacheMode mode, KVLogStats stats, int percent) {
    if (mode.bounded()) {
      assertThat(stats.cacheMisses() * 100)
          .as("gets that missed the bounded cache, times 100 (%s)", missesNote(mode, stats))
          .isGreaterThanOrEqualTo((stats.cacheHits() + stats.cacheMisses()) * percent);
    }
  }

  /**
   * Runs one round of concurrent calls and returns them, grouped by key; every value written ends
   * with {@code pad}, which the recorded calls leave out.
   */
  static Map<String, List<Call>> round(KVLog<String, String> store, long seed, String pad)
      throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    CountDownLatch start = new CountDownLatch(1);
    List<Future<List<Call>>> futures = new ArrayList<>();
    for (int t = 0; t < THREADS; t++) {
      int thread = t;
      futures.add(
          pool.submit(
              () -> {
                Random r = new Random(seed * 31 + thread);
                List<Call> calls = new ArrayList<>();
                start.await();
                for (int i = 0; i < OPS_PER_THREAD; i++) {
                  String key = "k" + r.nextInt(KEYS);
                  Kind kind = Kind.values()[r.nextInt(Kind.values().length)];
                  String arg = "t" + thread + "-" + i + pad;
                  String expected = r.nextInt(3) == 0 ? null : store.get(key).orElse(null);
                  if (kind == Kind.CAS && r.nextInt(4) == 0) {
                    arg = null; // conditional delete
                  }
                  long t0 = System.nanoTime();
                  Object result =
                      switch (kind) {
                        case GET -> store.get(key).orElse(null);
                        case SET -> store.set(key, arg).orElse(null);
                        case DELETE -> store.delete(key).orElse(null);
                        case SET_IF_ABSENT -> store.setIfAbsent(key, arg).orElse(null);
                        case CAS -> store.compareAndSet(key, expected, arg);
                      };
                  long t1 = System.nanoTime();
                  if (result instanceof String s) {
                    result = unpad(s, pad);
                  }
                  calls.add(
                      new Call(kind, key, unpad(arg, pad), unpad(expected, pad), result, t0, t1));
                }
                return calls;
              }));
    }
    start.countDown();
    Map<String, List<Call>> byKey = new HashMap<>();
    for (Future<List<Call>> f : futures) {
      for (Call c : f.get(60, TimeUnit.SECONDS)) {
        byKey.computeIfAbsent(c.key(), k -> new ArrayList<>()).add(c);
      }
    }
    pool.shutdown();
    return byKey;
  }

  /** The checker itself can fail: a lost update has no linearization. */
  @Test
  void checker_rejectsALostUpdate() {
    // Two overlapping sets both claim the prior value "a": one of them must have seen the other.
    List<Call> calls =
        List.of(
            new Call(Kind.SET, "k", "b", null, "a", 0, 10),
            new Call(Kind.SET, "k", "c", null, "a", 1, 11));
    assertThat(linearizable(calls, "a")).isFalse();
    // Sequential versions are fine.
    List<Call> ok =
        List.of(
            new Call(Kind.SET, "k", "b", null, "a", 0, 10),
            new Call(Kind.SET, "k", "c", null, "b", 1, 11),
            new Call(Kind.GET, "k", null, null, "c", 12, 13));
    assertThat(linearizable(ok, "a")).isTrue();
    // A read of a value after a later one was already read back: stale read.
    List<Call> stale =
        List.of(
            new Call(Kind.SET, "k", "b", null, "a", 0, 1),
            new Call(Kind.GET, "k", null, null, "b", 2, 3),
            new Call(Kind.GET, "k", null, null, "a", 4, 5));
    assertThat(linearizable(stale, "a")).isFalse();
  }

  // ---------------------------------------------------------------------------------------------
  // Multi-key histories: batches, ranges and external transactions, one Wing–Gong search per round.

  static final int MK_KEYS = 3;
  static final int MK_THREADS = 3;
  static final int MK_OPS_PER_THREAD = 12;
  static final int EXTERNAL_TXS = 4;

  @ParameterizedTest(name = "{0} cache, group commit {1}")
  @CsvSource({"WHOLE, true", "WHOLE, false", "BOUNDED, true", "BOUNDED, false"})
  void multiKeyHistories_withBatchesAndRanges_areLinearizable(CacheMode mode, boolean groupCommit)
      throws Exception {
    checkMultiKeyRounds(mode, groupCommit, false);
  }

  /**
   * In bounded mode a get may read another connection's commit on a miss before the writer has
   * looked, while a cached key (even the same key, installed by a miss that read before the commit)
   * still shows the value before it (see BoundedCache, "Other connections' commits"). So there the
   * gets of a key that overlap an external transaction's window (from its BEGIN to the end of the
   * first write or refresh that must have seen it) are left out of the check; everything else must
   * still linearize.
   */
  @ParameterizedTest(name = "{0} cache, group commit {1}")
  @CsvSource({"WHOLE, true", "WHOLE, false", "BOUNDED, true", "BOUNDED, false"})
  void multiKeyHistories_withExternalTransactionsHoldingTheLock_areLinearizable(
      CacheMode mode, boolean groupCommit) throws Exception {
    checkMultiKeyRounds(mode, groupCommit, true);
  }

  private void checkMultiKeyRounds(CacheMode mode, boolean groupCommit, boolean external)
      throws Exception {
    Path db = dir.resolve("mk-" + groupCommit + "-" + external + ".db");
    String pad = mode.bounded() ? PAD : "";
    int checked = 0;
    int unchecked = 0;
    KVLogStats stats;
    try (KVLog<String, String> store = mode.builder(db).groupCommit(groupCommit).open();
        Connection ext = external ? externalConnection(db) : null) {
      for (int round = 0; round < mode.scaled(ROUNDS); round++) {
        store.refresh(); // from here on the cache equals the table
        Map<String, String> before = new HashMap<>();
        for (int k = 0; k < MK_KEYS; k++) {
          String key = "k" + k;
          store.get(key).ifPresent(v -> before.put(key, unpad(v, pad)));
        }
        List<MultiKeyHistory.Call> calls = multiKeyRound(store, ext, round, pad);
        if (mode.bounded() && external) {
          int all = calls.size();
          calls = MultiKeyHistory.withoutGetsInExternalWindows(calls);
          unchecked += all - calls.size();
        }
        if (!MultiKeyHistory.linearizable(calls, before)) {
          throw new AssertionError(
              String.format(
                  "round %d (%s, %s): no linearization from %s of these calls (reads that do not"
                      + " matter left out; times in µs, external calls end when a later write or"
                      + " refresh must have seen them):%s",
                  round,
                  mode + " cache, " + (groupCommit ? "group commit" : "per-op commit"),
                  external ? "external writer" : "KVLog only",
                  before,
                  MultiKeyHistory.describe(MultiKeyHistory.withoutNeedlessReads(calls, before))));
        }
        checked += calls.size();
      }
      stats = store.stats();
    }
    TortureSummary.record(
        "multi-key linearizability ("
            + (groupCommit ? "group commit" : "per-op commit")
            + (external ? ", external writer" : "")
            + missesNote(mode, stats)
            + (unchecked > 0 ? ", " + unchecked + " gets in external windows not checked" : "")
            + "), calls checked",
        checked,
        0,
        0);
    assertMissesAreCommon(mode, stats, 30); // measured 62%
  }

  /** A plain sqlite-jdbc connection on the store's file, as a {@code sqlite3} shell would be. */
  static Connection externalConnection(Path db) throws SQLException {
    return DriverManager.getConnection("jdbc:sqlite:" + db + "?busy_timeout=10000");
  }

  /**
   * Runs one round: {@link #MK_THREADS} threads of random KVLog calls on {@link #MK_KEYS} keys and,
   * if {@code ext} is given, a thread that commits {@link #EXTERNAL_TXS} transactions on it, some
   * holding the write lock for a while (so KVLog's writers wait in the busy handler and go on after
   * the commit), some followed by {@code refresh()}. Returns every call, external ones bounded.
   */
  static List<MultiKeyHistory.Call> multiKeyRound(
      KVLog<String, String> store, Connection ext, long seed, String pad) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(MK_THREADS + 1);
    CountDownLatch start = new CountDownLatch(1);
    List<long[]> refreshes = java.util.Collections.synchronizedList(new ArrayList<>());
    List<Future<List<MultiKeyHistory.Call>>> futures = new ArrayList<>();
    for (int t = 0; t < MK_THREADS; t++) {
      int thread = t;
      futures.add(
          pool.submit(() -> kvlogCalls(store, new Random(seed * 31 + thread), thread, start, pad)));
    }
    if (ext != null) {
      futures.add(
          pool.submit(
              () ->
                  externalCalls(
                      store, ext, new Random(seed * 17 + 5), seed, start, refreshes, pad)));
    }
    start.countDown();
    List<MultiKeyHistory.Call> calls = new ArrayList<>();
    for (Future<List<MultiKeyHistory.Call>> f : futures) {
      calls.addAll(f.get(60, TimeUnit.SECONDS));
    }
    pool.shutdown();
    return MultiKeyHistory.boundExternal(calls, refreshes);
  }

  private static List<MultiKeyHistory.Call> kvlogCalls(
      KVLog<String, String> store, Random r, int thread, CountDownLatch start, String pad)
      throws Exception {
    List<MultiKeyHistory.Call> calls = new ArrayList<>();
    start.await();
    for (int i = 0; i < MK_OPS_PER_THREAD; i++) {
      String key = "k" + r.nextInt(MK_KEYS);
      String arg = "t" + thread + "-" + i;
      String who = "t" + thread;
      int pick = r.nextInt(9);
      long t0;
      MultiKeyHistory.Call call;
      switch (pick) {
        case 0, 1 -> {
          t0 = System.nanoTime();
          String v = unpad(store.get(key).orElse(null), pad);
          call =
              MultiKeyHistory.Call.single(
                  MultiKeyHistory.Kind.GET, key, null, null, v, t0, System.nanoTime(), who);
        }
        case 2 -> {
          t0 = System.nanoTime();
          String v = unpad(store.set(key, arg + pad).orElse(null), pad);
          call =
              MultiKeyHistory.Call.single(
                  MultiKeyHistory.Kind.SET, key, arg, null, v, t0, System.nanoTime(), who);
        }
        case 3 -> {
          t0 = System.nanoTime();
          String v = unpad(store.delete(key).orElse(null), pad);
          call =
              MultiKeyHistory.Call.single(
                  MultiKeyHistory.Kind.DELETE, key, null, null, v, t0, System.nanoTime(), who);
        }
        case 4 -> {
          t0 = System.nanoTime();
          String v = unpad(store.setIfAbsent(key, arg + pad).orElse(null), pad);
          call =
              MultiKeyHistory.Call.single(
                  MultiKeyHistory.Kind.SET_IF_ABSENT,
                  key,
                  arg,
                  null,
                  v,
                  t0,
                  System.nanoTime(),
                  who);
        }
        case 5 -> {
          String expected = r.nextInt(3) == 0 ? null : unpad(store.get(key).orElse(null), pad);
          String update = r.nextInt(4) == 0 ? null : arg;
          t0 = System.nanoTime();
          boolean v = store.compareAndSet(key, padded(expected, pad), padded(update, pad));
          call =
              MultiKeyHistory.Call.single(
                  MultiKeyHistory.Kind.CAS, key, update, expected, v, t0, System.nanoTime(), who);
        }
        case 6, 7 -> {
          List<MultiKeyHistory.Change> changes = randomChanges(r, arg);
          WriteBatch<String, String> batch = new WriteBatch<>();
          for (MultiKeyHistory.Change c : changes) {
            if (c.value() == null) {
              batch.delete(c.key());
            } else {
              batch.set(c.key(), c.value() + pad);
            }
          }
          t0 = System.nanoTime();
          store.write(batch);
          call =
              new MultiKeyHistory.Call(
                  MultiKeyHistory.Kind.BATCH,
                  null,
                  null,
                  null,
                  changes,
                  null,
                  t0,
                  System.nanoTime(),
                  who);
        }
        default -> {
          t0 = System.nanoTime();
          Map<String, String> seen = new java.util.LinkedHashMap<>();
          store.range(null, null).forEach(e -> seen.put(e.getKey(), unpad(e.getValue(), pad)));
          long t1 = System.nanoTime();
          assertThat(new ArrayList<>(seen.keySet())).as("range returns keys in order").isSorted();
          call =
              new MultiKeyHistory.Call(
                  MultiKeyHistory.Kind.RANGE,
                  null,
                  null,
                  null,
                  List.of(),
                  new java.util.TreeMap<>(seen),
                  t0,
                  t1,
                  who);
        }
      }
      calls.add(call);
    }
    return calls;
  }

  /**
   * Two or three changes on distinct keys, each a set to {@code tag}-n or (one in four) a delete.
   */
  private static List<MultiKeyHistory.Change> randomChanges(Random r, String tag) {
    List<MultiKeyHistory.Change> changes = new ArrayList<>();
    int first = r.nextInt(MK_KEYS);
    int n = 2 + r.nextInt(MK_KEYS - 1);
    for (int j = 0; j < n; j++) {
      String key = "k" + (first + j) % MK_KEYS;
      changes.add(new MultiKeyHistory.Change(key, r.nextInt(4) == 0 ? null : tag + "." + j));
    }
    return changes;
  }

  private static List<MultiKeyHistory.Call> externalCalls(
      KVLog<String, String> store,
      Connection ext,
      Random r,
      long round,
      CountDownLatch start,
      List<long[]> refreshes,
      String pad)
      throws Exception {
    List<MultiKeyHistory.Call> calls = new ArrayList<>();
    start.await();
    for (int i = 0; i < EXTERNAL_TXS; i++) {
      Thread.sleep(r.nextInt(4));
      List<MultiKeyHistory.Change> changes = randomChanges(r, "x" + round + "-" + i);
      long t0 = System.nanoTime();
      try (Statement s = ext.createStatement()) {
        s.execute("BEGIN IMMEDIATE");
        externalWrite(ext, changes, pad);
        if (r.nextBoolean()) {
          Thread.sleep(20 + r.nextInt(40)); // KVLog's writers now wait in the busy handler
        }
        s.execute("COMMIT");
      }
      long t1 = System.nanoTime();
      calls.add(
          new MultiKeyHistory.Call(
              MultiKeyHistory.Kind.EXTERNAL, null, null, null, changes, null, t0, t1, "ext"));
      if (r.nextBoolean()) {
        long r0 = System.nanoTime();
        store.refresh();
        refreshes.add(new long[] {r0, System.nanoTime()});
      }
    }
    return calls;
  }

  /** Applies {@code changes} on {@code ext} (inside the caller's transaction, if any). */
  static void externalWrite(Connection ext, List<MultiKeyHistory.Change> changes)
      throws SQLException {
    externalWrite(ext, changes, "");
  }

  /** {@code v + pad}, or null. */
  static String padded(String v, String pad) {
    return v == null ? null : v + pad;
  }

  /** Applies {@code changes} on {@code ext}, each value ending with {@code pad}. */
  static void externalWrite(Connection ext, List<MultiKeyHistory.Change> changes, String pad)
      throws SQLException {
    try (PreparedStatement upsert =
            ext.prepareStatement(
                "INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
        PreparedStatement delete = ext.prepareStatement("DELETE FROM kv WHERE key = ?")) {
      for (MultiKeyHistory.Change c : changes) {
        if (c.value() == null) {
          delete.setString(1, c.key());
          delete.executeUpdate();
        } else {
          upsert.setString(1, c.key());
          upsert.setString(2, c.value() + pad);
          upsert.executeUpdate();
        }
      }
    }
  }

  /** The multi-key checker can fail: partial batches, ranges ahead of gets, unseen commits. */
  @Test
  void multiKeyChecker_rejectsPartialBatchesStaleRangesAndIgnoredExternalCommits() {
    var set = MultiKeyHistory.Kind.BATCH;
    List<MultiKeyHistory.Change> both =
        List.of(new MultiKeyHistory.Change("a", "1"), new MultiKeyHistory.Change("b", "1"));
    Map<String, String> zero = Map.of("a", "0", "b", "0");
    // A reader sees a=1 and then, still during the batch, b=0: half the batch.
    List<MultiKeyHistory.Call> partial =
        List.of(
            new MultiKeyHistory.Call(set, null, null, null, both, null, 0, 100, "w"),
            get("a", "1", 10, 20),
            get("b", "0", 30, 40));
    assertThat(MultiKeyHistory.linearizable(partial, zero)).isFalse();
    // The same reads in the other order are fine (the batch came between them).
    List<MultiKeyHistory.Call> whole =
        List.of(
            new MultiKeyHistory.Call(set, null, null, null, both, null, 0, 100, "w"),
            get("b", "0", 10, 20),
            get("a", "1", 30, 40));
    assertThat(MultiKeyHistory.linearizable(whole, zero)).isTrue();
    // A range that shows the batch, then a get that does not: the range was ahead of get.
    List<MultiKeyHistory.Call> rangeAhead =
        List.of(
            new MultiKeyHistory.Call(set, null, null, null, both, null, 0, 100, "w"),
            new MultiKeyHistory.Call(
                MultiKeyHistory.Kind.RANGE,
                null,
                null,
                null,
                List.of(),
                new java.util.TreeMap<>(Map.of("a", "1", "b", "1")),
                10,
                20,
                "r"),
            get("a", "0", 30, 40));
    assertThat(MultiKeyHistory.linearizable(rangeAhead, zero)).isFalse();
    // An external commit that a later write did not see: the write's prior value is stale.
    List<MultiKeyHistory.Call> ignored =
        MultiKeyHistory.boundExternal(
            List.of(
                new MultiKeyHistory.Call(
                    MultiKeyHistory.Kind.EXTERNAL, null, null, null, both, null, 0, 10, "ext"),
                MultiKeyHistory.Call.single(
                    MultiKeyHistory.Kind.SET, "a", "2", null, "0", 20, 30, "t"),
                get("b", "0", 40, 50)),
            List.of());
    assertThat(MultiKeyHistory.linearizable(ignored, zero)).isFalse();
    // Reads may lag behind an external commit until a write or refresh observes it.
    List<MultiKeyHistory.Call> lagging =
        MultiKeyHistory.boundExternal(
            List.of(
                new MultiKeyHistory.Call(
                    MultiKeyHistory.Kind.EXTERNAL, null, null, null, both, null, 0, 10, "ext"),
                get("b", "0", 20, 30),
                MultiKeyHistory.Call.single(
                    MultiKeyHistory.Kind.SET, "a", "2", null, "1", 40, 50, "t"),
                get("b", "1", 60, 70)),
            List.of());
    assertThat(MultiKeyHistory.linearizable(lagging, zero)).isTrue();
    // ... but not after a refresh that started after the commit returned.
    List<MultiKeyHistory.Call> afterRefresh =
        MultiKeyHistory.boundExternal(
            List.of(
                new MultiKeyHistory.Call(
                    MultiKeyHistory.Kind.EXTERNAL, null, null, null, both, null, 0, 10, "ext"),
                get("b", "0", 40, 50)),
            List.of(new long[] {20, 30}));
    assertThat(MultiKeyHistory.linearizable(afterRefresh, zero)).isFalse();
  }

  private static MultiKeyHistory.Call get(String key, String value, long start, long end) {
    return MultiKeyHistory.Call.single(
        MultiKeyHistory.Kind.GET, key, null, null, value, start, end, "r");
  }

  // ---------------------------------------------------------------------------------------------
  // Monotonic readers: each version sets k0..k7 to one number at once; no reader may go back.

  static final int VERSION_KEYS = 8;
  static final int VERSIONS = ROUNDS * 8;
  static final int READERS = 3;

  enum VersionWriter {
    /** WriteBatch per version, per-op commit. */
    BATCH,
    /** WriteBatch per version, group commit, with another writer so that groups form. */
    BATCH_IN_GROUPS,
    /** An external transaction per version, picked up by refresh() or another writer's write. */
    EXTERNAL
  }

  static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> versionModes() {
    return java.util.stream.Stream.of(CacheMode.values())
        .flatMap(
            c ->
                java.util.stream.Stream.of(VersionWriter.values())
                    .map(w -> org.junit.jupiter.params.provider.Arguments.of(w, c)));
  }

  /**
   * In bounded mode with an EXTERNAL writer, a get may read a version on a miss before the writer
   * has looked, and a later get of another key may still hit the version before it: there gets are
   * checked only against the versions a completed refresh published (and scans, which sync) and the
   * versions whose COMMIT had begun, not against each other. Every other check is the same.
   */
  @ParameterizedTest(name = "{0}, {1} cache")
  @org.junit.jupiter.params.provider.MethodSource("versionModes")
  void readers_neverSeePartOfAWrite_andScansAreNeverAheadOfGet(VersionWriter mode, CacheMode cache)
      throws Exception {
    Path db = dir.resolve("versions-" + mode + ".db");
    int versions = cache.scaled(mode == VersionWriter.EXTERNAL ? VERSIONS / 2 : VERSIONS);
    // The last version whose COMMIT began, and the last one published by a refresh that returned.
    java.util.concurrent.atomic.AtomicInteger begun =
        new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.atomic.AtomicInteger published =
        new java.util.concurrent.atomic.AtomicInteger();
    boolean getsLagOrLead = cache.bounded() && mode == VersionWriter.EXTERNAL;
    KVLogStats stats;
    // In bounded mode each commit waits a little before it is published, so that misses often
    // read the table while a version is committed but not yet in the cache (and hits of the keys
    // a miss installed may show the version before it): where a miss must not get ahead.
    try (dev.kvlog.sqlite.SlowPublication slow =
            cache.bounded() ? dev.kvlog.sqlite.SlowPublication.afterEachCommit(200) : null;
        KVLog<String, String> store =
            cache.builder(db).groupCommit(mode == VersionWriter.BATCH_IN_GROUPS).open()) {
      String pad = cache.bounded() ? PAD : ""; // every version key outweighs the cache
      store.write(versionBatch(0, pad));
      // Filler rows, so that a reload spends longer between the eight keys it updates.
      WriteBatch<String, String> filler = new WriteBatch<>();
      for (int f = 0; f < (mode == VersionWriter.EXTERNAL ? 5_000 : 100); f++) {
        filler.set(String.format("f%05d", f), "filler");
      }
      store.write(filler);
      store.set("other", "o");
      int expectedSize = store.size(); // every version replaces one z-key: the size never changes
      java.util.concurrent.atomic.AtomicBoolean done =
          new java.util.concurrent.atomic.AtomicBoolean();
      List<String> violations = java.util.Collections.synchronizedList(new ArrayList<>());
      ExecutorService pool = Executors.newFixedThreadPool(READERS + 2);
      List<Future<Long>> futures = new ArrayList<>();
      for (int t = 0; t < READERS; t++) {
        int reader = t; // reader 0 only gets, reader 1 everything, reader 2 only size()
        futures.add(
            pool.submit(
                () ->
                    readVersions(
                        store,
                        new Random(reader),
                        reader,
                        expectedSize,
                        done,
                        violations,
                        pad,
                        getsLagOrLead ? new VersionBounds(published, begun) : null)));
      }
      Future<?> other =
          pool.submit(
              () -> {
                // Unrelated writes: they join groups, and each checks for external commits.
                for (int i = 0; !done.get(); i++) {
                  store.set("other", "o" + i);
                  if (mode != VersionWriter.BATCH_IN_GROUPS) {
                    Thread.sleep(1);
                  }
                }
                return null;
              });
      try (Connection ext = mode == VersionWriter.EXTERNAL ? externalConnection(db) : null) {
        for (int i = 1; i <= versions; i++) {
          begun.set(i);
          if (ext == null) {
            store.write(versionBatch(i, pad));
          } else {
            try (Statement tx = ext.createStatement();
                PreparedStatement update =
                    ext.prepareStatement("UPDATE kv SET value = ? WHERE key LIKE 'k%'");
                PreparedStatement swap =
                    ext.prepareStatement("UPDATE kv SET key = ? WHERE key = ?")) {
              tx.execute("BEGIN IMMEDIATE");
              update.setString(1, version(i) + pad);
              assertThat(update.executeUpdate()).isEqualTo(VERSION_KEYS);
              swap.setString(1, "z" + version(i));
              swap.setString(2, "z" + version(i - 1));
              assertThat(swap.executeUpdate()).isEqualTo(1);
              tx.execute("COMMIT");
            }
            store.refresh();
            published.set(i);
          }
        }
      } finally {
        done.set(true);
      }
      long passes = 0;
      for (Future<Long> f : futures) {
        long n = f.get(60, TimeUnit.SECONDS);
        assertThat(n).as("passes of a reader").isPositive();
        passes += n;
      }
      other.get(60, TimeUnit.SECONDS);
      pool.shutdown();
      store.refresh();
      assertThat(violations)
          .as("readers that went back to an older version (%s, %s cache)", mode, cache)
          .isEmpty();
      for (int k = 0; k < VERSION_KEYS; k++) {
        assertThat(store.get(versionKey(k)).map(v -> unpad(v, pad)))
            .as("%s after the last version", versionKey(k))
            .contains(version(versions));
      }
      stats = store.stats();
      TortureSummary.record(
          "monotonic readers of 8-key versions ("
              + mode
              + missesNote(cache, stats)
              + "), read passes",
          passes,
          0,
          0);
    }
    // Readers read far faster than versions are written, so most of their gets hit the entry the
    // first miss after each eviction installed: misses are counted per version instead.
    assertThat(cache.bounded() ? stats.cacheMisses() : versions)
        .as("gets that missed the bounded cache (%s), at least one per version", stats)
        .isGreaterThanOrEqualTo(versions);
  }

  /**
   * What a get may return in bounded mode with an external writer: at least the version {@code
   * published} held when it started, at most the one {@code begun} held when it returned.
   */
  record VersionBounds(
      java.util.concurrent.atomic.AtomicInteger published,
      java.util.concurrent.atomic.AtomicInteger begun) {}

  /**
   * The k-th key a version sets: "k", then a suffix that spreads the keys' hash codes, so that a
   * reload (which walks a hash map) updates them far apart rather than one after another.
   */
  static String versionKey(int k) {
    return "k" + k + "." + Integer.toHexString(k * 0x9E3779B9);
  }

  static String version(int i) {
    return String.format("%07d", i);
  }

  /** Sets k0..k7 to version i and replaces the key z(i-1) by z(i). */
  static WriteBatch<String, String> versionBatch(int i, String pad) {
    WriteBatch<String, String> batch = new WriteBatch<>();
    if (i > 0) {
      batch.delete("z" + version(i - 1));
    }
    batch.set("z" + version(i), "z");
    for (int k = 0; k < VERSION_KEYS; k++) {
      batch.set(versionKey(k), version(i) + pad);
    }
    return batch;
  }

  /**
   * Reads k0..k7 until {@code done}: one by one with get in a random order, or all at once with
   * range, scan (materialized, one page of a paged range, or a pinned scan) or forEach, or reads
   * size(). Every value must be at least the highest this reader saw before, a range, scan or
   * forEach must show one version for all eight keys, and the size must stay {@code expectedSize}.
   * Adds a description of each violation (at most three per reader) and returns the number of
   * passes.
   */
  private static long readVersions(
      KVLog<String, String> store,
      Random r,
      int reader,
      int expectedSize,
      java.util.concurrent.atomic.AtomicBoolean done,
      List<String> violations,
      String pad,
      VersionBounds bounds) {
    String floor = version(0);
    String syncedFloor = version(0); // the highest version a scan of this reader showed
    String floorFrom = "the initial batch";
    long pass = 0;
    int mine = 0;
    while (!done.get() && mine < 3) {
      pass++;
      int before = violations.size();
      int how = reader == 0 ? 0 : reader == 2 ? 5 : r.nextInt(8);
      if (how < 2) {
        List<Integer> order = new ArrayList<>();
        for (int k = 0; k < VERSION_KEYS; k++) {
          order.add(k);
        }
        java.util.Collections.shuffle(order, r);
        StringBuilder seen = new StringBuilder();
        for (int k : order) {
          if (bounds != null) {
            String low = version(bounds.published().get());
            String v = unpad(store.get(versionKey(k)).orElse("missing" + pad), pad);
            String high = version(bounds.begun().get());
            seen.append(' ').append(versionKey(k)).append('=').append(v);
            String atLeast = low.compareTo(syncedFloor) > 0 ? low : syncedFloor;
            if (v.compareTo(atLeast) < 0 || v.compareTo(high) > 0) {
              violations.add(
                  String.format(
                      "reader %d pass %d: get(%s)=%s, outside [%s, %s] (the version refreshed or"
                          + " scanned before it, the last one begun after it); this pass:%s",
                      reader, pass, versionKey(k), v, atLeast, high, seen));
              break;
            }
            floor = v.compareTo(floor) > 0 ? v : floor;
            continue;
          }
          String v = unpad(store.get(versionKey(k)).orElse("missing" + pad), pad);
          seen.append(' ').append(versionKey(k)).append('=').append(v);
          if (v.compareTo(floor) < 0) {
            violations.add(
                String.format(
                    "reader %d pass %d: get(%s)=%s after %s had shown %s; this pass:%s",
                    reader, pass, versionKey(k), v, floorFrom, floor, seen));
            break;
          }
          floor = v;
          floorFrom = "get(" + versionKey(k) + ")";
        }
      } else if (how == 5) {
        int size = store.size();
        if (size != expectedSize) {
          violations.add(
              String.format(
                  "reader %d pass %d: size()=%d, but every write keeps it at %d",
                  reader, pass, size, expectedSize));
        }
      } else {
        Map<String, String> snapshot = new java.util.TreeMap<>();
        String op =
            new String[] {"range", "scan", "forEach", "", "paged(8) range", "pinned(2) scan"}
                [how - 2];
        if (how == 4) {
          store.forEach(
              (k, v) -> {
                if (k.startsWith("k")) {
                  snapshot.put(k, unpad(v, pad));
                }
              });
        } else {
          // A page of 8 holds all eight keys, so it must show one version like the others.
          try (java.util.stream.Stream<Map.Entry<String, String>> entries =
              how == 2
                  ? store.range("k", "l")
                  : how == 3
                      ? store.scan("k")
                      : how == 6
                          ? store.range("k", "l", Scan.paged(8))
                          : store.scan("k", Scan.pinned(2))) {
            entries
                .filter(e -> e.getKey().startsWith("k"))
                .forEach(e -> snapshot.put(e.getKey(), unpad(e.getValue(), pad)));
          }
        }
        java.util.Set<String> versions = new java.util.TreeSet<>(snapshot.values());
        if (snapshot.size() != VERSION_KEYS || versions.size() != 1) {
          violations.add(
              String.format(
                  "reader %d pass %d: %s showed part of a write: %s", reader, pass, op, snapshot));
        } else if (versions.iterator().next().compareTo(floor) < 0) {
          violations.add(
              String.format(
                  "reader %d pass %d: %s showed %s after %s had shown %s",
                  reader, pass, op, versions.iterator().next(), floorFrom, floor));
        } else {
          floor = versions.iterator().next();
          syncedFloor = floor;
          floorFrom = op;
        }
      }
      mine += violations.size() > before ? 1 : 0;
    }
    return pass;
  }
}
