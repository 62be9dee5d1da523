package dev.kvlog;

/**
 * How {@link KVStore#range(Object, Object, Scan)} and {@link KVStore#scan(Object, Scan)} read: all
 * at once from one snapshot, lazily in pages with a snapshot per page, or lazily from one snapshot
 * held until the stream is closed. Immutable and thread-safe.
 *
 * <table>
 *   <caption>The three modes</caption>
 *   <tr><th>mode</th><th>memory</th><th>snapshot</th><th>holds between pulls</th></tr>
 *   <tr><td>{@link #materialized()}</td><td>the whole range</td><td>one</td><td>nothing</td></tr>
 *   <tr><td>{@link #paged(int)}</td><td>one page</td><td>one per page</td><td>nothing</td></tr>
 *   <tr><td>{@link #pinned(int)}</td><td>a few rows</td><td>one</td>
 *       <td>a pooled connection and a read transaction (pins the SQLite WAL)</td></tr>
 * </table>
 */
public final class Scan {
  /** The largest page or fetch size accepted. */
  public static final int MAX_SIZE = 1_000_000;

  /**
   * A page ends once its entries' text reaches this many bytes (two per UTF-16 char of key and
   * value), whatever the page size; it always holds at least one entry.
   */
  public static final long PAGE_BYTES = 4L << 20;

  enum Mode {
    MATERIALIZED,
    PAGED,
    PINNED
  }

  private static final Scan MATERIALIZED = new Scan(Mode.MATERIALIZED, 0);

  private final Mode mode;
  private final int size;

  private Scan(Mode mode, int size) {
    this.mode = mode;
    this.size = size;
  }

  /**
   * Reads the whole range from one consistent snapshot before returning, as the two-argument {@link
   * KVStore#range(Object, Object)} does: the stream holds no connection, lock or transaction.
   *
   * @return the materialized mode
   */
  public static Scan materialized() {
    return MATERIALIZED;
  }

  /**
   * Reads lazily, in key-ordered pages of at most {@code pageSize} entries (and at most {@link
   * #PAGE_BYTES} of text, but at least one entry), each page in its own short read transaction.
   * Nothing is held between pages, so a slow consumer never pins the SQLite WAL; closing the stream
   * is optional. Each page is a consistent snapshot; the stream as a whole is not (see {@link
   * KVStore#range(Object, Object, Scan)} for exactly what it guarantees).
   *
   * @param pageSize the most entries one page reads, 1 to {@value #MAX_SIZE}
   * @return the paged mode
   * @throws IllegalArgumentException if {@code pageSize} is out of range
   */
  public static Scan paged(int pageSize) {
    return new Scan(Mode.PAGED, check(pageSize, "pageSize", "paged"));
  }

  /**
   * Reads lazily from ONE consistent snapshot held until the stream is exhausted or closed: one of
   * the store's pooled connections and a read transaction stay open that long. On SQLite that pins
   * the WAL (checkpoints cannot reset it, so it grows while writers go on) and takes one of the
   * four pooled connections other scans need; on PostgreSQL it holds a pooled connection in a
   * {@code REPEATABLE READ} transaction. Close the stream (try-with-resources); closing the store
   * closes it too, and a stream dropped unclosed is closed once the garbage collector finds it
   * unreachable, which may be much later.
   *
   * @param fetchSize how many rows are read ahead at a time on PostgreSQL (its JDBC fetch size), 1
   *     to {@value #MAX_SIZE}; SQLite reads one row per step whatever it is
   * @return the pinned mode
   * @throws IllegalArgumentException if {@code fetchSize} is out of range
   */
  public static Scan pinned(int fetchSize) {
    return new Scan(Mode.PINNED, check(fetchSize, "fetchSize", "pinned"));
  }

  Mode mode() {
    return mode;
  }

  /** The page size (paged) or fetch size (pinned); 0 when materialized. */
  int size() {
    return size;
  }

  private static int check(int size, String name, String factory) {
    if (size < 1 || size > MAX_SIZE) {
      throw new IllegalArgumentException(
          name
              + " is "
              + size
              + "; Scan."
              + factory
              + " takes 1 to "
              + MAX_SIZE
              + " entries (use Scan.materialized() to read the whole range at once)");
    }
    return size;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Scan && ((Scan) o).mode == mode && ((Scan) o).size == size;
  }

  @Override
  public int hashCode() {
    return mode.hashCode() * 31 + size;
  }

  @Override
  public String toString() {
    switch (mode) {
      case PAGED:
        return "Scan.paged(" + size + ")";
      case PINNED:
        return "Scan.pinned(" + size + ")";
      default:
        return "Scan.materialized()";
    }
  }
}
