package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
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
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Linearizability of get, set, delete, setIfAbsent and compareAndSet, checked against a sequential
 * map. Threads run random operations on a few keys and record when each call started and returned;
 * a Wing–Gong search then looks for an order of the calls that respects real time and in which
 * every call returns what the sequential model returns. Linearizability is local, so each key's
 * history is checked alone. (Batches span keys; the snapshot and crash tests cover them.)
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

  @ParameterizedTest
  @ValueSource(booleans = {true, false})
  void concurrentCalls_areLinearizable(boolean groupCommit) throws Exception {
    int checked = 0;
    try (KVLog<String, String> store =
        KVLog.builder(dir.resolve("kv-" + groupCommit + ".db")).groupCommit(groupCommit).open()) {
      for (int round = 0; round < ROUNDS; round++) {
        Map<String, String> before = new HashMap<>();
        for (int k = 0; k < KEYS; k++) {
          before.put("k" + k, store.get("k" + k).orElse(null));
        }
        Map<String, List<Call>> histories = round(store, round);
        for (Map.Entry<String, List<Call>> e : histories.entrySet()) {
          assertThat(linearizable(e.getValue(), before.get(e.getKey())))
              .as("round %d, key %s: no linearization of %s", round, e.getKey(), e.getValue())
              .isTrue();
          checked += e.getValue().size();
        }
      }
    }
    TortureSummary.record(
        "linearizability (" + (groupCommit ? "group commit" : "per-op commit") + "), calls checked",
        checked,
        0,
        0);
  }

  /** Runs one round of concurrent calls and returns them, grouped by key. */
  static Map<String, List<Call>> round(KVLog<String, String> store, long seed) throws Exception {
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
                  String arg = "t" + thread + "-" + i;
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
                  calls.add(new Call(kind, key, arg, expected, result, t0, t1));
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
}
