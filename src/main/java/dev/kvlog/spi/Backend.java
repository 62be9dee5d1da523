package dev.kvlog.spi;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * A store's engine, on encoded text. Keys and values reach a backend as the Strings the facade's
 * codecs produced, already checked to be valid UTF-16 and accepted by {@link #checkKey} and {@link
 * #checkValue}; a null value never reaches it except as "absent" or "remove".
 *
 * <p><b>What every backend promises</b> (the facade's guarantees rest on it):
 *
 * <ul>
 *   <li>A write returns once it is durable; or throws {@code dev.kvlog.WriteFailedException} with
 *       the store unchanged; or throws one whose {@code outcomeUnknown()} is true. Never anything
 *       else, and never a failure for a write that was applied.
 *   <li>{@link #get} never returns a value that is not durable, nor part of a batch, and never goes
 *       back in time for a key this instance wrote or read.
 *   <li>A write's {@code prior} function runs on the value the key holds under the write's own
 *       ordering (the lock that decides it), before the change is committed; if it throws, nothing
 *       is written and the write throws {@code WriteFailedException} (outcome known) with that
 *       exception as its cause.
 *   <li>{@link #range}, each {@link #rangePage} and each {@link #openCursor cursor} read one
 *       consistent snapshot, and a {@link #get} that follows is never older than what it showed.
 * </ul>
 *
 * <p>Each backend keeps its own write path and cache. The facade owns the closed state: it calls no
 * method but {@link #close} after {@code close}, and re-checks its own state after a read that
 * raced it. Implementations are thread-safe.
 */
public interface Backend extends AutoCloseable {

  /**
   * Where the store is, for messages: the file, or the URL without its secrets.
   *
   * @return a description safe to show
   */
  String describe();

  /**
   * The optional abilities this backend has.
   *
   * @return the capabilities; the facade refuses the others' operations
   */
  Set<Capability> capabilities();

  /**
   * Refuses a key this backend cannot store or address.
   *
   * @param key the encoded key
   * @param mayInsert true if the write may create the key (set, setIfAbsent, a put in a batch),
   *     false for reads and removals
   * @throws IllegalArgumentException naming the problem and the fix
   */
  void checkKey(String key, boolean mayInsert);

  /**
   * Refuses a value this backend cannot store.
   *
   * @param value the encoded value
   * @throws IllegalArgumentException naming the problem and the fix
   */
  void checkValue(String value);

  /**
   * The value stored under {@code key}, or null.
   *
   * @param key the encoded key
   * @return the encoded value, or null if the key is absent
   */
  String get(String key);

  /**
   * Whether {@link #get} answers from memory alone, with no other effect, and returns a value only
   * for a key equal to one the backend stored (so one that passed the facade's checks, or that it
   * decoded strictly from valid UTF-8), while {@link #checkKey checkKey(key, false)} accepts every
   * stored key. The facade then checks a read's key only when {@code get} returns null: a hit
   * proves the key valid. False (the default) makes the facade check every key before {@code get}.
   *
   * @return true if a hit proves the key valid and a miss has no effect
   */
  default boolean getHitProvesKeyValid() {
    return false;
  }

  /**
   * Whether {@link #get} answers from memory, never waiting for I/O (true, the default). False
   * makes the facade's asynchronous gets run on its executor instead of the caller's thread.
   *
   * @return true if a get never does I/O
   */
  default boolean getNeverBlocks() {
    return true;
  }

  /**
   * Stores {@code value} under {@code key}.
   *
   * @param <T> what the facade makes of the prior text
   * @param key the encoded key
   * @param value the encoded value
   * @param prior converts the text the key held, inside the write (so a failure refuses it)
   * @return {@code prior} applied to the text the key held (not called if it held none: null)
   */
  <T> T set(String key, String value, Function<String, T> prior);

  /**
   * Removes {@code key}.
   *
   * @param <T> what the facade makes of the prior text
   * @param key the encoded key
   * @param prior converts the text the key held, inside the write (so a failure refuses it)
   * @return {@code prior} applied to the text the key held (not called if it held none: null)
   */
  <T> T delete(String key, Function<String, T> prior);

  /**
   * Stores {@code value} only if {@code key} is absent.
   *
   * @param <T> what the facade makes of the present text
   * @param key the encoded key
   * @param value the encoded value
   * @param present converts the text the key holds, when it holds one
   * @return null if {@code value} was stored; else {@code present} applied to the text the key
   *     holds (nothing written)
   */
  <T> T setIfAbsent(String key, String value, Function<String, T> present);

  /**
   * Replaces the text {@code expected} (null: absent) with {@code update} (null: remove).
   *
   * @param key the encoded key
   * @param expected the text the key must hold now, or null for absent
   * @param update the text to store instead, or null to remove the key
   * @return true if the key held {@code expected}
   */
  boolean compareAndSet(String key, String expected, String update);

  /**
   * Applies all {@code changes}, in order, atomically and durably; later ones win.
   *
   * @param changes the batch, already encoded and checked
   */
  void apply(List<Change> changes);

  /**
   * The entries with {@code from <= key < to} in the order of the keys' code points, from one
   * consistent snapshot, materialized.
   *
   * @param from lowest key, inclusive; null for no lower bound
   * @param to highest key, exclusive; null for no upper bound
   * @return the entries, in key order
   */
  List<Map.Entry<String, String>> range(String from, String to);

  /**
   * One page of a lazy scan: the entries with {@code from <= key < to} and {@code key > after}, in
   * the order of the keys' code points, from one consistent snapshot of its own, with the same
   * guarantee as {@link #range} (a {@link #get} that follows is never older than what it showed).
   * It holds nothing once it returns. It returns fewer than {@code limit} entries only if no more
   * are in the range, or if the entries' text reached {@code maxBytes} (two bytes per char of key
   * and value, counted after each entry, so a page holds at least one entry): the facade ends the
   * scan at a page that is short for neither reason.
   *
   * <p>The default reads the whole range with {@link #range} and keeps the page: correct, but not
   * bounded in memory; backends override it.
   *
   * @param from lowest key, inclusive; null for no lower bound
   * @param to highest key, exclusive; null for no upper bound
   * @param after the last key of the previous page, exclusive; null for the first page
   * @param limit the most entries to return, at least 1
   * @param maxBytes the text size after which the page ends
   * @return the page's entries, in key order
   */
  default List<Map.Entry<String, String>> rangePage(
      String from, String to, String after, int limit, long maxBytes) {
    String lo = after == null ? from : after;
    List<Map.Entry<String, String>> page = new java.util.ArrayList<>();
    long bytes = 0;
    for (Map.Entry<String, String> e : range(lo, to)) {
      if (after != null && e.getKey().equals(after)) {
        continue;
      }
      page.add(e);
      bytes += 2L * (e.getKey().length() + e.getValue().length());
      if (page.size() == limit || bytes >= maxBytes) {
        break;
      }
    }
    return page;
  }

  /**
   * Opens a cursor over the entries with {@code from <= key < to}, in key order, from ONE
   * consistent snapshot that the cursor holds (a connection and a read transaction) until it is
   * exhausted or closed; a {@link #get} after the cursor opened is never older than the snapshot.
   * The facade closes every open cursor before it calls {@link #close}.
   *
   * <p>The default iterates a {@link #range} read at once: one snapshot, holding nothing, but not
   * bounded in memory; backends override it.
   *
   * @param from lowest key, inclusive; null for no lower bound
   * @param to highest key, exclusive; null for no upper bound
   * @param fetchSize how many rows to read ahead at a time, where the backend reads ahead
   * @return the open cursor; the caller closes it
   */
  default Cursor openCursor(String from, String to, int fetchSize) {
    java.util.Iterator<Map.Entry<String, String>> all = range(from, to).iterator();
    return new Cursor() {
      @Override
      public boolean hasNext() {
        return all.hasNext();
      }

      @Override
      public Map.Entry<String, String> next() {
        return all.next();
      }

      @Override
      public void close() {}
    };
  }

  /**
   * An open scan over one snapshot, from {@link #openCursor}. Used by one thread at a time (the
   * facade serializes its use with {@link #close}).
   */
  interface Cursor extends java.util.Iterator<Map.Entry<String, String>>, AutoCloseable {
    /**
     * Releases the snapshot, the transaction and the connection. Idempotent.
     *
     * @throws dev.kvlog.KVLogException if releasing failed (the connection is released anyway)
     */
    @Override
    void close();
  }

  /**
   * The number of entries.
   *
   * @return the number of keys stored
   */
  int size();

  /**
   * A copy of every entry, from between two commits: no write is in it in part.
   *
   * @return encoded keys to encoded values; the caller may keep it
   */
  Map<String, String> snapshot();

  /**
   * The schema version recorded in the store.
   *
   * @return the store's schema version
   */
  int schemaVersion();

  /**
   * Takes in, now, changes other connections committed, where the backend watches for them.
   *
   * @return true if the cache changed
   */
  boolean refresh();

  /**
   * The database file; only with {@link Capability#LOCAL_FILE}.
   *
   * @return the store's database file
   */
  default Path file() {
    throw new UnsupportedOperationException(describe() + " is not a local file");
  }

  /**
   * Sizes and commit figures; only with {@link Capability#STATS}.
   *
   * @return the figures as of this call
   */
  default BackendStats stats() {
    throw new UnsupportedOperationException(describe() + " keeps no statistics");
  }

  /**
   * Writes a consistent, durable copy of the store to {@code target}, never replacing a file; only
   * with {@link Capability#BACKUP}.
   *
   * @param target the file to create; it must not exist
   */
  default void backup(Path target) {
    throw new UnsupportedOperationException(describe() + " has no backup");
  }

  /**
   * An integrity check of the stored data while the store is open; only with {@link
   * Capability#INTEGRITY_CHECK}.
   *
   * @return the problems found, empty if sound
   */
  default List<String> check() {
    throw new UnsupportedOperationException(describe() + " has no integrity check");
  }

  /**
   * Waits for writes in progress and releases everything the backend holds; pending and later
   * writes throw {@code dev.kvlog.StoreClosedException}. Called once.
   */
  @Override
  void close();
}
