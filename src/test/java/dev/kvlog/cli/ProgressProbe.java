package dev.kvlog.cli;

/** Prints what {@link Progress} decides about standard error, for a test run under a pty. */
final class ProgressProbe {
  public static void main(String[] args) {
    System.out.println("stderr terminal: " + Progress.stderrTerminal());
  }
}
