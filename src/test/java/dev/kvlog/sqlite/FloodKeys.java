package dev.kvlog.sqlite;

import dev.kvlog.spi.Backend;
import java.util.ArrayList;
import java.util.List;

/** Keys an attacker would send, and the cache table's probe statistics, for flooding tests. */
public final class FloodKeys {
  private FloodKeys() {}

  /**
   * The {@code 2^bits} strings of {@code bits + 1} blocks that start with {@code first} ("Aa" or
   * "BB") and go on with "Aa" or "BB": "Aa" and "BB" have one hashCode, so all of them (both values
   * of {@code first}) share one hashCode.
   */
  public static List<String> equalHashCode(String first, int bits) {
    List<String> keys = new ArrayList<>(1 << bits);
    for (int n = 0; n < 1 << bits; n++) {
      StringBuilder b = new StringBuilder(first);
      for (int i = 0; i < bits; i++) {
        b.append((n >> i & 1) == 0 ? "Aa" : "BB");
      }
      keys.add(b.toString());
    }
    return keys;
  }

  /**
   * {@code count} keys with distinct hashCodes whose home slots in a table of {@code capacity}
   * slots (String.hashCode mode) are {@code 0, 1, 2, ...}: no two collide, yet they fill one run.
   */
  public static List<String> consecutiveHomes(int capacity, int count) {
    int shift = 32 - Integer.numberOfTrailingZeros(capacity);
    int inverse = inverse(0x9E3779B9);
    List<String> keys = new ArrayList<>(count);
    for (int home = 0; home < count; home++) {
      int spread = home << shift | 0x1234; // non-zero, home in the top bits
      keys.add(withHashCode(spread * inverse, home));
    }
    return keys;
  }

  /** A string "x" + n + three chars whose hashCode is {@code target}. */
  private static String withHashCode(int target, int n) {
    for (int salt = 0; ; salt++) {
      String prefix = "x" + n + "-" + salt;
      int need = target - prefix.hashCode() * 29791; // 31^3
      long rest = Integer.toUnsignedLong(need); // c1 * 961 + c2 * 31 + c3, chars below 0xD800
      long c1 = rest / 961;
      long r = rest % 961;
      if (c1 < 0xD800) {
        String s = prefix + (char) c1 + (char) (r / 31) + (char) (r % 31);
        if (s.hashCode() == target) {
          return s;
        }
      }
    }
  }

  private static int inverse(int odd) {
    int x = odd; // Newton: each step doubles the correct low bits
    for (int i = 0; i < 5; i++) {
      x *= 2 - odd * x;
    }
    return x;
  }

  /** What a store's cache table says about its probes. */
  public record TableStats(boolean seeded, int longestRun, long writerProbes, int maxGetProbes) {}

  /** {@code backend}'s (a SQLite store's) cache statistics; the probes of a get of each key. */
  public static TableStats of(Backend backend, Iterable<String> keys) {
    CacheTable table = ((WarmCache) ((SqliteBackend) backend).cache()).table();
    return of(table, keys);
  }

  static TableStats of(CacheTable table, Iterable<String> keys) {
    int max = 0;
    for (String k : keys) {
      max = Math.max(max, table.probes(k));
      if (max > 4 * CacheTable.RUN_LIMIT) {
        break; // flooded: no need to walk the run for every key
      }
    }
    return new TableStats(table.seeded(), table.longestRun(), table.writerProbes(), max);
  }
}
