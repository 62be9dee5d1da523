package dev.kvlog.sqlite;

import dev.kvlog.KVLogException;

/** Releasing several resources so that one failure does not leak the others. */
public final class Resources {
  private Resources() {}

  /**
   * Closes every resource in order, even when some fail.
   *
   * @throws KVLogException with {@code message}, the first failure as its cause and the later ones
   *     suppressed, if any close failed
   */
  public static void closeAll(String message, AutoCloseable... resources) {
    KVLogException problem = null;
    for (AutoCloseable resource : resources) {
      try {
        resource.close();
      } catch (Exception e) {
        if (problem == null) {
          problem = new KVLogException(message, e);
        } else {
          problem.addSuppressed(e);
        }
      }
    }
    if (problem != null) {
      throw problem;
    }
  }
}
