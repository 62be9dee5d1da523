package dev.kvlog.sqlite;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.security.SecureRandom;
import java.util.BitSet;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * The open-addressing hash table under {@link WarmCache}: String keys to String values, linear
 * probing, deletion by backward shift (no tombstones). Not thread-safe on its own: one writer at a
 * time; readers may run concurrently with the writer but can then return anything a torn state
 * implies (a stale value, null, another key's value), so {@link WarmCache} validates every read
 * with its seqlock. A read racing with a write never throws and never loops forever: a probe visits
 * at most every slot of the arrays it started with, and every slot holds a String or null.
 *
 * <p><b>Why this layout.</b> A {@code ConcurrentHashMap} lookup loads table slot, node, key, key
 * bytes and value: the node is one dependent load and 32 bytes per entry. Here the probe runs over
 * an {@code int[]} of hashes (several slots per cache line, no pointer chasing), and a slot's key
 * and value sit next to each other in one {@code Object[]}, so a hit loads hash, pair, key, key
 * bytes. The heap per entry is the two Strings plus 12 bytes per slot (load at most 3/4, at least
 * 3/8 after growing).
 *
 * <p><b>Hash flooding.</b> Keys are user input, and {@code String.hashCode} is public arithmetic:
 * anyone can make 2^n keys with one hashCode (n blocks of "Aa" or "BB"), or keys whose homes fill
 * one stretch of slots. Linear probing then puts them all in one run, and every insert, and every
 * get landing there, walks it (measured before this defence: 65,536 such keys took 23.8 s to put).
 * So the table starts with the cached {@code String.hashCode} (free on a hit) and keeps, in that
 * mode, this invariant: <i>no run of occupied slots is longer than {@value #RUN_LIMIT}, and no run
 * holds more than {@value #EQUAL_HASH_LIMIT} keys with one hash</i>. Every get therefore visits at
 * most {@value #RUN_LIMIT} slots and compares at most {@value #EQUAL_HASH_LIMIT} keys (random keys:
 * the longest run at 4M slots and load 3/4 is about 230). A put that would break it, a growth that
 * would, or a bulk load that did, instead rebuilds the whole table once in <i>seeded</i> mode:
 * SipHash-1-3 of the key's UTF-16 code units under a random 128-bit key drawn then, which an
 * attacker cannot aim at (the defence of Python, Rust and Perl). Seeded mode is never left; its
 * runs are those of random hashes. Both modes' hash functions belong to one {@link Slots}
 * generation, so a reader that loaded a generation hashes the way it was built; the rebuild
 * publishes a new generation with one volatile write, like growth.
 */
final class CacheTable {
  private static final int MIN_CAPACITY = 16;

  /** The longest run of occupied slots String.hashCode mode tolerates (see the class comment). */
  static final int RUN_LIMIT = 512;

  /** Keys with one hash that String.hashCode mode tolerates in a run: a flood, not chance. */
  static final int EQUAL_HASH_LIMIT = 8;

  private static final VarHandle HASH = MethodHandles.arrayElementVarHandle(int[].class);

  /** One generation of the arrays; replaced whole when the table grows, is rebuilt or cleared. */
  private static final class Slots {
    final int[] hashes; // 0: empty; otherwise hash(key) of the pair in the same slot
    final Object[] pairs; // key at 2i, value at 2i + 1
    final int shift; // a hash's home slot is hash >>> shift
    final boolean seeded; // hashes are SipHash-1-3 under (k0, k1), not String.hashCode
    final long k0;
    final long k1;
    int size; // written by the writer only

    Slots(int capacity, boolean seeded, long k0, long k1) {
      hashes = new int[capacity];
      pairs = new Object[2 * capacity];
      shift = 32 - Integer.numberOfTrailingZeros(capacity);
      this.seeded = seeded;
      this.k0 = k0;
      this.k1 = k1;
    }

    int hash(String key) {
      return seeded ? seededHash(key, k0, k1) : CacheTable.hash(key);
    }
  }

  private volatile Slots slots;

  /** Entries {@link #insertAbsent} refused to probe for (a flood); {@link #countInserted} adds. */
  private final ConcurrentLinkedQueue<Map.Entry<String, String>> refused =
      new ConcurrentLinkedQueue<>();

  private long writerProbes; // slots visited by the writer's puts, removes and inserts; a statistic

  /** An empty table with room for {@code expected} entries before it grows. */
  CacheTable(int expected) {
    slots = new Slots(capacityFor(expected), false, 0, 0);
  }

  private static int capacityFor(int entries) {
    long needed = Math.max(MIN_CAPACITY, (entries * 4L + 2) / 3 + 1);
    if (needed > 1 << 30) {
      throw new IllegalStateException("the cache cannot hold " + entries + " entries");
    }
    return Integer.highestOneBit((int) needed - 1) << 1;
  }

  /** Fibonacci hashing: the multiply spreads String.hashCode's bits into the top ones we use. */
  static int hash(String key) {
    int h = key.hashCode() * 0x9E3779B9;
    return h == 0 ? 1 : h;
  }

  /**
   * SipHash-1-3 (Aumasson and Bernstein) of the key's UTF-16 code units, little-endian, folded to a
   * non-zero int. A keyed PRF: without (k0, k1) nobody can make keys that collide, unlike seeded
   * Murmur or City hashes, which have seed-independent multicollisions.
   */
  static int seededHash(String key, long k0, long k1) {
    long v0 = k0 ^ 0x736f6d6570736575L;
    long v1 = k1 ^ 0x646f72616e646f6dL;
    long v2 = k0 ^ 0x6c7967656e657261L;
    long v3 = k1 ^ 0x7465646279746573L;
    int n = key.length();
    int i = 0;
    for (; i + 4 <= n; i += 4) {
      long m =
          key.charAt(i)
              | (long) key.charAt(i + 1) << 16
              | (long) key.charAt(i + 2) << 32
              | (long) key.charAt(i + 3) << 48;
      v3 ^= m;
      // one SipRound (c = 1)
      v0 += v1;
      v1 = Long.rotateLeft(v1, 13) ^ v0;
      v0 = Long.rotateLeft(v0, 32);
      v2 += v3;
      v3 = Long.rotateLeft(v3, 16) ^ v2;
      v0 += v3;
      v3 = Long.rotateLeft(v3, 21) ^ v0;
      v2 += v1;
      v1 = Long.rotateLeft(v1, 17) ^ v2;
      v2 = Long.rotateLeft(v2, 32);
      v0 ^= m;
    }
    long m = (long) (2 * n) << 56; // the byte length, mod 256, as SipHash pads
    for (int shift = 0; i < n; i++, shift += 16) {
      m |= (long) key.charAt(i) << shift;
    }
    v3 ^= m;
    for (int r = 0; r < 4; r++) { // one more compression round, then three finalization rounds
      if (r == 1) {
        v0 ^= m;
        v2 ^= 0xff;
      }
      v0 += v1;
      v1 = Long.rotateLeft(v1, 13) ^ v0;
      v0 = Long.rotateLeft(v0, 32);
      v2 += v3;
      v3 = Long.rotateLeft(v3, 16) ^ v2;
      v0 += v3;
      v3 = Long.rotateLeft(v3, 21) ^ v0;
      v2 += v1;
      v1 = Long.rotateLeft(v1, 17) ^ v2;
      v2 = Long.rotateLeft(v2, 32);
    }
    long x = v0 ^ v1 ^ v2 ^ v3;
    int h = (int) (x ^ (x >>> 32));
    return h == 0 ? 1 : h;
  }

  /** The value of {@code key}, or null. Safe to call concurrently with the writer (see above). */
  String get(String key) {
    int h = hash(key); // before loading slots, so the two overlap; cached in the String: free
    Slots t = slots;
    if (t.seeded) {
      h = seededHash(key, t.k0, t.k1);
    }
    int[] hashes = t.hashes;
    Object[] pairs = t.pairs;
    int mask = hashes.length - 1;
    int i = h >>> t.shift;
    for (int probes = 0; probes <= mask; probes++, i = (i + 1) & mask) {
      int x = hashes[i];
      if (x == 0) {
        return null;
      }
      if (x == h) {
        Object k = pairs[2 * i];
        if (k == key || key.equals(k)) {
          return (String) pairs[2 * i + 1];
        }
      }
    }
    return null;
  }

  /** The number of entries; concurrent readers must validate it as {@link #get}. */
  int size() {
    return slots.size;
  }

  /** Maps {@code key} to {@code value}. Writer only. */
  void put(String key, String value) {
    Slots t = slots;
    int h = t.hash(key);
    int i = find(t, key, h);
    if (i >= 0) {
      t.pairs[2 * i + 1] = value;
      return;
    }
    if ((t.size + 1) * 4L > t.hashes.length * 3L) {
      t = grow(t);
      h = t.hash(key); // growth may have rebuilt it seeded
    }
    if (!t.seeded && wouldFlood(t, h)) {
      t = rebuildSeeded(t);
      h = t.hash(key);
    }
    insertNew(t, key, value, h);
  }

  /**
   * The entries the current arrays take before they must grow (3/4 of the slots, less the size):
   * what concurrent {@link #insertAbsent} calls may insert together.
   */
  int room() {
    Slots t = slots;
    return (int) (t.hashes.length * 3L / 4) - t.size;
  }

  /**
   * Inserts {@code key}, which must be absent from the table and from every concurrent call, during
   * a bulk load: several threads may call this at once, inserting together at most {@link #room()}
   * entries, while nothing else uses the table (no reader, no {@link #put}, no {@link #remove}).
   * Each claims its slot by a CAS of the slot's hash from 0, then fills key and value. Does not
   * count the entry: once the inserting threads are done (their inserts happen-before), call {@link
   * #countInserted}. A key whose probe meets a flood ({@link #EQUAL_HASH_LIMIT} equal hashes or a
   * run of {@link #RUN_LIMIT}) is set aside instead, so each call costs at most {@link #RUN_LIMIT}
   * probes; {@link #countInserted} inserts it after the table is rebuilt in seeded mode.
   */
  void insertAbsent(String key, String value) {
    Slots t = slots;
    int h = t.hash(key);
    int[] hashes = t.hashes;
    int mask = hashes.length - 1;
    int equal = 0;
    int i = h >>> t.shift;
    for (int probes = 1; ; probes++, i = (i + 1) & mask) {
      int x = hashes[i];
      if (x == 0 && HASH.compareAndSet(hashes, i, 0, h)) {
        t.pairs[2 * i] = key;
        t.pairs[2 * i + 1] = value;
        writerProbes += probes; // racy under concurrent loaders: a statistic
        return;
      }
      if (x == h) {
        equal++;
      }
      if (!t.seeded && (equal >= EQUAL_HASH_LIMIT || probes > RUN_LIMIT)) {
        refused.add(Map.entry(key, value));
        writerProbes += probes;
        return;
      }
    }
  }

  /**
   * Adds {@code n} entries made by {@link #insertAbsent} to the size, and republishes the arrays
   * with a volatile write, so a reader that later reads them sees every insert. If the load flooded
   * the table (entries set aside, or a run longer than {@link #RUN_LIMIT}: one linear pass over the
   * hashes), rebuilds it in seeded mode first, with the entries set aside.
   */
  void countInserted(int n) {
    Slots t = slots;
    int late = 0;
    for (Map.Entry<String, String> ignored : refused) {
      late++;
    }
    t.size += n - late;
    if (!t.seeded && (late > 0 || longestRun(t) > RUN_LIMIT)) {
      t = rebuildSeeded(t);
      for (Map.Entry<String, String> e; (e = refused.poll()) != null; ) {
        insertNew(t, e.getKey(), e.getValue(), t.hash(e.getKey()));
      }
    }
    slots = t;
  }

  /** Removes {@code key} if present. Writer only. */
  void remove(String key) {
    Slots t = slots;
    int i = find(t, key, t.hash(key));
    if (i < 0) {
      return;
    }
    int[] hashes = t.hashes;
    Object[] pairs = t.pairs;
    int mask = hashes.length - 1;
    // Backward shift: pull later entries of the run into the hole unless their home slot lies
    // cyclically in (hole, j], so every entry stays reachable from its home without tombstones.
    // Runs only get shorter, so the flood invariant holds.
    for (int j = (i + 1) & mask; hashes[j] != 0; j = (j + 1) & mask) {
      writerProbes++;
      int home = hashes[j] >>> t.shift;
      if (((j - home) & mask) >= ((j - i) & mask)) {
        pairs[2 * i] = pairs[2 * j];
        pairs[2 * i + 1] = pairs[2 * j + 1];
        hashes[i] = hashes[j];
        i = j;
      }
    }
    hashes[i] = 0;
    pairs[2 * i] = null;
    pairs[2 * i + 1] = null;
    t.size--;
  }

  /** Calls {@code action} for every entry; concurrent readers must validate the result. */
  void forEach(BiConsumer<String, String> action) {
    Slots t = slots;
    int[] hashes = t.hashes;
    Object[] pairs = t.pairs;
    for (int i = 0; i < hashes.length; i++) {
      Object k = pairs[2 * i];
      if (hashes[i] != 0 && k != null) {
        Object v = pairs[2 * i + 1];
        if (v != null) {
          action.accept((String) k, (String) v);
        }
      }
    }
  }

  /** The number of slots ({@link #slotOf} returns one below it). */
  int capacity() {
    return slots.hashes.length;
  }

  /**
   * The slot holding {@code key}, or -1. Slot numbers hold until the next put, remove, growth or
   * rebuild, so only while nobody writes the table (a reload, under the writer lock); any thread.
   * Unlike {@link #put}, adds nothing to {@link #writerProbes}.
   */
  int slotOf(String key) {
    Slots t = slots;
    int h = t.hash(key);
    int[] hashes = t.hashes;
    int mask = hashes.length - 1;
    for (int i = h >>> t.shift, probes = 0; probes <= mask; i = (i + 1) & mask, probes++) {
      int x = hashes[i];
      if (x == 0) {
        return -1;
      }
      if (x == h && key.equals(t.pairs[2 * i])) {
        return i;
      }
    }
    return -1;
  }

  /** The value in slot {@code slot}, which {@link #slotOf} returned (with the same caveat). */
  String valueAt(int slot) {
    return (String) slots.pairs[2 * slot + 1];
  }

  /**
   * Calls {@code action} for the key of every occupied slot whose bit in {@code marked} is clear
   * (slots as {@link #slotOf} numbers them, with the same caveat).
   */
  void forEachUnmarked(BitSet marked, Consumer<String> action) {
    Slots t = slots;
    int[] hashes = t.hashes;
    for (int i = marked.nextClearBit(0); i < hashes.length; i = marked.nextClearBit(i + 1)) {
      if (hashes[i] != 0) {
        action.accept((String) t.pairs[2 * i]);
      }
    }
  }

  /** Drops every entry and the arrays with them (one volatile write: readers see old or empty). */
  void clear() {
    slots = new Slots(MIN_CAPACITY, false, 0, 0);
  }

  /** Rebuilds the table in seeded mode now, as a flood would. Writer only; tests and benchmarks. */
  void switchToSeeded() {
    if (!slots.seeded) {
      rebuildSeeded(slots);
    }
  }

  /** True once the table hashes with SipHash (a flood was seen, or {@link #switchToSeeded}). */
  boolean seeded() {
    return slots.seeded;
  }

  /** The slots a {@link #get} of {@code key} visits (a statistic for tests; writer only). */
  int probes(String key) {
    Slots t = slots;
    int h = t.hash(key);
    int mask = t.hashes.length - 1;
    int i = h >>> t.shift;
    for (int probes = 1; ; probes++, i = (i + 1) & mask) {
      int x = t.hashes[i];
      if (x == 0 || (x == h && key.equals(t.pairs[2 * i]))) {
        return probes;
      }
    }
  }

  /** The longest run of occupied slots: no get visits more than one past it. Writer only. */
  int longestRun() {
    return longestRun(slots);
  }

  /** Slots visited by the writer's puts, removes and inserts so far (a statistic for tests). */
  long writerProbes() {
    return writerProbes;
  }

  private static int longestRun(Slots t) {
    int[] hashes = t.hashes;
    int mask = hashes.length - 1;
    int start = 0;
    while (hashes[start] != 0) { // at most 3/4 full: an empty slot exists
      start++;
    }
    int longest = 0;
    int run = 0;
    for (int n = 0, i = (start + 1) & mask; n < hashes.length; n++, i = (i + 1) & mask) {
      if (hashes[i] != 0) {
        run++;
        longest = Math.max(longest, run);
      } else {
        run = 0;
      }
    }
    return longest;
  }

  /**
   * Whether inserting a new key of hash {@code h} would break the String.hashCode mode's invariant:
   * the run it joins (or joins together) would exceed {@link #RUN_LIMIT} slots, or hold more than
   * {@link #EQUAL_HASH_LIMIT} keys of hash {@code h} (every one lies between its home and the first
   * empty slot). Visits at most about 2 * {@link #RUN_LIMIT} slots.
   */
  private boolean wouldFlood(Slots t, int h) {
    int[] hashes = t.hashes;
    int mask = hashes.length - 1;
    int home = h >>> t.shift;
    int run = 1; // the new entry
    int equal = 0;
    int i = home;
    for (; hashes[i] != 0 && run <= RUN_LIMIT; i = (i + 1) & mask) {
      run++;
      if (hashes[i] == h && ++equal >= EQUAL_HASH_LIMIT) {
        writerProbes += run;
        return true;
      }
    }
    for (i = (i + 1) & mask; hashes[i] != 0 && run <= RUN_LIMIT; i = (i + 1) & mask) {
      run++; // the run after the slot it takes
    }
    for (i = (home - 1) & mask; hashes[i] != 0 && run <= RUN_LIMIT; i = (i - 1) & mask) {
      run++; // the run before its home
    }
    writerProbes += run;
    return run > RUN_LIMIT;
  }

  private int find(Slots t, String key, int h) {
    int[] hashes = t.hashes;
    Object[] pairs = t.pairs;
    int mask = hashes.length - 1;
    for (int i = h >>> t.shift, probes = 1; ; i = (i + 1) & mask, probes++) {
      int x = hashes[i];
      if (x == 0) {
        writerProbes += probes;
        return -1;
      }
      if (x == h && key.equals(pairs[2 * i])) {
        writerProbes += probes;
        return i;
      }
    }
  }

  /** Inserts a key known to be absent; the table has room. Key and value before the hash. */
  private void insertNew(Slots t, String key, String value, int h) {
    int[] hashes = t.hashes;
    int mask = hashes.length - 1;
    int i = h >>> t.shift;
    while (hashes[i] != 0) {
      i = (i + 1) & mask;
      writerProbes++;
    }
    t.pairs[2 * i] = key;
    t.pairs[2 * i + 1] = value;
    hashes[i] = h;
    t.size++;
  }

  /**
   * Copies into arrays twice as large and publishes them with one volatile write. Doubling halves
   * the load but can lengthen crafted runs (keys aimed at the larger table's homes), so in
   * String.hashCode mode it checks the longest run (one pass) and rebuilds seeded if needed.
   */
  private Slots grow(Slots old) {
    Slots t = new Slots(old.hashes.length * 2, old.seeded, old.k0, old.k1);
    for (int i = 0; i < old.hashes.length; i++) {
      if (old.hashes[i] != 0) {
        insertNew(t, (String) old.pairs[2 * i], (String) old.pairs[2 * i + 1], old.hashes[i]);
      }
    }
    if (!t.seeded && longestRun(t) > RUN_LIMIT) {
      return rebuildSeeded(t);
    }
    slots = t;
    return t;
  }

  /**
   * Rehashes every entry with SipHash under a fresh random key into arrays of the same size, and
   * publishes them with one volatile write. Once per table: seeded mode is never left.
   */
  private Slots rebuildSeeded(Slots old) {
    SecureRandom random = Seeds.RANDOM;
    Slots t = new Slots(old.hashes.length, true, random.nextLong(), random.nextLong());
    for (int i = 0; i < old.hashes.length; i++) {
      if (old.hashes[i] != 0) {
        String key = (String) old.pairs[2 * i];
        insertNew(t, key, (String) old.pairs[2 * i + 1], t.hash(key));
      }
    }
    slots = t;
    return t;
  }

  /** Created on the first flood only: most stores never need it. */
  private static final class Seeds {
    static final SecureRandom RANDOM = new SecureRandom();
  }
}
