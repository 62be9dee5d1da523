package dev.kvlog;

import dev.kvlog.internal.Text;
import dev.kvlog.spi.Backend;
import java.lang.ref.Cleaner;
import java.util.AbstractMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * The lazy forms of {@link KVStore#range(Object, Object, Scan)}: {@link Scan#paged paged} streams,
 * which hold nothing between pages, and {@link Scan#pinned pinned} ones, which hold a backend
 * {@link Backend.Cursor} until exhausted or closed. Entries are decoded as they are pulled, so an
 * entry the codecs cannot read fails the stream there, after the entries before it were delivered.
 *
 * <p><b>Invariant: no open cursor outlives the store.</b> Every pinned cursor is registered here
 * from the moment it is opened until it is closed, and {@link #closeAll} (called by {@code close()}
 * after the store is marked closed, before the backend closes) closes every registered one. A
 * cursor opened while close runs is either registered in time for {@link #closeAll}, or sees the
 * closed mark when it re-checks after registering, and closes itself: so the SQLite WAL is never
 * left pinned by a cursor at close, and its checkpoint can truncate it.
 *
 * <p><b>Doors.</b> A consumer thread pulling while {@code close()} runs: cursor steps and the
 * cursor's close are serialized on the cursor, so close waits for at most one step, and the next
 * pull throws {@link StoreClosedException}. A stream dropped without being closed: its cursor is
 * closed by a {@link Cleaner} once the stream is unreachable (the registry holds the cursor, never
 * the stream, so it does not keep the stream alive).
 *
 * <p>Thread-safe.
 */
final class LazyScans {
  private static final Cleaner CLEANER = Cleaner.create();
  private static final int CHARACTERISTICS =
      Spliterator.ORDERED | Spliterator.NONNULL | Spliterator.DISTINCT;

  private final Set<Pin> open = ConcurrentHashMap.newKeySet();

  /** Closes every open cursor; the store is already marked closed. */
  void closeAll() {
    RuntimeException failure = null;
    for (Pin pin : open) {
      try {
        pin.run();
      } catch (RuntimeException e) {
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      }
    }
    if (failure != null) {
      throw failure;
    }
  }

  /** How many pinned cursors are open (for tests). */
  int openCursors() {
    return open.size();
  }

  /** A paged stream; its first page is read now, so failures to read at all are thrown here. */
  <K, V> Stream<Map.Entry<K, V>> paged(TypedStore<K, V> store, String lo, String hi, int size) {
    Paged<K, V> pages = new Paged<>(store, lo, hi, size);
    pages.fetch();
    return StreamSupport.stream(Spliterators.spliteratorUnknownSize(pages, CHARACTERISTICS), false);
  }

  /** A pinned stream; its snapshot is taken now. */
  <K, V> Stream<Map.Entry<K, V>> pinned(TypedStore<K, V> store, String lo, String hi, int size) {
    Backend.Cursor cursor;
    try {
      cursor = store.backend.openCursor(lo, hi, size);
    } catch (RuntimeException e) {
      throw store.closedOr(e);
    }
    Pin pin = new Pin(cursor, open);
    open.add(pin);
    if (store.isClosed()) { // close() may have run closeAll before the add: see the invariant
      pin.run();
      throw store.closedException();
    }
    Pinned<K, V> entries = new Pinned<>(store, pin);
    Cleaner.Cleanable cleanable = CLEANER.register(entries, pin);
    return StreamSupport.stream(
            Spliterators.spliteratorUnknownSize(entries, CHARACTERISTICS), false)
        .onClose(cleanable::clean);
  }

  private static <K, V> Map.Entry<K, V> decode(
      TypedStore<K, V> store, Map.Entry<String, String> e) {
    return new AbstractMap.SimpleImmutableEntry<>(
        store.typed.decodeKey(e.getKey()), store.typed.value(e.getKey(), e.getValue()));
  }

  /** Pages read one at a time, each in its own snapshot; nothing held between them. */
  private static final class Paged<K, V> implements Iterator<Map.Entry<K, V>> {
    private final TypedStore<K, V> store;
    private final String lo;
    private final String hi;
    private final int size;
    private List<Map.Entry<String, String>> page = List.of();
    private int index;
    private String after; // the last key read; the next page starts after it
    private boolean last;

    Paged(TypedStore<K, V> store, String lo, String hi, int size) {
      this.store = store;
      this.lo = lo;
      this.hi = hi;
      this.size = size;
    }

    void fetch() {
      store.checkOpen();
      try {
        page = store.backend.rangePage(lo, hi, after, size, Scan.PAGE_BYTES);
      } catch (RuntimeException e) {
        throw store.closedOr(e);
      }
      index = 0;
      long bytes = 0;
      String previous = after;
      for (Map.Entry<String, String> e : page) {
        // Each key after the one before: a page that repeated one would make the scan loop forever.
        if (previous != null && Text.CODE_POINT_ORDER.compare(e.getKey(), previous) <= 0) {
          throw new KVLogException(
              store.where
                  + " returned a scan page out of key order ("
                  + Text.excerpt(e.getKey())
                  + " after "
                  + Text.excerpt(previous)
                  + "); the backend's rangePage is faulty: report it");
        }
        previous = e.getKey();
        bytes += 2L * (e.getKey().length() + e.getValue().length());
      }
      // A page shorter than asked for, and not ended by the byte bound, is the range's end.
      last = page.size() < size && bytes < Scan.PAGE_BYTES;
      if (!page.isEmpty()) {
        after = page.get(page.size() - 1).getKey();
      }
    }

    @Override
    public boolean hasNext() {
      store.checkOpen();
      while (index == page.size()) {
        if (last) {
          return false;
        }
        fetch();
      }
      return true;
    }

    @Override
    public Map.Entry<K, V> next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      return decode(store, page.get(index++));
    }
  }

  /**
   * The pull side of a pinned stream; the garbage collector's {@link Cleaner} watches this object,
   * so nothing but the stream may refer to it.
   */
  private static final class Pinned<K, V> implements Iterator<Map.Entry<K, V>> {
    private final TypedStore<K, V> store;
    private final Pin pin;

    Pinned(TypedStore<K, V> store, Pin pin) {
      this.store = store;
      this.pin = pin;
    }

    @Override
    public boolean hasNext() {
      store.checkOpen();
      try {
        return pin.hasNext();
      } catch (RuntimeException e) {
        throw store.closedOr(e);
      }
    }

    @Override
    public Map.Entry<K, V> next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      Map.Entry<String, String> raw;
      try {
        raw = pin.next();
      } catch (RuntimeException e) {
        throw store.closedOr(e);
      }
      store.checkOpen(); // close() may have run between hasNext and next
      return decode(store, raw);
    }
  }

  /**
   * An open cursor and its place in the registry; {@link #run} closes it (the stream's close, the
   * store's close, or the {@link Cleaner}), once. Steps and close are serialized here.
   */
  private static final class Pin implements Runnable {
    private final Backend.Cursor cursor;
    private final Set<Pin> registry;
    private boolean closed; // guarded by this
    private boolean exhausted; // guarded by this

    Pin(Backend.Cursor cursor, Set<Pin> registry) {
      this.cursor = cursor;
      this.registry = registry;
    }

    synchronized boolean hasNext() {
      if (exhausted) {
        return false;
      }
      if (closed) {
        throw new IllegalStateException(
            "this pinned scan's stream was closed; start a new scan to read on");
      }
      boolean more;
      try {
        more = cursor.hasNext();
      } catch (RuntimeException e) {
        release(e);
        throw e;
      }
      if (!more) {
        exhausted = true;
        release(null); // let go of the snapshot now, not when the stream is closed
      }
      return more;
    }

    synchronized Map.Entry<String, String> next() {
      if (closed) {
        throw new NoSuchElementException();
      }
      try {
        return cursor.next();
      } catch (RuntimeException e) {
        release(e); // a failed stream holds nothing (a CorruptValueException: no more is read)
        throw e;
      }
    }

    @Override
    public synchronized void run() {
      release(null);
    }

    private void release(RuntimeException cause) {
      if (closed) {
        return;
      }
      closed = true;
      registry.remove(this);
      try {
        cursor.close();
      } catch (RuntimeException e) {
        if (cause == null) {
          throw e;
        }
        cause.addSuppressed(e);
      }
    }
  }
}
