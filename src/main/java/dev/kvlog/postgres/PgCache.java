package dev.kvlog.postgres;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One PostgreSQL-backed instance's copy of the table: key to (value or absent, version).
 *
 * <p><b>Invariant: a key's entry only ever moves forward.</b> {@link #advance} replaces an entry
 * only with one of a strictly larger version, atomically per key, whoever calls it (a write that
 * just committed, the change feed, a reload that read an older snapshot). The database gives every
 * change of a key a larger version than the one before (see {@code sql/postgresql/V2__...sql}), so
 * every read is at least as new as the last write or read this instance made of that key:
 * read-your-writes and monotonic reads, including during reloads. Absent keys keep a tombstone
 * entry (value null) for the same reason: a reload of an older snapshot must not resurrect them.
 *
 * <p><b>A full reload also removes keys that are gone from the table</b> (an external TRUNCATE, a
 * key renamed by UPDATE, a restore with {@code pg_dump --clean}, a tombstone cleaned up while this
 * instance missed the delete), yet never moves a key backwards. The argument: (1) every entry
 * describes a state that had committed before the entry was put (writes put after their commit,
 * re-reads and reloads put what a committed snapshot showed); (2) the reload takes a {@linkplain
 * #copy copy} of the map before its statement starts, so the statement's snapshot includes the
 * commit of every copied entry; (3) if that snapshot has neither a row nor a tombstone for a copied
 * key, something removed both after that commit, so "absent" is newer than the copied entry; (4)
 * {@link #removeIfUnchanged} removes the key only if it still holds that very entry: a newer one
 * (this instance's own write, the feed) put meanwhile stays. So read-your-writes and monotonic
 * reads still hold. The removal leaves no entry (it has no version to keep), so one narrow race
 * remains: a single-key re-read whose statement ran before the removal of the key in the table but
 * is applied after the reload removed it can put the removed value back until the next reload.
 *
 * <p>A key whose last write's outcome is unknown is marked {@linkplain #markUncertain uncertain},
 * with the server process (backend pid) that ran the write, until {@link PostgresKVStore#get}
 * settles it: it makes sure that backend is gone (a statement can outlive its lost connection on
 * the server, waiting on a row lock, and commit later), then re-reads the key.
 *
 * <p>Thread-safe.
 */
final class PgCache {
  /**
   * A key's state; {@code value == null} means absent (a tombstone). {@code order} is twice the
   * database version, plus one for a delete this instance made: it then knows only the deleted
   * row's version v, and the delete comes after v and before every later change (all {@code > v}).
   */
  record Entry(String value, long order) {}

  private final ConcurrentHashMap<String, Entry> map = new ConcurrentHashMap<>();

  /** Uncertain keys, each with the backend pids of its writes whose outcome is unknown. */
  private final ConcurrentHashMap<String, Set<Integer>> uncertain = new ConcurrentHashMap<>();

  /** The cached value, or null if the key is absent or unknown here. */
  String value(String key) {
    Entry e = map.get(key);
    return e == null ? null : e.value();
  }

  Entry entry(String key) {
    return map.get(key);
  }

  /**
   * Records that {@code key} holds {@code value} (null: absent) as of {@code version}, unless this
   * instance already knows a newer state.
   */
  void advance(String key, String value, long version) {
    advanceTo(key, value, 2 * version);
  }

  /** Records that this instance deleted {@code key} whose row had {@code rowVersion}. */
  void deleted(String key, long rowVersion) {
    advanceTo(key, null, 2 * rowVersion + 1);
  }

  private void advanceTo(String key, String value, long order) {
    map.compute(
        key,
        (k, old) -> {
          if (old == null) {
            return value == null && order == 0 ? null : new Entry(value, order);
          }
          return order > old.order() ? new Entry(value, order) : old;
        });
  }

  /** A copy of the current entries, taken before a reload's statement starts. */
  java.util.Map<String, Entry> copy() {
    return new java.util.HashMap<>(map);
  }

  /** Removes {@code key} if it still holds {@code seen}; see the class comment for why. */
  boolean removeIfUnchanged(String key, Entry seen) {
    return map.remove(key, seen);
  }

  /**
   * {@code key}'s write on backend {@code pid} ended with an unknown outcome; pid 0: that backend
   * cannot still be running it, only a re-read is needed.
   */
  void markUncertain(String key, int pid) {
    uncertain.compute(
        key,
        (k, pids) -> {
          Set<Integer> next =
              pids == null ? new java.util.HashSet<>() : new java.util.HashSet<>(pids);
          if (pid != 0) {
            next.add(pid);
          }
          return Set.copyOf(next);
        });
  }

  boolean isUncertain(String key) {
    return !uncertain.isEmpty() && uncertain.containsKey(key);
  }

  /** The backends whose writes of {@code key} have an unknown outcome (empty: none). */
  Set<Integer> orphans(String key) {
    return uncertain.getOrDefault(key, Set.of());
  }

  /** Those backends are gone and {@code key} was re-read since; newer unknown writes stay. */
  void settled(String key, Set<Integer> gone) {
    uncertain.computeIfPresent(
        key,
        (k, pids) -> {
          Set<Integer> left = new java.util.HashSet<>(pids);
          left.removeAll(gone);
          return left.isEmpty() ? null : Set.copyOf(left);
        });
  }

  /** Present keys (tombstones not counted); walks the map. */
  int size() {
    return (int) map.values().stream().filter(e -> e.value() != null).count();
  }

  void clear() {
    map.clear();
    uncertain.clear();
  }
}
