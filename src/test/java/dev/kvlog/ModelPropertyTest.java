package dev.kvlog;

import static dev.kvlog.KVLogTest.contents;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.AfterProperty;
import net.jqwik.api.lifecycle.BeforeProperty;

/**
 * Random sequences of every write operation, with restarts (close and reopen) mixed in, against a
 * sequential {@code HashMap} model: after every step the store returns what the model returns and
 * holds what the model holds. External steps commit transactions on a plain sqlite-jdbc connection
 * to the same file, one of them holding the write lock while a KVLog call waits for it. jqwik
 * shrinks a failing sequence to a minimal one. {@link BoundedModelPropertyTest} runs the same
 * properties on stores with a small bounded cache.
 */
class ModelPropertyTest {
  /** Steps run, per {@link #modeNote()}; each container's summary records and resets its own. */
  static final Map<String, AtomicLong> STEPS = new java.util.concurrent.ConcurrentHashMap<>();

  /** Appended to this class's row in the torture summary. */
  String modeNote() {
    return "";
  }

  private void countStep() {
    STEPS.computeIfAbsent(modeNote(), k -> new AtomicLong()).incrementAndGet();
  }

  /**
   * One step: kind, key index, value (null where not used), expected value for CAS, and a variant
   * that picks the KVLog call made around an external transaction.
   */
  record Step(String kind, int keyIndex, String value, String expected, int variant) {
    String key() {
      return "k" + keyIndex;
    }

    String key(int offset) {
      return "k" + ((keyIndex + offset) % 5);
    }
  }

  @Provide
  Arbitrary<Step> steps() {
    Arbitrary<String> values =
        Arbitraries.strings().withCharRange('a', 'z').ofMaxLength(5).map(s -> "v" + s);
    Arbitrary<Integer> keys = Arbitraries.integers().between(0, 4);
    return Combinators.combine(
            Arbitraries.of(
                "set",
                "delete",
                "setIfAbsent",
                "cas",
                "casStale",
                "batch",
                "reopen",
                "external",
                "externalThenWrite",
                "externalHoldsLock"),
            keys,
            values,
            values,
            Arbitraries.integers().between(0, 9))
        .as(Step::new);
  }

  @Property(tries = 40)
  void storeBehavesLikeAMap_acrossRestarts(
      @ForAll @Size(max = 40) List<@net.jqwik.api.From("steps") Step> steps) throws Exception {
    Path dir = Files.createTempDirectory("kvlog-model");
    Path db = dir.resolve("kv.db");
    Map<String, String> model = new HashMap<>();
    KVLog<String, String> store = open(db);
    try {
      for (Step s : steps) {
        countStep();
        String k = s.key();
        switch (s.kind()) {
          case "set" ->
              assertThat(store.set(k, s.value()))
                  .isEqualTo(Optional.ofNullable(model.put(k, s.value())));
          case "delete" ->
              assertThat(store.delete(k)).isEqualTo(Optional.ofNullable(model.remove(k)));
          case "setIfAbsent" ->
              assertThat(store.setIfAbsent(k, s.value()))
                  .isEqualTo(Optional.ofNullable(model.putIfAbsent(k, s.value())));
          case "cas" -> {
            String current = model.get(k); // a CAS that must succeed; a null value deletes
            String update = s.value().length() % 2 == 0 ? null : s.value();
            assertThat(store.compareAndSet(k, current, update)).isTrue();
            if (update == null) {
              model.remove(k);
            } else {
              model.put(k, update);
            }
          }
          case "casStale" -> {
            boolean matches = Objects.equals(model.get(k), s.expected());
            assertThat(store.compareAndSet(k, s.expected(), s.value())).isEqualTo(matches);
            if (matches) {
              model.put(k, s.value());
            }
          }
          case "batch" -> {
            WriteBatch<String, String> batch =
                new WriteBatch<String, String>()
                    .set(k, s.value())
                    .delete("k" + ((s.keyIndex() + 1) % 5))
                    .set("k" + ((s.keyIndex() + 2) % 5), s.expected());
            store.write(batch);
            model.put(k, s.value());
            model.remove("k" + ((s.keyIndex() + 1) % 5));
            model.put("k" + ((s.keyIndex() + 2) % 5), s.expected());
          }
          case "reopen" -> {
            store.close();
            store = open(db);
          }
          case "external" -> {
            // Committed while KVLog is idle; refresh() must pick all of it up.
            List<MultiKeyHistory.Change> changes = externalChanges(s);
            externalTransaction(db, changes, null);
            applyAll(model, changes);
            store.refresh();
          }
          case "externalThenWrite" -> {
            // Committed while KVLog is idle; the next call must decide on it without a refresh.
            List<MultiKeyHistory.Change> changes = externalChanges(s);
            externalTransaction(db, changes, null);
            applyAll(model, changes);
            Map<String, String> expected = new HashMap<>(model);
            Object wanted = modelCall(s, expected, model);
            KVLog<String, String> st = store;
            assertThat(storeCall(st, s, model))
                .as("%s after the external commit", s)
                .isEqualTo(wanted);
            model.clear();
            model.putAll(expected);
          }
          case "externalHoldsLock" -> {
            // Holds SQLite's write lock when KVLog's call starts, and commits while it waits.
            List<MultiKeyHistory.Change> changes = externalChanges(s);
            Map<String, String> before = new HashMap<>(model);
            Object[] got = new Object[1];
            long[] returned = new long[1];
            KVLog<String, String> st = store;
            long commitStarted =
                externalTransaction(
                    db,
                    changes,
                    () -> {
                      got[0] = storeCall(st, s, before);
                      returned[0] = System.nanoTime();
                    });
            assertThat(returned[0])
                .as(
                    "%s returned before the external transaction that held SQLite's write lock"
                        + " committed: it was decided outside the lock",
                    s)
                .isGreaterThan(commitStarted);
            store.refresh(); // a call that wrote nothing need not have reloaded
            // Either the call came after the external commit (it must, if it wrote anything)...
            Map<String, String> after = new HashMap<>(before);
            applyAll(after, changes);
            Map<String, String> ifAfter = new HashMap<>(after);
            Object resultIfAfter = modelCall(s, ifAfter, before);
            // ... or it wrote nothing and was decided before the commit, on the table as it was.
            Map<String, String> ifBefore = new HashMap<>(before);
            Object resultIfBefore = modelCall(s, ifBefore, before);
            boolean beforeAllowed = ifBefore.equals(before);
            Map<String, String> now = contents(store);
            boolean asIfAfter = Objects.equals(got[0], resultIfAfter) && now.equals(ifAfter);
            boolean asIfBefore =
                beforeAllowed && Objects.equals(got[0], resultIfBefore) && now.equals(after);
            assertThat(asIfAfter || asIfBefore)
                .as(
                    "%s while an external transaction %s held the lock, from %s: returned %s and"
                        + " left %s; after the commit it must return %s and leave %s%s",
                    s,
                    changes,
                    new java.util.TreeMap<>(before),
                    got[0],
                    new java.util.TreeMap<>(now),
                    resultIfAfter,
                    new java.util.TreeMap<>(ifAfter),
                    beforeAllowed
                        ? " (or, decided before it, return "
                            + resultIfBefore
                            + " and leave "
                            + new java.util.TreeMap<>(after)
                            + ")"
                        : "")
                .isTrue();
            model.clear();
            model.putAll(asIfAfter ? ifAfter : after);
          }
          default -> throw new AssertionError(s);
        }
        // Gets first: a scan syncs with the table, which could hide a stale cached entry.
        assertGetsMatch(store, model, "after " + s);
        assertThat(contents(store)).as("contents after %s", s).isEqualTo(model);
        assertThat(store.range(null, null).toList())
            .as("range reads the model's entries in key order after %s", s)
            .containsExactlyElementsOf(new java.util.TreeMap<>(model).entrySet());
      }
      store.close();
      assertThat(KVLogTest.readWithJdbc(db)).as("the table, read without KVLog").isEqualTo(model);
      try (KVLog<String, String> reopened = open(db)) {
        assertGetsMatch(reopened, model, "after the reopen");
        assertThat(contents(reopened)).isEqualTo(model);
      }
    } finally {
      store.close();
      deleteTree(dir);
    }
  }

  /** Every key a step can touch: get returns the model's value. */
  static void assertGetsMatch(KVLog<String, String> store, Map<String, String> model, String when) {
    for (int k = 0; k < 5; k++) {
      assertThat(store.get("k" + k))
          .as("get(k%d) %s", k, when)
          .isEqualTo(Optional.ofNullable(model.get("k" + k)));
    }
  }

  /**
   * Polling is off, so the store sees external commits only where a step says it must. Overridden
   * to run the properties on another kind of store.
   */
  KVLog<String, String> open(Path db) {
    return KVLog.builder(db).externalChangeCheck(java.time.Duration.ZERO).open();
  }

  /**
   * The changes of an external transaction: sets {@code key(0)} to x+value, deletes {@code key(1)}
   * and, for even variants, sets {@code key(3)} to x+expected.
   */
  static List<MultiKeyHistory.Change> externalChanges(Step s) {
    List<MultiKeyHistory.Change> changes = new ArrayList<>();
    changes.add(new MultiKeyHistory.Change(s.key(0), "x" + s.value()));
    changes.add(new MultiKeyHistory.Change(s.key(1), null));
    if (s.variant() % 2 == 0) {
      changes.add(new MultiKeyHistory.Change(s.key(3), "x" + s.expected()));
    }
    return changes;
  }

  static void applyAll(Map<String, String> model, List<MultiKeyHistory.Change> changes) {
    for (MultiKeyHistory.Change c : changes) {
      if (c.value() == null) {
        model.remove(c.key());
      } else {
        model.put(c.key(), c.value());
      }
    }
  }

  /**
   * The KVLog call of an external step: variant / 2 picks set, setIfAbsent, compareAndSet with the
   * value before the external transaction as expected value, delete, or a batch (delete target, set
   * {@code key(2)}); variant % 2 picks the target, the key the transaction set or the one it
   * deleted. Returns the call's result (an Optional or a Boolean).
   */
  static Object storeCall(KVLog<String, String> store, Step s, Map<String, String> before) {
    String target = s.key(s.variant() % 2);
    return switch (s.variant() / 2) {
      case 0 -> store.set(target, s.value());
      case 1 -> store.setIfAbsent(target, s.value());
      case 2 -> store.compareAndSet(target, before.get(target), s.value());
      case 3 -> store.delete(target);
      default -> {
        store.write(new WriteBatch<String, String>().delete(target).set(s.key(2), s.value()));
        yield "batch";
      }
    };
  }

  /** What {@link #storeCall} returns on a map in state {@code m}, which it updates. */
  static Object modelCall(Step s, Map<String, String> m, Map<String, String> before) {
    String target = s.key(s.variant() % 2);
    return switch (s.variant() / 2) {
      case 0 -> Optional.ofNullable(m.put(target, s.value()));
      case 1 -> Optional.ofNullable(m.putIfAbsent(target, s.value()));
      case 2 -> {
        boolean matches = Objects.equals(m.get(target), before.get(target));
        if (matches) {
          m.put(target, s.value());
        }
        yield matches;
      }
      case 3 -> Optional.ofNullable(m.remove(target));
      default -> {
        m.remove(target);
        m.put(s.key(2), s.value());
        yield "batch";
      }
    };
  }

  /**
   * Commits {@code changes} in one transaction on a plain sqlite-jdbc connection, as a {@code
   * sqlite3} shell would. If {@code whileHeld} is given, it runs on this thread while the
   * transaction holds SQLite's write lock, and the COMMIT comes from another thread 100 ms later,
   * so that a KVLog call made by {@code whileHeld} waits in SQLite's busy handler and goes on after
   * the commit. Returns System.nanoTime() from just before that COMMIT (0 without {@code
   * whileHeld}).
   */
  static long externalTransaction(
      Path db, List<MultiKeyHistory.Change> changes, ThrowingRunnable whileHeld) throws Exception {
    try (java.sql.Connection ext = LinearizabilityTest.externalConnection(db);
        java.sql.Statement st = ext.createStatement()) {
      st.execute("BEGIN IMMEDIATE");
      LinearizabilityTest.externalWrite(ext, changes);
      if (whileHeld == null) {
        st.execute("COMMIT");
        return 0;
      }
      AtomicLong commitStarted = new AtomicLong();
      java.util.concurrent.CompletableFuture<Void> committer =
          java.util.concurrent.CompletableFuture.runAsync(
              () -> {
                try {
                  Thread.sleep(100);
                  commitStarted.set(System.nanoTime());
                  try (java.sql.Statement c = ext.createStatement()) {
                    c.execute("COMMIT");
                  }
                } catch (Exception e) {
                  throw new IllegalStateException("the external COMMIT failed", e);
                }
              });
      try {
        whileHeld.run();
      } finally {
        committer.get(30, java.util.concurrent.TimeUnit.SECONDS);
      }
      return commitStarted.get();
    }
  }

  interface ThrowingRunnable {
    void run() throws Exception;
  }

  /**
   * Any string either round-trips exactly or is refused with a clear error because it is not valid
   * UTF-16; a refused write changes nothing. All tries share one store, and {@link #reopened}
   * checks after the last try that a reopen reads back exactly what was accepted.
   */
  @Property(tries = 300)
  void anyString_roundTripsOrIsRefusedClearly(
      @ForAll("nastyStrings") String key, @ForAll("nastyStrings") String value) {
    if (validUtf16(key) && validUtf16(value)) {
      Optional<String> prior = fuzzStore.set(key, value);
      assertThat(prior).isEqualTo(Optional.ofNullable(fuzzModel.put(key, value)));
      assertThat(fuzzStore.get(key)).contains(value);
    } else {
      assertThatThrownBy(() -> fuzzStore.set(key, value))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("must be valid UTF-16: unpaired surrogate");
    }
    assertThat(fuzzStore.size()).isEqualTo(fuzzModel.size());
    countStep();
  }

  Path fuzzDir;
  KVLog<String, String> fuzzStore;
  Map<String, String> fuzzModel;

  @BeforeProperty
  void openFuzzStore() throws IOException {
    fuzzDir = Files.createTempDirectory("kvlog-fuzz");
    fuzzStore = open(fuzzDir.resolve("kv.db"));
    fuzzModel = new HashMap<>();
    fuzzStore.set("sentinel", "kept");
    fuzzModel.put("sentinel", "kept");
  }

  @AfterProperty
  void reopened() {
    fuzzStore.close();
    try (KVLog<String, String> reopened = open(fuzzDir.resolve("kv.db"))) {
      fuzzModel.forEach((k, v) -> assertThat(reopened.get(k)).as("get after reopen").contains(v));
      assertThat(contents(reopened)).isEqualTo(fuzzModel);
    } finally {
      deleteTree(fuzzDir);
    }
  }

  @Provide
  Arbitrary<String> nastyStrings() {
    return Arbitraries.oneOf(
        Arbitraries.strings().all().ofMaxLength(30), // any char, including lone surrogates and NUL
        Arbitraries.strings()
            .withChars('\0', '\uD800', '\uDC00', '\uFFFF', '\'', '"', ';', '%')
            .ofMaxLength(12),
        Arbitraries.of("'); DROP TABLE kv; --", "\" OR 1=1 --", "%", "_", "\\", "").map(s -> s),
        Arbitraries.integers().between(100_000, 1_500_000).map(n -> "L".repeat(n)));
  }

  static boolean validUtf16(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isHighSurrogate(c)
          && i + 1 < s.length()
          && Character.isLowSurrogate(s.charAt(i + 1))) {
        i++;
      } else if (Character.isSurrogate(c)) {
        return false;
      }
    }
    return true;
  }

  static void deleteTree(Path dir) {
    try (var files = Files.walk(dir)) {
      List<Path> all = new ArrayList<>(files.toList());
      java.util.Collections.reverse(all);
      for (Path p : all) {
        Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @AfterContainer
  static void summary() {
    STEPS.forEach(
        (note, steps) -> {
          long n = steps.getAndSet(0);
          if (n > 0) {
            TortureSummary.record(
                "jqwik: random operation sequences with restarts, and nasty strings"
                    + note
                    + " (steps)",
                n,
                0,
                0);
          }
        });
  }
}
