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
 * {@link AsyncKVStore} over a {@link KVStore}: each write is the synchronous call, run on an
 * executor; {@code get} completes at once. Thread-safe.
 */
final class AsyncView<K, V> implements AsyncKVStore<K, V> {
  private final KVStore<K, V> store;
  private final Executor executor;
  private final Supplier<StoreClosedException> closed; // null while the store is open

  AsyncView(KVStore<K, V> store, Executor executor, Supplier<StoreClosedException> closed) {
    this.store = store;
    this.executor = executor;
    this.closed = closed;
  }

  @Override
  public CompletableFuture<Optional<V>> get(K key) {
    return call(() -> store.get(key), Runnable::run);
  }

  @Override
  public CompletableFuture<Optional<V>> set(K key, V value) {
    return call(() -> store.set(key, value), executor);
  }

  @Override
  public CompletableFuture<Optional<V>> delete(K key) {
    return call(() -> store.delete(key), executor);
  }

  @Override
  public CompletableFuture<Optional<V>> setIfAbsent(K key, V value) {
    return call(() -> store.setIfAbsent(key, value), executor);
  }

  @Override
  public CompletableFuture<Boolean> compareAndSet(K key, V expected, V newValue) {
    return call(() -> store.compareAndSet(key, expected, newValue), executor);
  }

  @Override
  public CompletableFuture<Void> write(WriteBatch<K, V> batch) {
    return call(
        () -> {
          store.write(batch);
          return null;
        },
        executor);
  }

  private <T> CompletableFuture<T> call(Supplier<T> op, Executor on) {
    try {
      return CompletableFuture.supplyAsync(op, on);
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
