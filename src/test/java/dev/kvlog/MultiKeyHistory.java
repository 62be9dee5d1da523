package dev.kvlog;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;

/**
 * A Wing–Gong linearizability checker for histories over several keys at once: single-key calls,
 * batches (all-or-nothing), whole-store range reads (a snapshot) and external transactions
 * (multi-key writes by another connection on the same file).
 *
 * <p>The model is one sorted map; a history is linearizable if some order of its calls respects
 * real time (a call that returned before another started comes first) and every call returns what
 * the map returns in that order. A batch, a range and an external transaction each take effect at
 * one point, so a reader that saw part of a batch, or a range that a later get contradicts, has no
 * linearization.
 *
 * <p><b>External transactions.</b> KVLog sees another connection's commit only when it reloads, so
 * an external transaction's interval runs from before its {@code BEGIN IMMEDIATE} to the end of the
 * first KVLog operation that must have observed it: a write or {@code refresh()} that started after
 * the COMMIT returned (each checks {@code data_version} before it decides). Until then readers may
 * still see the state before it. See {@link #boundExternal}.
 *
 * <p>Search state: the set of calls already placed (a bit mask, so at most 63 calls) and the map; a
 * (mask, map) pair already explored is not explored again. Not thread-safe.
 */
final class MultiKeyHistory {
  private MultiKeyHistory() {}

  enum Kind {
    GET,
    SET,
    DELETE,
    SET_IF_ABSENT,
    CAS,
    /** {@code changes}: all applied at one point; the result is ignored. */
    BATCH,
    /** Whole-store read; the result is the map it returned. */
    RANGE,
    /** Another connection's transaction; its end is set by {@link #boundExternal}. */
    EXTERNAL
  }

  /** One change of a batch or external transaction; a null value deletes. */
  record Change(String key, String value) {
    @Override
    public String toString() {
      return key + "=" + value;
    }
  }

  /** One completed call with its real-time interval (System.nanoTime). */
  record Call(
      Kind kind,
      String key,
      String arg,
      String expected,
      List<Change> changes,
      Object result,
      long start,
      long end,
      String who) {
    static Call single(
        Kind kind,
        String key,
        String arg,
        String expected,
        Object result,
        long start,
        long end,
        String who) {
      return new Call(kind, key, arg, expected, List.of(), result, start, end, who);
    }

    Call withEnd(long newEnd) {
      return new Call(kind, key, arg, expected, changes, result, start, newEnd, who);
    }

    Call withTimes(long newStart, long newEnd) {
      return new Call(kind, key, arg, expected, changes, result, newStart, newEnd, who);
    }

    @Override
    public String toString() {
      String what =
          switch (kind) {
            case GET, DELETE -> kind + "(" + key + ")";
            case SET, SET_IF_ABSENT -> kind + "(" + key + "," + arg + ")";
            case CAS -> "CAS(" + key + "," + expected + "->" + arg + ")";
            case BATCH, EXTERNAL -> kind + changes.toString();
            case RANGE -> "RANGE";
          };
      return who + ":" + what + "=" + result + "@[" + start + "," + end + "]";
    }
  }

  /** True if {@code kind} is a KVLog call that must observe every external commit before it. */
  static boolean observesExternal(Kind kind) {
    return kind != Kind.GET && kind != Kind.RANGE && kind != Kind.EXTERNAL;
  }

  /**
   * Returns {@code calls} with each EXTERNAL call's end set to the end of the first observing call
   * (see {@link #observesExternal}, plus the {@code refreshes} intervals) that started after the
   * external COMMIT returned ({@code commitEnd[i]}, the external call's recorded end);
   * Long.MAX_VALUE if none did.
   */
  static List<Call> boundExternal(List<Call> calls, List<long[]> refreshes) {
    List<long[]> observers = new ArrayList<>(refreshes);
    for (Call c : calls) {
      if (observesExternal(c.kind())) {
        observers.add(new long[] {c.start(), c.end()});
      }
    }
    List<Call> out = new ArrayList<>(calls.size());
    for (Call c : calls) {
      if (c.kind() != Kind.EXTERNAL) {
        out.add(c);
        continue;
      }
      long bound = Long.MAX_VALUE;
      for (long[] o : observers) {
        if (o[0] > c.end()) {
          bound = Math.min(bound, o[1]);
        }
      }
      out.add(c.withEnd(bound));
    }
    return out;
  }

  /**
   * {@code calls} (already through {@link #boundExternal}) without the gets of a key that overlap
   * the interval of an external transaction that changed that key. For the bounded cache, where a
   * get in that window may read the commit on a miss while a cached entry still shows the value
   * before it, so a key may even go back and forth until the writer looks. Leaving reads out never
   * turns a linearizable history into one without a linearization; what is left must linearize.
   */
  static List<Call> withoutGetsInExternalWindows(List<Call> calls) {
    List<Call> out = new ArrayList<>(calls.size());
    for (Call c : calls) {
      boolean inWindow = false;
      if (c.kind() == Kind.GET) {
        for (Call e : calls) {
          if (e.kind() == Kind.EXTERNAL
              && c.start() <= e.end()
              && c.end() >= e.start()
              && e.changes().stream().anyMatch(ch -> ch.key().equals(c.key()))) {
            inWindow = true;
            break;
          }
        }
      }
      if (!inWindow) {
        out.add(c);
      }
    }
    return out;
  }

  /**
   * The model's answer to {@code c} in {@code state}, which it updates; null result for calls whose
   * result is not checked.
   */
  static Object apply(Call c, TreeMap<String, String> state) {
    String value = c.key() == null ? null : state.get(c.key());
    switch (c.kind()) {
      case GET:
        return value;
      case SET:
        state.put(c.key(), c.arg());
        return value;
      case DELETE:
        state.remove(c.key());
        return value;
      case SET_IF_ABSENT:
        if (value == null) {
          state.put(c.key(), c.arg());
        }
        return value;
      case CAS:
        if (Objects.equals(value, c.expected())) {
          put(state, c.key(), c.arg());
          return Boolean.TRUE;
        }
        return Boolean.FALSE;
      case BATCH:
      case EXTERNAL:
        for (Change ch : c.changes()) {
          put(state, ch.key(), ch.value());
        }
        return null;
      case RANGE:
        return new TreeMap<>(state);
      default:
        throw new AssertionError(c);
    }
  }

  private static void put(Map<String, String> state, String key, String value) {
    if (value == null) {
      state.remove(key);
    } else {
      state.put(key, value);
    }
  }

  private static boolean matches(Call c, Object modelResult) {
    return switch (c.kind()) {
      case BATCH, EXTERNAL -> true;
      default -> Objects.equals(modelResult, c.result());
    };
  }

  /** True if {@code calls} (at most 63) have a linearization starting from {@code initial}. */
  static boolean linearizable(List<Call> calls, Map<String, String> initial) {
    if (calls.size() > 63) {
      throw new IllegalArgumentException("at most 63 calls, got " + calls.size());
    }
    return search(calls, 0L, new TreeMap<>(initial), new HashSet<>());
  }

  private static boolean search(
      List<Call> calls, long done, TreeMap<String, String> state, Set<String> seen) {
    if (Long.bitCount(done) == calls.size()) {
      return true;
    }
    if (!seen.add(done + "|" + state)) {
      return false; // this set of calls leading to this state was already explored
    }
    long earliestEnd = Long.MAX_VALUE;
    for (int i = 0; i < calls.size(); i++) {
      if ((done & (1L << i)) == 0) {
        earliestEnd = Math.min(earliestEnd, calls.get(i).end());
      }
    }
    for (int i = 0; i < calls.size(); i++) {
      Call c = calls.get(i);
      // Only a call that started before every other pending call ended can come next.
      if ((done & (1L << i)) != 0 || c.start() > earliestEnd) {
        continue;
      }
      TreeMap<String, String> next = new TreeMap<>(state);
      if (matches(c, apply(c, next)) && search(calls, done | (1L << i), next, seen)) {
        return true;
      }
    }
    return false;
  }

  /**
   * A shorter witness for a history with no linearization: drops reads (GET, RANGE) one at a time
   * while the rest still has none. Dropping a read never turns a linearizable history into one
   * without a linearization, so the witness convicts the original history. Stops after about 5
   * seconds (each try is a full search), with what it has.
   */
  static List<Call> withoutNeedlessReads(List<Call> calls, Map<String, String> initial) {
    long deadline = System.nanoTime() + 5_000_000_000L;
    List<Call> witness = new ArrayList<>(calls);
    for (int i = witness.size() - 1; i >= 0 && System.nanoTime() < deadline; i--) {
      Kind k = witness.get(i).kind();
      if (k != Kind.GET && k != Kind.RANGE) {
        continue;
      }
      List<Call> fewer = new ArrayList<>(witness);
      fewer.remove(i);
      if (!linearizable(fewer, initial)) {
        witness = fewer;
      }
    }
    return witness;
  }

  /**
   * The calls sorted by start, one per line, times in microseconds from the first start, for a
   * failure message.
   */
  static String describe(List<Call> calls) {
    long base = calls.stream().mapToLong(Call::start).min().orElse(0);
    StringBuilder sb = new StringBuilder();
    calls.stream()
        .sorted(java.util.Comparator.comparingLong(Call::start))
        .forEach(
            c ->
                sb.append("\n  ")
                    .append(
                        c.withTimes(
                            (c.start() - base) / 1000,
                            c.end() == Long.MAX_VALUE ? -1 : (c.end() - base) / 1000)));
    return sb.toString();
  }
}
