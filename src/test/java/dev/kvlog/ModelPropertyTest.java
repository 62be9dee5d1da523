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
 * holds what the model holds. jqwik shrinks a failing sequence to a minimal one.
 */
class ModelPropertyTest {
  static final AtomicLong STEPS = new AtomicLong();

  /** One step: kind, key index, value (null where not used), expected value for CAS. */
  record Step(String kind, int keyIndex, String value, String expected) {
    String key() {
      return "k" + keyIndex;
    }
  }

  @Provide
  Arbitrary<Step> steps() {
    Arbitrary<String> values =
        Arbitraries.strings().withCharRange('a', 'z').ofMaxLength(5).map(s -> "v" + s);
    Arbitrary<Integer> keys = Arbitraries.integers().between(0, 4);
    return Combinators.combine(
            Arbitraries.of("set", "delete", "setIfAbsent", "cas", "casStale", "batch", "reopen"),
            keys,
            values,
            values)
        .as(Step::new);
  }

  @Property(tries = 40)
  void storeBehavesLikeAMap_acrossRestarts(
      @ForAll @Size(max = 40) List<@net.jqwik.api.From("steps") Step> steps) throws IOException {
    Path dir = Files.createTempDirectory("kvlog-model");
    Path db = dir.resolve("kv.db");
    Map<String, String> model = new HashMap<>();
    KVLog<String, String> store = KVLog.load(db);
    try {
      for (Step s : steps) {
        STEPS.incrementAndGet();
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
            store = KVLog.load(db);
          }
          default -> throw new AssertionError(s);
        }
        assertThat(contents(store)).isEqualTo(model);
        assertThat(store.range(null, null).map(Map.Entry::getKey))
            .as("range reads the model's keys in order")
            .containsExactlyElementsOf(new java.util.TreeMap<>(model).keySet());
      }
      store.close();
      try (KVLog<String, String> reopened = KVLog.load(db)) {
        assertThat(contents(reopened)).isEqualTo(model);
      }
    } finally {
      store.close();
      deleteTree(dir);
    }
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
    STEPS.incrementAndGet();
  }

  Path fuzzDir;
  KVLog<String, String> fuzzStore;
  Map<String, String> fuzzModel;

  @BeforeProperty
  void openFuzzStore() throws IOException {
    fuzzDir = Files.createTempDirectory("kvlog-fuzz");
    fuzzStore = KVLog.load(fuzzDir.resolve("kv.db"));
    fuzzModel = new HashMap<>();
    fuzzStore.set("sentinel", "kept");
    fuzzModel.put("sentinel", "kept");
  }

  @AfterProperty
  void reopened() {
    fuzzStore.close();
    try (KVLog<String, String> reopened = KVLog.load(fuzzDir.resolve("kv.db"))) {
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
    TortureSummary.record(
        "jqwik: random operation sequences with restarts, and nasty strings (steps)",
        STEPS.get(),
        0,
        0);
  }
}
