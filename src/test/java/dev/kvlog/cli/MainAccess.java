package dev.kvlog.cli;

import java.io.PrintWriter;
import java.io.StringWriter;

/** Lets tests in other packages run the CLI in-process and read what it printed. */
public final class MainAccess {
  private MainAccess() {}

  /** Exit code and output of one CLI run. */
  public record Result(int code, String out, String err) {}

  public static Result run(String... args) {
    return runWithInput(new byte[0], args);
  }

  /** As {@link #run}, with {@code stdin} as standard input. */
  public static Result runWithInput(byte[] stdin, String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code =
        Main.run(
            new java.io.ByteArrayInputStream(stdin),
            new PrintWriter(out),
            new PrintWriter(err),
            args);
    return new Result(code, out.toString(), err.toString());
  }
}
