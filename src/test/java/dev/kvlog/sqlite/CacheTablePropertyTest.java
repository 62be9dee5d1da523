package dev.kvlog.sqlite;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/** {@link CacheTable} against a {@link HashMap} model: puts, removes and growth in any order. */
class CacheTablePropertyTest {

  /** A put (value non-null) or a remove (value null) of one of few keys, so runs collide. */
  record Op(String key, String value) {}

  @Provide
  Arbitrary<List<Op>> ops() {
    // Few keys over a 16-slot start: probe runs wrap around the end, shift back on removes, grow.
    // "Aa" and "BB" have equal hashCodes, so keys built from them collide completely.
    Arbitrary<String> keys =
        Arbitraries.oneOf(
            Arbitraries.integers().between(0, 60).map(i -> "k" + i),
            Arbitraries.of("Aa", "BB")
                .list()
                .ofMinSize(1)
                .ofMaxSize(3)
                .map(l -> String.join("", l)),
            Arbitraries.strings().ofMaxLength(3));
    Arbitrary<String> values = Arbitraries.strings().alpha().ofMaxLength(4).injectNull(0.35);
    return keys.flatMap(k -> values.map(v -> new Op(k, v))).list().ofMaxSize(300);
  }

  /**
   * As {@link #ops}, with "Aa"/"BB" families of up to 5 blocks (32 keys of one hashCode): more than
   * {@link CacheTable#EQUAL_HASH_LIMIT} of them rebuild the table seeded mid-sequence.
   */
  @Provide
  Arbitrary<List<Op>> floodingOps() {
    Arbitrary<String> keys =
        Arbitraries.oneOf(
            Arbitraries.integers().between(0, 60).map(i -> "k" + i),
            Arbitraries.of("Aa", "BB").list().ofSize(5).map(l -> String.join("", l)),
            Arbitraries.strings().ofMaxLength(3));
    Arbitrary<String> values = Arbitraries.strings().alpha().ofMaxLength(4).injectNull(0.25);
    return keys.flatMap(k -> values.map(v -> new Op(k, v))).list().ofMaxSize(300);
  }

  @Property(tries = 300)
  void sequence_ofPutsAndRemoves_matchesHashMap(@ForAll("ops") List<Op> ops) {
    check(ops);
  }

  @Property(tries = 200)
  void sequence_withFloodingFamilies_matchesHashMapAcrossTheSeededRebuild(
      @ForAll("floodingOps") List<Op> ops) {
    check(ops);
  }

  private static void check(List<Op> ops) {
    CacheTable table = new CacheTable(0);
    Map<String, String> model = new HashMap<>();
    for (Op op : ops) {
      if (op.value() == null) {
        table.remove(op.key());
        model.remove(op.key());
      } else {
        table.put(op.key(), op.value());
        model.put(op.key(), op.value());
      }
      for (Op probe : ops) {
        assertThat(table.get(probe.key())).as(probe.key()).isEqualTo(model.get(probe.key()));
      }
      assertThat(table.size()).isEqualTo(model.size());
    }
    Map<String, String> all = new HashMap<>();
    table.forEach(all::put);
    assertThat(all).isEqualTo(model);
  }
}
