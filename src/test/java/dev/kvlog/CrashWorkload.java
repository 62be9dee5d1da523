package dev.kvlog;

import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

/**
 * The child side of {@link RudeRestartTest}: opens the store and applies the seeded operation
 * sequence one by one, appending {@code n} to the ack file after operation {@code n} returned,
 * until killed. The acks go to a file with one unbuffered write each, not to a pipe: a killed
 * process's file writes are in the page cache, while the JDK may drop the unread tail of a dead
 * child's stdout pipe (seen here: a store two operations ahead of the acks read from stdout). Both
 * sides derive the same sequence from the seed, so the parent knows what was issued.
 */
final class CrashWorkload {
  /** Operation {@code n} of the sequence for {@code seed}: a delete when value is null. */
  record Op(String key, String value) {
    void applyTo(Map<String, String> model) {
      if (value == null) {
        model.remove(key);
      } else {
        model.put(key, value);
      }
    }
  }

  static Op op(long seed, int n) {
    Random random = new Random(seed * 1_000_003L + n);
    String key = "key" + random.nextInt(40);
    if (random.nextInt(4) == 0) {
      return new Op(key, null);
    }
    int length = random.nextInt(10) == 0 ? 20_000 + random.nextInt(50_000) : random.nextInt(200);
    StringBuilder value = new StringBuilder("s" + seed + "-n" + n + "-");
    while (value.length() < length) {
      value.append((char) ('a' + random.nextInt(26)));
    }
    return new Op(key, value.toString());
  }

  public static void main(String[] args) throws java.io.IOException {
    Path db = Path.of(args[0]);
    long seed = Long.parseLong(args[1]);
    java.io.FileOutputStream acks = new java.io.FileOutputStream(args[2]);
    KVLog<String, String> store = KVLog.load(db); // never closed: the parent kills us
    System.out.println("READY");
    System.out.flush();
    for (int n = 0; ; n++) {
      Op op = op(seed, n);
      if (op.value() == null) {
        store.delete(op.key());
      } else {
        store.set(op.key(), op.value());
      }
      acks.write((n + "\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    }
  }
}
