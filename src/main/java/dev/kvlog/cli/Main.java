package dev.kvlog.cli;

import dev.kvlog.KVLog;
import dev.kvlog.KVLogException;
import dev.kvlog.KVStore;
import dev.kvlog.StoreLockedException;
import dev.kvlog.sqlite.KVLogReader;
import dev.kvlog.tools.Location;
import dev.kvlog.tools.Source;
import dev.kvlog.tools.StoreCopy;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * The {@code kvlog} command line: one command per operation over a store file or a PostgreSQL URL,
 * through the public API only.
 *
 * <p><b>A live store.</b> Read commands (get, list, export, stats, check, backup, schema) open a
 * SQLite store with {@link KVLogReader}: read-only, without the owner lock, so they work while an
 * application owns and writes the store, see only committed data, and never create or change a
 * file. Write commands (set, delete, set-if-absent, cas, import, migrate) must own the store; while
 * another process owns it they are refused, naming that process's pid, and nothing is written.
 *
 * <p>Exit codes: 0 success, 1 key not found, 2 bad usage, 3 the store reported an error, 4 bad
 * input data, 5 condition not met. No stack traces and no secrets from a URL in any message.
 */
@Command(
    name = "kvlog",
    mixinStandardHelpOptions = true,
    version = "kvlog 0.1.0",
    description = "A durable key-value store whose log is SQLite.",
    subcommands = {
      Main.Set.class,
      Main.Get.class,
      Main.Delete.class,
      Main.SetIfAbsent.class,
      Main.Cas.class,
      Main.List.class,
      Main.Backup.class,
      Main.Check.class,
      Main.Copy.class,
      Main.Schema.class,
      Main.Migrate.class,
      Main.Export.class,
      Main.Import.class,
      Main.Stats.class
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

  @Option(
      names = {"-f", "--file"},
      defaultValue = "${env:KVLOG_FILE:-kvlog.db}",
      description =
          "Store file (default: $KVLOG_FILE, else ./kvlog.db). Only write commands create it.")
  Path file;

  @Option(
      names = "--progress",
      negatable = true,
      description =
          "Show a progress bar on standard error for import, export, copy and backup (default: only"
              + " when standard error is a terminal).")
  Boolean progress;

  @Option(
      names = "--url",
      description =
          "Open the store at this JDBC URL instead of --file: jdbc:postgresql://host/db?... or"
              + " jdbc:sqlite:FILE (also jdbc:sqlite:file:FILE; no URL parameters). backup, check"
              + " and stats need a SQLite store. Not together with --file; it overrides"
              + " $KVLOG_FILE.")
  String url;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  /** Standard input, for {@code set KEY -} and {@code import -}. */
  private InputStream stdin = System.in;

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

  /** The target of --url if given, else of --file. */
  Location target() {
    if (url != null && spec.commandLine().getParseResult().hasMatchedOption("--file")) {
      throw new Refused("give either --file or --url, not both");
    }
    return url != null ? Targets.parseUrl(url) : Location.file(file);
  }

  /** The target, which must be a SQLite store file for {@code command}. */
  Path storeFile(String command) {
    Location t = target();
    if (!t.isFile()) {
      throw new Refused(
          command
              + " works on a SQLite store file, not on "
              + t.display()
              + (command.equals("backup") ? "; for PostgreSQL use pg_dump" : "")
              + "; give --file or --url jdbc:sqlite:FILE");
    }
    return t.file();
  }

  /** The store opened for reading: read-only for a file, whether or not another process owns it. */
  Source read() {
    return Stores.read(target());
  }

  /** The store opened for writing (a file is created if missing). */
  KVLog<String, String> write() {
    return Stores.write(target());
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

  @Command(
      name = "set",
      mixinStandardHelpOptions = true,
      description = {
        "Store VALUE under KEY; returns once it is durable.",
        "VALUE - reads the value from standard input, byte for byte (UTF-8; a trailing newline is"
            + " kept): kvlog set config - < config.json",
        "Everything after KEY is data (set k -h stores \"-h\"); a KEY that starts with - follows"
            + " --: kvlog set -- -k v (also for get, delete, set-if-absent)."
      })
  static final class Set implements Callable<Integer> {
    @ParentCommand Main main;

    @Parameters(index = "0", paramLabel = "KEY")
    String key;

    @Parameters(index = "1", paramLabel = "VALUE", description = "The value, or - for stdin.")
    String value;

    @Override
    public Integer call() throws IOException {
      String v = "-".equals(value) ? main.readStdin("the value") : value;
      try (KVStore<String, String> store = main.write()) {
        store.set(key, v);
      }
      return 0;
    }
  }

  @Command(
      name = "get",
      mixinStandardHelpOptions = true,
      description = {
        "Print the value of KEY and a newline; exit code 1 if it is absent.",
        "Reads the committed value with one SELECT, also while an application owns the store."
      })
  static final class Get implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(
        names = "--raw",
        description =
            "Print the value exactly, without the newline (before KEY): kvlog get --raw k |"
                + " kvlog set k2 - copies it unchanged.")
    boolean raw;

    @Parameters(index = "0", paramLabel = "KEY")
    String key;

    @Override
    public Integer call() {
      try (Source store = main.read()) {
        Optional<String> value = store.get(key);
        if (value.isEmpty()) {
          spec.commandLine().getErr().println("kvlog: key not found: " + key);
          return NOT_FOUND;
        }
        if (raw) {
          spec.commandLine().getOut().print(value.get());
        } else {
          spec.commandLine().getOut().println(value.get());
        }
        return 0;
      }
    }
  }

  @Command(
      name = "delete",
      mixinStandardHelpOptions = true,
      description =
          "Remove KEY; returns once the removal is durable. Removing an absent key is not an error.")
  static final class Delete implements Callable<Integer> {
    @ParentCommand Main main;

    @Parameters(index = "0", paramLabel = "KEY")
    String key;

    @Override
    public Integer call() {
      try (KVStore<String, String> store = main.write()) {
        store.delete(key);
      }
      return 0;
    }
  }

  @Command(
      name = "set-if-absent",
      mixinStandardHelpOptions = true,
      description =
          "Store VALUE under KEY only if KEY is absent. If it is present, print its value and exit"
              + " with code 5.")
  static final class SetIfAbsent implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "KEY")
    String key;

    @Parameters(index = "1", paramLabel = "VALUE")
    String value;

    @Override
    public Integer call() {
      try (KVStore<String, String> store = main.write()) {
        Optional<String> present = store.setIfAbsent(key, value);
        if (present.isPresent()) {
          spec.commandLine().getOut().println(present.get());
          spec.commandLine().getErr().println("kvlog: key already present: " + key);
          return CONDITION_FAILED;
        }
        return 0;
      }
    }
  }

  @Command(
      name = "cas",
      mixinStandardHelpOptions = true,
      description = {
        "Compare and set: if KEY holds the expected value, replace it atomically and durably.",
        "Exit code 5 if it held something else (nothing is written).",
        "Example: kvlog cas counter --expect 41 --new 42"
      })
  static final class Cas implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "KEY")
    String key;

    @CommandLine.ArgGroup(multiplicity = "1")
    Expected expected;

    @CommandLine.ArgGroup(multiplicity = "1")
    Update update;

    static final class Expected {
      @Option(names = "--expect", paramLabel = "VALUE", description = "The value KEY must hold.")
      String value;

      @Option(names = "--expect-absent", description = "KEY must be absent.")
      boolean absent;
    }

    static final class Update {
      @Option(names = "--new", paramLabel = "VALUE", description = "The value to store.")
      String value;

      @Option(names = "--delete", description = "Remove KEY instead.")
      boolean delete;
    }

    @Override
    public Integer call() {
      try (KVStore<String, String> store = main.write()) {
        if (store.compareAndSet(key, expected.value, update.value)) {
          return 0;
        }
        spec.commandLine()
            .getErr()
            .println(
                "kvlog: "
                    + key
                    + (expected.absent ? " is present" : " does not hold the expected value")
                    + "; nothing was written");
        return CONDITION_FAILED;
      }
    }
  }

  @Command(
      name = "list",
      mixinStandardHelpOptions = true,
      description = "Print keys in key order, one per line, from a consistent snapshot.")
  static final class List implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--prefix", description = "Only keys starting with this.")
    String prefix;

    @Option(names = "--from", description = "Only keys >= this.")
    String from;

    @Option(names = "--to", description = "Only keys < this.")
    String to;

    @Option(names = "--values", description = "Print KEY<TAB>VALUE.")
    boolean values;

    @Option(
        names = "--json",
        description = "Print JSON lines {\"key\":…,\"value\":…} (always with values).")
    boolean json;

    @Override
    public Integer call() {
      if (prefix != null && (from != null || to != null)) {
        throw new Refused("use either --prefix or --from/--to, not both");
      }
      PrintWriter out = spec.commandLine().getOut();
      try (Source store = main.read()) {
        java.util.function.BiConsumer<String, String> print =
            (k, v) -> {
              if (json) {
                out.println(line(k, v));
              } else {
                out.println(values ? k + "\t" + v : k);
              }
            };
        if (prefix != null) {
          store.forEachWithPrefix(prefix, print);
        } else {
          store.forEach(from, to, print);
        }
      }
      return 0;
    }
  }

  static String line(String key, String value) {
    try {
      return JsonLines.write(key, value);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Command(
      name = "backup",
      mixinStandardHelpOptions = true,
      description = {
        "Write a consistent, fsynced copy of the store to TARGET (which must not exist), also while"
            + " an application owns and writes the store.",
        "Restore by opening the copy: kvlog --file TARGET list"
      })
  static final class Backup implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "TARGET")
    Path target;

    @Override
    public Integer call() {
      try (KVLogReader store = KVLogReader.open(main.storeFile("backup"))) {
        int entries = store.size();
        try (Progress progress = main.progress("backup", entries)) {
          store.backup(target);
          progress.stepTo(entries);
        } catch (IllegalArgumentException badTarget) {
          // Exists, is a link, or its directory is missing: bad usage (2), as for export.
          throw new Refused(badTarget.getMessage());
        }
        spec.commandLine()
            .getErr()
            .println("backed up " + entries + " entries (committed at the start) to " + target);
      }
      return 0;
    }
  }

  @Command(
      name = "check",
      mixinStandardHelpOptions = true,
      description = {
        "Run SQLite's integrity_check on the store (read-only) and print the problems found.",
        "Exit code 0 if the file is sound; 3 if it is damaged (restore it from a backup), or if"
            + " it cannot be checked (missing, not readable, or not a KVLog store: the message"
            + " says which)."
      })
  static final class Check implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
      Path path = main.storeFile("check").toAbsolutePath().normalize();
      PrintWriter err = spec.commandLine().getErr();
      String access = Stores.accessProblem(path);
      if (access != null) {
        err.println("kvlog: " + access + "; nothing was checked (this is not damage)");
        return STORE_ERROR;
      }
      java.util.List<String> problems;
      try (KVLogReader reader = KVLogReader.open(path)) {
        problems = reader.check();
      } catch (KVLogException notOpenable) {
        String denied = Stores.accessDenied(notOpenable);
        if (denied != null) {
          err.println("kvlog: " + denied + "; nothing was checked (this is not damage)");
          return STORE_ERROR;
        }
        if (notOpenable.getMessage().contains(" is not a KVLog store (")) {
          // Said by KVLogReader.open (foreign application_id, empty file) and by Errors.describe
          // (not a SQLite file). A sound foreign file is not damage; a store whose header was
          // destroyed looks the same, hence the last clause.
          err.println(
              "kvlog: "
                  + notOpenable.getMessage()
                  + "; nothing was checked (if it was a KVLog store, its header is destroyed:"
                  + " restore it from a backup)");
          return STORE_ERROR;
        }
        problems = KVLog.check(path); // works on a file too damaged to open
        if (problems.isEmpty()) {
          problems = java.util.List.of(notOpenable.getMessage());
        }
      }
      if (problems.isEmpty()) {
        spec.commandLine().getOut().println("ok");
        return 0;
      }
      problems.forEach(spec.commandLine().getOut()::println);
      err.println("kvlog: " + path + " is damaged; restore it from a backup");
      return STORE_ERROR;
    }
  }

  @Command(
      name = "copy",
      mixinStandardHelpOptions = true,
      description = {
        "Copy every entry from one store to another, in batches of "
            + StoreCopy.BATCH
            + ", then verify that the"
            + " target holds each source entry (count and SHA-256 over the entries in key order).",
        "Stores are SQLite files or JDBC URLs. The source is only read (it may be in use); the"
            + " target must not be owned by another process. Safe to re-run: entries are"
            + " upserted, and keys that only the target has are left alone.",
        "Example: kvlog copy --from kv.db --to 'jdbc:postgresql://db/app?user=app'"
      })
  static final class Copy implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--from", required = true, paramLabel = "STORE", description = "Source.")
    String from;

    @Option(names = "--to", required = true, paramLabel = "STORE", description = "Target.")
    String to;

    @Override
    public Integer call() {
      Location source = Targets.parse(from);
      Location destination = Targets.parse(to);
      StoreCopy.Report report;
      try (StoreCopy copy = open(source, destination);
          Progress progress = main.progress("copy", copy.sourceEntries())) {
        report = copy.run(progress::stepBy);
      }
      PrintWriter err = spec.commandLine().getErr();
      if (!report.verified()) {
        err.println(
            "kvlog: copy verification failed: "
                + report.differing()
                + " of "
                + report.copied()
                + " entries differ in the target (another writer?); re-run the copy");
        return STORE_ERROR;
      }
      err.println(
          "copied "
              + report.copied()
              + " entries; verified "
              + report.copied()
              + " in the target, sha256 "
              + report.sourceSha256());
      return 0;
    }

    private static StoreCopy open(Location source, Location destination) {
      try {
        return StoreCopy.open(source, destination);
      } catch (StoreCopy.SameStoreException e) {
        throw new Refused("--from and --to are the same store");
      }
    }
  }

  @Command(
      name = "schema",
      mixinStandardHelpOptions = true,
      description = "Print the store's installed schema version (read-only; migrate applies).")
  static final class Schema implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
      try (Source store = main.read()) {
        spec.commandLine().getOut().println(store.schemaVersion());
      }
      return 0;
    }
  }

  @Command(
      name = "migrate",
      mixinStandardHelpOptions = true,
      description = {
        "Apply pending schema versions (sql/sqlite or sql/postgresql) and print the version now"
            + " installed. Each version applies in one transaction with its record in kvlog_schema."
            + " A store whose schema Flyway manages is left to Flyway."
      })
  static final class Migrate implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
      try (KVLog<String, String> store = main.write()) {
        spec.commandLine()
            .getOut()
            .println("schema version " + store.schemaVersion() + " at " + main.target().display());
      }
      return 0;
    }
  }

  @Command(
      name = "export",
      mixinStandardHelpOptions = true,
      description = {
        "Write every entry as JSON lines ({\"key\":…,\"value\":…}), in key order, from one"
            + " consistent snapshot (also while an application writes the store).",
        "The output file is created owner-only (rw-------) and never overwritten without --force."
      })
  static final class Export implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(
        names = {"-o", "--output"},
        description = "File to write, or - for standard output (the default).")
    Path output;

    @Option(
        names = "--force",
        description =
            "Replace --output if it is an existing regular file (atomically, once the export is"
                + " complete). Anything else (a device, FIFO, directory or symbolic link) is"
                + " refused, never replaced.")
    boolean force;

    @Override
    public Integer call() throws IOException {
      if (output != null && output.toString().equals("-")) {
        output = null; // -o - is standard output, as for import
      }
      ExportFile.checkTarget(output, force);
      try (Source store = main.read();
          Progress progress = main.progress("export", store.size());
          ExportFile w = ExportFile.open(output, spec.commandLine().getOut())) {
        store.forEach(
            null,
            null,
            (k, v) -> {
              w.writeLine(line(k, v));
              progress.step();
            });
        w.commit(force);
      }
      return 0;
    }
  }

  @Command(
      name = "import",
      mixinStandardHelpOptions = true,
      description = {
        "Set every entry of a JSON lines file (as written by export), "
            + Import.BATCH
            + " lines per transaction.",
        "Each line must be exactly one {\"key\":\"…\",\"value\":\"…\"} object in UTF-8. The first"
            + " bad line (or value the store refuses) stops the import with exit code 4 and its"
            + " line number; every line before it is imported and durable, nothing after it."
      })
  static final class Import implements Callable<Integer> {
    static final int BATCH = 1000;

    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Parameters(
        index = "0",
        paramLabel = "FILE",
        defaultValue = "-",
        description = "JSON lines file, or - for standard input (default).")
    String input;

    @Override
    public Integer call() throws IOException {
      boolean stdin = "-".equals(input);
      String name = stdin ? "standard input" : input;
      if (!stdin && !Files.isRegularFile(Path.of(input))) {
        throw new Refused(
            "cannot import "
                + input
                + ": "
                + (Files.exists(Path.of(input)) ? "not a regular file" : "no such file")
                + "; give a JSON lines file, or - for standard input");
      }
      long size = stdin ? -1 : Files.size(Path.of(input));
      try (InputStream raw = stdin ? main.stdin : Files.newInputStream(Path.of(input));
          KVStore<String, String> store = main.write();
          Progress progress = main.progress("import", size)) {
        Importer importer = new Importer(store, name, BATCH);
        JsonLines.Reader lines =
            new JsonLines.Reader(new java.io.BufferedInputStream(raw, 1 << 16));
        while (true) {
          Map.Entry<String, String> entry;
          try {
            entry = lines.next();
          } catch (JsonLines.BadLine bad) {
            importer.stop(lines.lineNumber(), "is not valid: it " + bad.getMessage());
            return BAD_INPUT; // not reached: stop throws
          }
          if (entry == null) {
            break;
          }
          importer.add(lines.lineNumber(), entry.getKey(), entry.getValue());
          progress.stepTo(lines.lineNumber());
        }
        importer.finish();
        spec.commandLine()
            .getErr()
            .println(
                "imported "
                    + importer.imported()
                    + " lines (a key on several lines holds the value of its last)");
      }
      return 0;
    }
  }

  @Command(
      name = "stats",
      mixinStandardHelpOptions = true,
      description = {
        "Print the store's path, committed entries, file sizes and schema version (read-only, also"
            + " while an application owns the store).",
        "Commit counters (commits, group sizes, latency, checkpoints) live in the owning process:"
            + " read them there with KVLog.stats()."
      })
  static final class Stats implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Override
    public Integer call() throws IOException {
      KVLogReader.Stats s;
      try (KVLogReader store = KVLogReader.open(main.storeFile("stats"))) {
        s = store.stats();
      }
      PrintWriter out = spec.commandLine().getOut();
      if (json) {
        out.println(
            new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(s.asMap()));
      } else {
        out.printf("path            %s%n", s.path());
        out.printf("entries         %d%n", s.entries());
        out.printf("database bytes  %d%n", s.databaseBytes());
        out.printf("wal bytes       %d%n", s.walBytes());
        out.printf("schema version  %d%n", s.schemaVersion());
      }
      return 0;
    }
  }
}
