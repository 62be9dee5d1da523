package dev.kvlog.cli;

import dev.kvlog.KVLogException;
import dev.kvlog.StoreLockedException;
import dev.kvlog.sqlite.KVLogReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The {@code kvlog} command line: one command per operation over a store file or a PostgreSQL URL,
 * through the public API only.
 *
 * <p><b>A live store.</b> Read commands (get, list, export, stats, backup, schema) open a SQLite
 * store with {@link KVLogReader}: read-only, without the owner lock, so they work while an
 * application owns and writes the store, see only committed data, and never create or change a
 * file. check reads as {@code KVLog.check(path)} does (no {@code -wal} or {@code -shm} created).
 * Write commands (set, delete, set-if-absent, cas, import, migrate) must own the store; while
 * another process owns it they are refused, naming that process's pid, and nothing is written.
 *
 * <p>Exit codes: 0 success, 1 key not found, 2 bad usage, 3 the store reported an error, 4 bad
 * input data, 5 condition not met. No stack traces and no secrets from a URL in any message.
 *
 * <p>This class holds the top-level options, the mapping of failures to exit codes and {@code
 * main}; the commands are in {@link ReadCommands}, {@link WriteCommands} and {@link
 * MaintenanceCommands}, the {@code --file}/{@code --url} options in {@link StoreOptions}. Not
 * thread-safe: picocli fills in one instance per run.
 */
@Command(
    name = "kvlog",
    mixinStandardHelpOptions = true,
    version = "kvlog 0.1.0",
    description = "A durable key-value store whose log is SQLite.",
    subcommands = {
      WriteCommands.SetCommand.class,
      ReadCommands.GetCommand.class,
      WriteCommands.DeleteCommand.class,
      WriteCommands.SetIfAbsentCommand.class,
      WriteCommands.CasCommand.class,
      ReadCommands.ListCommand.class,
      MaintenanceCommands.BackupCommand.class,
      MaintenanceCommands.CheckCommand.class,
      MaintenanceCommands.CopyCommand.class,
      MaintenanceCommands.SchemaCommand.class,
      MaintenanceCommands.MigrateCommand.class,
      ReadCommands.ExportCommand.class,
      WriteCommands.ImportCommand.class,
      ReadCommands.StatsCommand.class
    },
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:success",
      "1:key not found",
      "2:bad usage (also: a command that cannot work on the given target)",
      "3:store error, or standard output could not be written (message says what to do)",
      "4:bad input data",
      "5:condition not met (set-if-absent, cas)"
    })
public final class Main implements Callable<Integer> {
  static final int NOT_FOUND = 1;
  static final int USAGE = 2;
  static final int STORE_ERROR = 3;
  static final int BAD_INPUT = 4;
  static final int CONDITION_FAILED = 5;

  /** --file and --url, and the store they name. */
  @Mixin StoreOptions store;

  @Option(
      names = "--progress",
      negatable = true,
      description =
          "Show a progress bar on standard error for import, export, copy and backup (default: only"
              + " when standard error is a terminal).")
  Boolean progress;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  /** Standard input, for {@code set KEY -} and {@code import -}. */
  InputStream stdin = System.in;

  public static void main(String[] args) {
    if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
      System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    }
    // Not System.out: a PrintStream swallows write errors, so `export > /dev/full` exited 0.
    Console.Stdout stdout =
        new Console.Stdout(new java.io.FileOutputStream(java.io.FileDescriptor.out));
    PrintWriter out = new PrintWriter(new OutputStreamWriter(stdout, StandardCharsets.UTF_8), true);
    PrintWriter err =
        new PrintWriter(new OutputStreamWriter(System.err, StandardCharsets.UTF_8), true);
    System.exit(run(System.in, out, stdout::failure, err, args));
  }

  /**
   * The PostgreSQL driver's java.util.logging logger, switched off: its warnings quote the URL it
   * failed to parse, secrets included, on standard error. Every failure reaches the user as an
   * exception, redacted by {@link #handle}. Held here: JUL keeps loggers only weakly.
   */
  private static final java.util.logging.Logger PGJDBC_LOG =
      java.util.logging.Logger.getLogger("org.postgresql");

  /** Runs the command line with the given output streams and returns its exit code. */
  static int run(PrintWriter out, PrintWriter err, String... args) {
    return run(InputStream.nullInputStream(), out, err, args);
  }

  /** As above, with standard input. */
  static int run(InputStream in, PrintWriter out, PrintWriter err, String... args) {
    return run(in, out, () -> null, err, args);
  }

  /** As above; {@code outFailure} gives the error that made writing {@code out} fail, if known. */
  static int run(
      InputStream in,
      PrintWriter out,
      java.util.function.Supplier<IOException> outFailure,
      PrintWriter err,
      String... args) {
    PGJDBC_LOG.setLevel(java.util.logging.Level.OFF);
    String undecoded = Console.undecodedArgument(args);
    if (undecoded != null) {
      err.println("kvlog: " + undecoded);
      err.flush();
      return BAD_INPUT;
    }
    Main main = new Main();
    main.stdin = in;
    java.util.List<String> secrets = new java.util.ArrayList<>();
    for (String arg : args) {
      secrets.addAll(Targets.secretsOf(arg));
    }
    CommandLine commandLine = new CommandLine(main);
    // A KEY or VALUE is data, even "-h" or "--version": in the commands whose only arguments
    // are keys and values, everything after the first of them is positional (picocli would
    // otherwise print help, write nothing and exit 0). Before it, "--" ends the options:
    // kvlog get -- -h. Not for cas, whose options follow its KEY.
    for (String name : java.util.List.of("set", "get", "delete", "set-if-absent")) {
      commandLine.getSubcommands().get(name).setStopAtPositional(true);
    }
    // cas takes its values as option parameters: "--expect=-h" or "--new --" is a value, not an
    // option (picocli would refuse a parameter that looks like an option name).
    commandLine.getSubcommands().get("cas").setAllowOptionsAsOptionParameters(true);
    int code =
        commandLine
            .setOut(out)
            .setErr(err)
            .setExecutionExceptionHandler((e, cmd, parsed) -> handle(e, cmd, secrets))
            .setParameterExceptionHandler(
                (e, args2) -> {
                  PrintWriter w = e.getCommandLine().getErr();
                  w.println(
                      "kvlog: "
                          + Targets.redact(e.getMessage(), secrets)
                          + " ("
                          + e.getCommandLine().getCommandSpec().qualifiedName()
                          + " --help shows the usage)");
                  return USAGE;
                })
            .execute(args);
    if (out.checkError()) { // flushes
      IOException cause = outFailure.get();
      if (cause != null && "Broken pipe".equals(cause.getMessage())) {
        // The reader stopped reading (kvlog list | head): quiet, with the status of a process
        // killed by SIGPIPE, as other tools end (Java ignores the signal itself); a command's
        // own failure (not found, condition not met) keeps its code.
        err.flush();
        return code == 0 ? 128 + 13 : code;
      }
      err.println(
          "kvlog: writing to standard output failed"
              + (cause != null && cause.getMessage() != null ? " (" + cause.getMessage() + ")" : "")
              + "; what was printed is incomplete");
      code = code == 0 ? STORE_ERROR : code;
    }
    err.flush();
    return code;
  }

  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getOut());
    return USAGE;
  }

  private static int handle(Exception e, CommandLine cmd, java.util.List<String> secrets) {
    PrintWriter err = cmd.getErr();
    int code;
    String message = e.getMessage();
    if (e instanceof Refused) {
      code = USAGE;
    } else if (e instanceof StoreLockedException) {
      code = STORE_ERROR;
      message = Stores.lockedMessage((StoreLockedException) e);
    } else if (e instanceof KVLogException) {
      code = STORE_ERROR;
    } else if (e instanceof IllegalArgumentException
        || e instanceof NullPointerException
        || e instanceof BadInput) {
      code = BAD_INPUT;
    } else if (e instanceof IOException) {
      code = STORE_ERROR;
      message = Console.describe((IOException) e, true);
    } else if (e instanceof UncheckedIOException) {
      code = STORE_ERROR;
      message = Console.describe(((UncheckedIOException) e).getCause(), true);
    } else {
      // A bug. One line anyway: a stack trace helps no user, and could print a secret.
      code = STORE_ERROR;
      message = "internal error (please report it): " + e;
    }
    err.println("kvlog: " + Targets.redact(message, secrets));
    return code;
  }

  Progress progress(String task, long total) {
    return Progress.start(progress, task, total);
  }

  /** A request the command cannot honour as given (exit code 2, one line). */
  static final class Refused extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Refused(String message) {
      super(message);
    }
  }

  /** A problem in the input data, with its line number (exit code 4). */
  static final class BadInput extends RuntimeException {
    private static final long serialVersionUID = 1L;

    BadInput(String message) {
      super(message);
    }
  }

  /** All of standard input as strict UTF-8. */
  String readStdin(String what) throws IOException {
    byte[] bytes = stdin.readAllBytes();
    try {
      return StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(java.nio.charset.CodingErrorAction.REPORT)
          .onUnmappableCharacter(java.nio.charset.CodingErrorAction.REPORT)
          .decode(java.nio.ByteBuffer.wrap(bytes))
          .toString();
    } catch (java.nio.charset.CharacterCodingException e) {
      throw new BadInput(what + " from standard input is not valid UTF-8; nothing was written");
    }
  }
}
