package dev.kvlog;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Builds {@code src/test/c/powercut.c} (an LD_PRELOAD library that holds unsynced writes in the
 * process's memory, so SIGKILL drops them as a power cut would) with the machine's gcc, once per
 * test JVM. Linux with gcc only; elsewhere {@link #library()} says why not, and the tests skip.
 */
final class PowerCut {
  private static Path library;
  private static String unavailable;

  private PowerCut() {}

  /** The built library, or null (see {@link #whyUnavailable()}). */
  static synchronized Path library() {
    if (library == null && unavailable == null) {
      build();
    }
    return library;
  }

  static synchronized String whyUnavailable() {
    library();
    return unavailable;
  }

  private static void build() {
    if (!System.getProperty("os.name").toLowerCase().contains("linux")) {
      unavailable = "the power-cut library uses LD_PRELOAD and glibc: Linux only";
      return;
    }
    Path source = Path.of("src", "test", "c", "powercut.c");
    Path out = Path.of("target", "powercut", "libpowercut.so");
    try {
      Files.createDirectories(out.getParent());
      Process gcc =
          new ProcessBuilder(
                  "gcc",
                  "-shared",
                  "-fPIC",
                  "-O2",
                  "-o",
                  out.toString(),
                  source.toString(),
                  "-ldl",
                  "-lpthread")
              .redirectErrorStream(true)
              .start();
      String output = new String(gcc.getInputStream().readAllBytes());
      if (!gcc.waitFor(120, TimeUnit.SECONDS) || gcc.exitValue() != 0) {
        unavailable = "gcc could not build " + source + ": " + output;
        return;
      }
      library = out.toAbsolutePath();
    } catch (IOException e) {
      unavailable = "gcc is not available to build " + source + ": " + e.getMessage();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      unavailable = "interrupted while building " + source;
    }
  }

  /** Environment that makes a child JVM lose whatever it did not fsync to {@code db}'s files. */
  static Map<String, String> environment(Path db, long seed, int leakOneIn) {
    return Map.of(
        "LD_PRELOAD", library().toString(),
        "POWERCUT_MATCH", db.toAbsolutePath().toString(),
        "POWERCUT_SEED", Long.toString(seed),
        "POWERCUT_LEAK", Integer.toString(leakOneIn));
  }
}
