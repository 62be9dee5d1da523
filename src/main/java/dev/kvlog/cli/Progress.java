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
   * given, or if neither {@code --progress} nor {@code --no-progress} was and a terminal is
   * attached.
   */
  static Progress start(Main main, String task, long total) {
    boolean wanted = main.progress != null ? main.progress : System.console() != null;
    if (!wanted) {
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
