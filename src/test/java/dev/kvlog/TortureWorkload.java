package dev.kvlog;

import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;

/**
 * A seeded, concurrent workload for the crash and power-cut tests, and the model that checks it.
 *
 * <p>{@link #WRITERS} threads share one store. Writer {@code w} owns the keys {@code w<w>/k<j>} and
 * issues its own deterministic sequence of sets, deletes, batches and compare-and-sets on them;
 * every writer also increments the shared key {@code counter} with a compare-and-set loop. After
 * operation {@code n} returns, the writer appends {@code n} to its ack file (one unbuffered write:
 * it reaches the page cache, which survives SIGKILL, and is outside the files a power cut drops).
 *
 * <p>Because each writer's keys are its own, the state of a writer's keys after a crash must be the
 * result of a prefix of that writer's sequence: all acknowledged operations, plus possibly the one
 * in flight, which is all-or-nothing even when it is a batch. The counter must have grown by at
 * least the acknowledged increments and at most those plus one in flight per writer.
 */
final class TortureWorkload {
  static final int WRITERS = 4;
  static final int KEYS_PER_WRITER = 8;
  static final String COUNTER = "counter";

  enum Kind {
    SET,
    DELETE,
    BATCH,
    CAS,
    CAS_STALE,
    INCREMENT
  }

  /** One operation; {@code changes} maps keys to values (null: delete) for SET/DELETE/BATCH/CAS. */
  record Op(Kind kind, Map<String, String> changes, String key) {}

  static String key(int writer, int j) {
    return "w" + writer + "/k" + j;
  }

  /** Operation {@code n} of writer {@code writer} in cycle {@code seed}. */
  static Op op(long seed, int writer, int n) {
    Random r = new Random((seed * 31 + writer) * 1_000_003L + n);
    String key = key(writer, r.nextInt(KEYS_PER_WRITER));
    String value = "s" + seed + "w" + writer + "n" + n + "-" + "x".repeat(r.nextInt(300));
    int dice = r.nextInt(100);
    if (dice < 45) {
      return new Op(Kind.SET, Map.of(key, value), key);
    } else if (dice < 60) {
      Map<String, String> one = new HashMap<>();
      one.put(key, null);
      return new Op(Kind.DELETE, one, key);
    } else if (dice < 80) {
      Map<String, String> batch = new java.util.LinkedHashMap<>();
      int size = 2 + r.nextInt(4);
      for (int i = 0; i < size; i++) {
        batch.put(key(writer, r.nextInt(KEYS_PER_WRITER)), r.nextInt(4) == 0 ? null : value + i);
      }
      return new Op(Kind.BATCH, batch, key);
    } else if (dice < 90) {
      return new Op(Kind.CAS, Map.of(key, value), key);
    } else if (dice < 95) {
      return new Op(Kind.CAS_STALE, Map.of(), key);
    } else {
      return new Op(Kind.INCREMENT, Map.of(), COUNTER);
    }
  }

  /** Applies a writer's operation to the model of its own keys (the counter is checked apart). */
  static void apply(Op op, Map<String, String> model) {
    switch (op.kind()) {
      case SET, DELETE, BATCH, CAS ->
          op.changes()
              .forEach(
                  (k, v) -> {
                    if (v == null) {
                      model.remove(k);
                    } else {
                      model.put(k, v);
                    }
                  });
      case CAS_STALE, INCREMENT -> {}
    }
  }

  /** The writer's keys of a store's contents. */
  static Map<String, String> keysOf(Map<String, String> contents, int writer) {
    Map<String, String> mine = new HashMap<>();
    contents.forEach(
        (k, v) -> {
          if (k.startsWith("w" + writer + "/")) {
            mine.put(k, v);
          }
        });
    return mine;
  }

  /** Runs one writer until the process dies. Throws if the store contradicts the model. */
  static void runWriter(KVLog<String, String> store, long seed, int writer, Path ackFile)
      throws IOException {
    Map<String, String> model = new HashMap<>();
    store.scan("w" + writer + "/").forEach(e -> model.put(e.getKey(), e.getValue()));
    try (FileOutputStream acks = new FileOutputStream(ackFile.toFile())) {
      for (int n = 0; ; n++) {
        Op op = op(seed, writer, n);
        switch (op.kind()) {
          case SET -> op.changes().forEach(store::set);
          case DELETE -> store.delete(op.key());
          case BATCH -> {
            WriteBatch<String, String> batch = new WriteBatch<>();
            op.changes()
                .forEach(
                    (k, v) -> {
                      if (v == null) {
                        batch.delete(k);
                      } else {
                        batch.set(k, v);
                      }
                    });
            store.write(batch);
          }
          case CAS -> {
            if (!store.compareAndSet(op.key(), model.get(op.key()), op.changes().get(op.key()))) {
              throw new IllegalStateException("CAS against the model failed: " + op);
            }
          }
          case CAS_STALE -> {
            if (store.compareAndSet(op.key(), "never written", "x")) {
              throw new IllegalStateException("a stale CAS succeeded: " + op);
            }
          }
          case INCREMENT -> {
            for (; ; ) {
              Optional<String> seen = store.get(COUNTER);
              String next = Long.toString(seen.map(Long::parseLong).orElse(0L) + 1);
              if (store.compareAndSet(COUNTER, seen.orElse(null), next)) {
                break;
              }
            }
          }
        }
        apply(op, model);
        acks.write((n + "\n").getBytes(StandardCharsets.US_ASCII));
      }
    }
  }

  /**
   * args: db, seed, ack file prefix, synchronous mode ("FULL" or a weaker one for controls), and
   * optionally a {@link CacheMode} name (default WHOLE).
   */
  public static void main(String[] args) throws Exception {
    Path db = Path.of(args[0]);
    long seed = Long.parseLong(args[1]);
    String ackPrefix = args[2];
    String synchronous = args[3];
    CacheMode cache = args.length > 4 ? CacheMode.valueOf(args[4]) : CacheMode.WHOLE;
    KVLogBuilder<String, String> builder = cache.builder(db);
    if (!synchronous.equals("FULL")) {
      builder.weakSynchronousForTests(synchronous);
    }
    KVLog<String, String> store = builder.open(); // never closed: the parent kills us
    List<Thread> writers = new ArrayList<>();
    for (int w = 0; w < WRITERS; w++) {
      int writer = w;
      Thread t =
          new Thread(
              () -> {
                try {
                  runWriter(store, seed, writer, Path.of(ackPrefix + writer));
                } catch (Throwable e) {
                  e.printStackTrace();
                  Runtime.getRuntime().halt(13);
                }
              });
      t.start();
      writers.add(t);
    }
    System.out.println("READY");
    System.out.flush();
    for (Thread t : writers) {
      t.join();
    }
  }
}
