package dev.kvlog;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Starts a test class's {@code main} in a new JVM with this JVM's binary and class path. */
final class ChildJvm {
  private ChildJvm() {}

  static String javaBinary() {
    return ProcessHandle.current()
        .info()
        .command()
        .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
  }

  static List<String> command(Class<?> main, String... args) {
    List<String> command = new ArrayList<>();
    command.add(javaBinary());
    command.add("-Xshare:auto");
    command.add("-XX:TieredStopAtLevel=1"); // starts faster; the children run briefly
    if (Runtime.version().feature() >= 22) {
      command.add("--enable-native-access=ALL-UNNAMED"); // sqlite-jdbc loads a native library
    }
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(main.getName());
    command.addAll(Arrays.asList(args));
    return command;
  }

  static Process start(Class<?> main, String... args) throws IOException {
    return start(java.util.Map.of(), main, args);
  }

  /** Starts the child with extra environment variables (LD_PRELOAD, say). */
  static Process start(java.util.Map<String, String> env, Class<?> main, String... args)
      throws IOException {
    ProcessBuilder builder =
        new ProcessBuilder(command(main, args)).redirectError(ProcessBuilder.Redirect.INHERIT);
    builder.environment().putAll(env);
    return builder.start();
  }
}
