package dev.kvlog;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * {@link AsyncKVStore} over a {@link TypedStore}: each write is prepared on the calling thread
 * (keys, values and batches encoded and checked, exactly as the synchronous call does), and the
 * prepared backend call runs on the executor; {@code get} completes at once. Encoding when called
 * keeps the README's promise that changing an object (or reusing a {@link WriteBatch}) after the
 * call changes nothing stored, whenever the executor gets to the task. A preparation failure
 * completes the future exceptionally with the exception the synchronous call throws. Thread-safe.
 */
final class AsyncView<K, V> implements AsyncKVStore<K, V> {
  private final TypedStore<K, V> store;
  private final Executor executor;
  private final Supplier<StoreClosedException> closed; // null while the store is open

  AsyncView(TypedStore<K, V> store, Executor executor, Supplier<StoreClosedException> closed) {
    this.store = store;
    this.executor = executor;
    this.closed = closed;
  }

  @Override
  public CompletableFuture<Optional<V>> get(K key) {
    return call(
        () -> () -> store.get(key), store.backend.getNeverBlocks() ? Runnable::run : executor);
  }

  @Override
  public CompletableFuture<Optional<V>> set(K key, V value) {
    return call(() -> store.prepareSet(key, value), executor);
  }

  @Override
  public CompletableFuture<Optional<V>> delete(K key) {
    return call(() -> store.prepareDelete(key), executor);
  }

  @Override
  public CompletableFuture<Optional<V>> setIfAbsent(K key, V value) {
    return call(() -> store.prepareSetIfAbsent(key, value), executor);
  }

  @Override
  public CompletableFuture<Boolean> compareAndSet(K key, V expected, V newValue) {
    return call(() -> store.prepareCompareAndSet(key, expected, newValue), executor);
  }

  @Override
  public CompletableFuture<Void> write(WriteBatch<K, V> batch) {
    return call(() -> store.prepareWrite(batch), executor);
  }

  /** Prepares the operation here, on the calling thread, and runs what it prepared {@code on}. */
  private <T> CompletableFuture<T> call(Supplier<TypedStore.Prepared<T>> prepare, Executor on) {
    TypedStore.Prepared<T> op;
    try {
      op = prepare.get();
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
    try {
      return CompletableFuture.supplyAsync(op::run, on);
    } catch (RejectedExecutionException e) {
      // The default executor is shut down by close(); a caller's executor may refuse for its own
      // reasons.
      StoreClosedException c = closed.get();
      return CompletableFuture.failedFuture(c != null ? c : e);
    }
  }

  /** Virtual threads on JDK 21+, else a cached pool of daemon threads. */
  static ExecutorService newDefaultExecutor() {
    try { // JDK 21+: one virtual thread per task. Looked up reflectively: we compile for Java 17.
      return (ExecutorService)
          Executors.class.getMethod("newVirtualThreadPerTaskExecutor").invoke(null);
    } catch (ReflectiveOperationException e) {
      AtomicInteger n = new AtomicInteger();
      return Executors.newCachedThreadPool(
          task -> {
            Thread t = new Thread(task, "kvlog-async-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
          });
    }
  }
}
