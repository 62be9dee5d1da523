package dev.kvlog;

import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Owns a store and keeps writing until standard input closes: each round commits the pair {@code
 * pair:a = pair:b = round} in one batch, so a reader that ever sees them differ has seen a
 * half-committed batch. Prints {@code OPEN <pid>} once the first round is durable.
 */
final class WritingOwnerChild {
  public static void main(String[] args) throws Exception {
    AtomicBoolean stop = new AtomicBoolean();
    try (KVLog<String, String> store = KVLog.load(Path.of(args[0]))) {
      store.write(new WriteBatch<String, String>().set("pair:a", "0").set("pair:b", "0"));
      Thread watcher =
          new Thread(
              () -> {
                try {
                  while (System.in.read() != -1) {
                    // wait for the parent to close our standard input
                  }
                } catch (java.io.IOException e) {
                  // parent gone
                }
                stop.set(true);
              });
      watcher.setDaemon(true);
      watcher.start();
      System.out.println("OPEN " + ProcessHandle.current().pid());
      System.out.flush();
      for (int round = 1; !stop.get(); round++) {
        String r = Integer.toString(round);
        store.write(new WriteBatch<String, String>().set("pair:a", r).set("pair:b", r));
        store.set("n:" + (round % 50), "value " + r);
        Thread.sleep(2); // leave the shared cores to the readers
      }
    }
  }
}
