package dev.kvlog;

import java.nio.file.Path;

/**
 * Opens a store, writes one entry, prints OPEN and waits to be killed (or reads stdin to exit);
 * prints LOCKED or REFUSED and the message if the open is refused.
 */
final class HoldStoreChild {
  public static void main(String[] args) throws Exception {
    try (KVLog<String, String> store = KVLog.load(Path.of(args[0]))) {
      store.set("held-by", Long.toString(ProcessHandle.current().pid()));
      System.out.println("OPEN");
      System.out.flush();
      System.in.read();
    } catch (StoreLockedException e) {
      System.out.println("LOCKED " + e.getMessage());
    } catch (StoreOpenException e) {
      System.out.println("REFUSED " + e.getMessage());
    }
  }
}
