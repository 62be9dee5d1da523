package dev.kvlog.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The bounded section's key generators. Compiled only with the bench profile: {@code mvn -B -Pbench
 * test -Dtest=ScrambledZipfianTest -Dsurefire.failIfNoSpecifiedTests=false}.
 */
class ScrambledZipfianTest {
  static final int N = 10_000_000;
  static final int DRAWS = 1_000_000;

  @Test
  void next_manyDraws_staysInRange() {
    for (long n : new long[] {1, 7, 1000, N}) {
      ScrambledZipfian z = new ScrambledZipfian(n, 1);
      for (int i = 0; i < 200_000; i++) {
        assertThat(z.next()).isBetween(0L, n - 1);
      }
    }
  }

  @Test
  void rank_zero_isDrawnOneTimeInZetan() {
    ScrambledZipfian z = new ScrambledZipfian(N, 3);
    int zeros = 0;
    for (int i = 0; i < DRAWS; i++) {
      zeros += z.rank() == 0 ? 1 : 0;
    }
    // 1 / 26.469 = 3.78%
    assertThat(zeros / (double) DRAWS).isBetween(0.036, 0.040);
  }

  @Test
  void next_thetaPoint99_theThousandHottestKeysTakeAboutAThird() {
    Map<Long, Integer> counts = counts(new ScrambledZipfian(N, 5));
    int[] sorted = counts.values().stream().mapToInt(Integer::intValue).sorted().toArray();
    long top = 0;
    for (int i = sorted.length - 1; i >= Math.max(0, sorted.length - 1000); i--) {
      top += sorted[i];
    }
    // zeta(1000, 0.99) / zeta(10^10, 0.99) = 7.7 / 26.5 = 29%; uniform keys would give 0.01%.
    assertThat(top / (double) DRAWS).isBetween(0.25, 0.35);
    assertThat(sorted[sorted.length - 1] / (double) DRAWS).isBetween(0.035, 0.045);
  }

  @Test
  void next_hotKeys_areSpreadOverTheKeySpace() {
    Map<Long, Integer> counts = counts(new ScrambledZipfian(N, 7));
    long[] hottest =
        counts.entrySet().stream()
            .sorted((a, b) -> b.getValue() - a.getValue())
            .limit(100)
            .mapToLong(Map.Entry::getKey)
            .toArray();
    // Unscrambled, the hottest 100 would be keys 0..99.
    assertThat(Arrays.stream(hottest).filter(k -> k < 1000).count()).isLessThan(5);
    assertThat(Arrays.stream(hottest).average().orElseThrow()).isBetween(0.3 * N, 0.7 * N);
  }

  @Test
  void next_sameSeed_sameSequence_otherSeed_another() {
    ScrambledZipfian a = new ScrambledZipfian(N, 42);
    ScrambledZipfian b = new ScrambledZipfian(N, 42);
    ScrambledZipfian c = new ScrambledZipfian(N, 43);
    int differ = 0;
    for (int i = 0; i < 10_000; i++) {
      long x = a.next();
      assertThat(b.next()).isEqualTo(x);
      differ += c.next() != x ? 1 : 0;
    }
    assertThat(differ).isGreaterThan(5_000);
  }

  @Test
  void constructor_nonPositiveN_isRefused() {
    assertThatThrownBy(() -> new ScrambledZipfian(0, 1))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("n must be positive, was 0");
  }

  @Test
  void key_equalsTheSuitesFormattedKey() {
    for (long i :
        new long[] {0, 1, 9, 10, 99, 100, 12_345, 9_999_999, 10_000_000, 999_999_999_999L}) {
      assertThat(Bounded.key(i)).isEqualTo(String.format("key-%012d", i));
    }
    for (int i = 0; i < 100_000; i += 7) {
      assertThat(Bounded.key(i)).isEqualTo(Suite.key(i));
    }
    assertThatThrownBy(() -> Bounded.key(-1)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> Bounded.key(1_000_000_000_000L))
        .isInstanceOf(IllegalArgumentException.class);
  }

  private static Map<Long, Integer> counts(ScrambledZipfian z) {
    Map<Long, Integer> counts = new HashMap<>();
    for (int i = 0; i < DRAWS; i++) {
      counts.merge(z.next(), 1, Integer::sum);
    }
    return counts;
  }
}
