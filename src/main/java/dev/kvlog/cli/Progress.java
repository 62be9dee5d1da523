package dev.kvlog.cli;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/** A progress bar on standard error, or nothing when it is not wanted. */
final class Progress implements AutoCloseable {
  private final ProgressBar bar; // null: no bar

  private Progress(ProgressBar bar) {
    this.bar = bar;
  }

  /**
   * Starts a bar for {@code task} of {@code total} units (-1: unknown) if {@code --progress} was
   * given ({@code flag} true), or if neither {@code --progress} nor {@code --no-progress} was
   * ({@code flag} null) and standard error is a terminal.
   */
  static Progress start(Boolean flag, String task, long total) {
    if (!wanted(flag, stderrTerminal())) {
      return new Progress(null);
    }
    return new Progress(
        new ProgressBarBuilder()
            .setTaskName(task)
            .setInitialMax(total)
            .setStyle(ProgressBarStyle.ASCII)
            .setConsumer(new ConsoleProgressBarConsumer(System.err))
            .build());
  }

  static boolean wanted(Boolean flag, boolean stderrIsTerminal) {
    return flag != null ? flag : stderrIsTerminal;
  }

  /**
   * Whether standard error is a terminal. Java cannot ask isatty(2) directly ({@code
   * System.console()} answers for standard input and output), so: the launcher script's answer
   * ({@code -Dkvlog.stderr.tty}, from {@code [ -t 2 ]}) if given; else, on Linux, what file
   * descriptor 2 points to; else {@code System.console()}.
   */
  static boolean stderrTerminal() {
    String fromLauncher = System.getProperty("kvlog.stderr.tty");
    if (fromLauncher != null) {
      return Boolean.parseBoolean(fromLauncher);
    }
    java.nio.file.Path fd2 = java.nio.file.Path.of("/proc/self/fd/2");
    try {
      String target = java.nio.file.Files.readSymbolicLink(fd2).toString();
      return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
    } catch (java.io.IOException | UnsupportedOperationException | SecurityException e) {
      return System.console() != null;
    }
  }

  void step() {
    if (bar != null) {
      bar.step();
    }
  }

  void stepBy(long n) {
    if (bar != null) {
      bar.stepBy(n);
    }
  }

  void stepTo(long n) {
    if (bar != null) {
      bar.stepTo(n);
    }
  }

  @Override
  public void close() {
    if (bar != null) {
      bar.close();
    }
  }
}
