package dev.kvlog.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kvlog.KVLog;
import dev.kvlog.KVLogException;
import dev.kvlog.KVLogStats;
import dev.kvlog.KVStore;
import dev.kvlog.WriteBatch;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * The {@code kvlog} command line: one command per operation over a store file, through the public
 * API only. Exit codes: 0 success, 1 key not found, 2 bad usage, 3 the store reported an error, 4
 * bad input data.
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
      "2:bad usage",
      "3:store error (message says what to do)",
      "4:bad input data",
      "5:condition not met (set-if-absent, cas)"
    })
public final class Main implements Callable<Integer> {
  static final int NOT_FOUND = 1;
  static final int STORE_ERROR = 3;
  static final int BAD_INPUT = 4;
  static final int CONDITION_FAILED = 5;
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(
      names = {"-f", "--file"},
      defaultValue = "${env:KVLOG_FILE:-kvlog.db}",
      description = "Store file (default: $KVLOG_FILE, else ./kvlog.db). Created if missing.")
  Path file;

  @Option(
      names = "--progress",
      negatable = true,
      description =
          "Show a progress bar on standard error for import, export, copy and backup (default: only"
              + " when standard error is a terminal).")
  Boolean progress;

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
      System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    }
    PrintWriter out =
        new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), true);
    PrintWriter err =
        new PrintWriter(new OutputStreamWriter(System.err, StandardCharsets.UTF_8), true);
    System.exit(run(out, err, args));
  }

  /** Runs the command line with the given output streams and returns its exit code. */
  static int run(PrintWriter out, PrintWriter err, String... args) {
    int code =
        new CommandLine(new Main())
            .setOut(out)
            .setErr(err)
            .setExecutionExceptionHandler(Main::handle)
            .execute(args);
    out.flush();
    err.flush();
    return code;
  }

  @Override
  public Integer call() {
    spec.commandLine().usage(spec.commandLine().getOut());
    return CommandLine.ExitCode.USAGE;
  }

  private static int handle(Exception e, CommandLine cmd, CommandLine.ParseResult parsed) {
    PrintWriter err = cmd.getErr();
    if (e instanceof KVLogException) {
      err.println("kvlog: " + e.getMessage());
      return STORE_ERROR;
    }
    if (e instanceof IllegalArgumentException
        || e instanceof NullPointerException
        || e instanceof BadInput) {
      err.println("kvlog: " + e.getMessage());
      return BAD_INPUT;
    }
    if (e instanceof UncheckedIOException || e instanceof IOException) {
      err.println("kvlog: " + e.getMessage());
      return STORE_ERROR;
    }
    throw new IllegalStateException(e); // a bug: let picocli print the stack trace
  }

  @Option(
      names = "--url",
      description =
          "Open the store at this JDBC URL instead of --file: jdbc:postgresql://host/db?... or"
              + " jdbc:sqlite:<file>. backup, check and stats need a SQLite file.")
  String url;

  /** The SQLite store of --file (commands that only SQLite supports). */
  KVLog<String, String> open() {
    if (url != null) {
      throw new CommandLine.ParameterException(
          spec.commandLine(), "this command works on a SQLite store file: use --file, not --url");
    }
    return KVLog.load(file);
  }

  /** The store of --url if given, else of --file. */
  KVStore<String, String> openAny() {
    return url != null ? KVLog.connect(url) : KVLog.load(file);
  }

  String location() {
    return url != null ? url : file.toString();
  }

  /** A problem in an import file, with its line number. */
  static final class BadInput extends RuntimeException {
    private static final long serialVersionUID = 1L;

    BadInput(String message) {
      super(message);
    }
  }

  @Command(
      name = "set",
      mixinStandardHelpOptions = true,
      description = "Store VALUE under KEY; returns once it is durable.")
  static final class Set implements Callable<Integer> {
    @ParentCommand Main main;

    @Parameters(index = "0", paramLabel = "KEY")
    String key;

    @Parameters(index = "1", paramLabel = "VALUE")
    String value;

    @Override
    public Integer call() {
      try (KVStore<String, String> store = main.openAny()) {
        store.set(key, value);
      }
      return 0;
    }
  }

  @Command(
      name = "get",
      mixinStandardHelpOptions = true,
      description = "Print the value of KEY; exit code 1 if it is absent.")
  static final class Get implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "KEY")
    String key;

    @Override
    public Integer call() {
      try (KVStore<String, String> store = main.openAny()) {
        Optional<String> value = store.get(key);
        if (value.isEmpty()) {
          spec.commandLine().getErr().println("kvlog: key not found: " + key);
          return NOT_FOUND;
        }
        spec.commandLine().getOut().println(value.get());
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
      try (KVStore<String, String> store = main.openAny()) {
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
      try (KVStore<String, String> store = main.openAny()) {
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
      try (KVStore<String, String> store = main.openAny()) {
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

    @Option(names = "--json", description = "Print JSON lines {\"key\":…,\"value\":…}.")
    boolean json;

    @Override
    public Integer call() throws IOException {
      if (prefix != null && (from != null || to != null)) {
        throw new CommandLine.ParameterException(
            spec.commandLine(), "use either --prefix or --from/--to, not both");
      }
      PrintWriter out = spec.commandLine().getOut();
      try (KVStore<String, String> store = main.openAny();
          Stream<Map.Entry<String, String>> entries =
              prefix != null ? Stores.scan(store, prefix) : Stores.range(store, from, to)) {
        for (Map.Entry<String, String> e :
            (Iterable<Map.Entry<String, String>>) entries::iterator) {
          if (json) {
            out.println(jsonLine(e));
          } else {
            out.println(values ? e.getKey() + "\t" + e.getValue() : e.getKey());
          }
        }
      }
      return 0;
    }
  }

  @Command(
      name = "backup",
      mixinStandardHelpOptions = true,
      description = {
        "Write a consistent, fsynced copy of the store to TARGET (which must not exist).",
        "Restore by opening the copy: kvlog --file TARGET list"
      })
  static final class Backup implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "TARGET")
    Path target;

    @Override
    public Integer call() {
      try (KVLog<String, String> store = main.open()) {
        int entries = store.size();
        try (Progress progress = Progress.start(main, "backup", entries)) {
          store.backup(target);
          progress.stepTo(entries);
        }
        spec.commandLine().getErr().println("backed up " + entries + " entries to " + target);
      }
      return 0;
    }
  }

  @Command(
      name = "check",
      mixinStandardHelpOptions = true,
      description = {
        "Run SQLite's integrity_check on the store and print the problems found.",
        "Exit code 0 if the file is sound, 3 if it is damaged (restore it from a backup)."
      })
  static final class Check implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
      java.util.List<String> problems = KVLog.check(main.file);
      if (problems.isEmpty()) {
        spec.commandLine().getOut().println("ok");
        return 0;
      }
      problems.forEach(spec.commandLine().getOut()::println);
      spec.commandLine()
          .getErr()
          .println("kvlog: " + main.file + " is damaged; restore it from a backup");
      return STORE_ERROR;
    }
  }

  @Command(
      name = "copy",
      mixinStandardHelpOptions = true,
      description = {
        "Copy every entry from one store to another, in batches of 1000, then verify that the"
            + " target holds each source entry (count and SHA-256 over the entries in key order).",
        "Stores are SQLite files or JDBC URLs. Safe to re-run: entries are upserted, and keys"
            + " that only the target has are left alone.",
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
    public Integer call() throws Exception {
      if (from.equals(to)) {
        throw new CommandLine.ParameterException(
            spec.commandLine(), "--from and --to are the same store");
      }
      java.security.MessageDigest source = java.security.MessageDigest.getInstance("SHA-256");
      java.security.MessageDigest target = java.security.MessageDigest.getInstance("SHA-256");
      int copied = 0;
      int mismatched = 0;
      try (KVStore<String, String> src = Stores.open(from);
          KVStore<String, String> dst = Stores.open(to);
          Progress progress = Progress.start(main, "copy", Stores.size(src))) {
        java.util.List<Map.Entry<String, String>> chunk = new java.util.ArrayList<>();
        try (Stream<Map.Entry<String, String>> entries = Stores.range(src, null, null)) {
          java.util.Iterator<Map.Entry<String, String>> it = entries.iterator();
          while (it.hasNext()) {
            chunk.add(it.next());
            if (chunk.size() == 1000 || !it.hasNext()) {
              WriteBatch<String, String> batch = new WriteBatch<>();
              chunk.forEach(e -> batch.set(e.getKey(), e.getValue()));
              Stores.write(dst, batch);
              for (Map.Entry<String, String> e : chunk) {
                digest(source, e.getKey(), e.getValue());
                String there = dst.get(e.getKey()).orElse(null);
                digest(target, e.getKey(), there);
                if (!e.getValue().equals(there)) {
                  mismatched++;
                }
              }
              copied += chunk.size();
              progress.stepBy(chunk.size());
              chunk.clear();
            }
          }
        }
      }
      String sum = java.util.HexFormat.of().formatHex(source.digest());
      String got = java.util.HexFormat.of().formatHex(target.digest());
      PrintWriter err = spec.commandLine().getErr();
      if (mismatched > 0 || !sum.equals(got)) {
        err.println(
            "kvlog: copy verification failed: "
                + mismatched
                + " of "
                + copied
                + " entries differ in the target (another writer?); re-run the copy");
        return STORE_ERROR;
      }
      err.println(
          "copied " + copied + " entries; verified " + copied + " in the target, sha256 " + sum);
      return 0;
    }

    private static void digest(java.security.MessageDigest md, String key, String value) {
      md.update(key.getBytes(StandardCharsets.UTF_8));
      md.update((byte) 0);
      md.update(value == null ? new byte[] {(byte) 0xFF} : value.getBytes(StandardCharsets.UTF_8));
      md.update((byte) 0);
    }
  }

  @Command(
      name = "schema",
      mixinStandardHelpOptions = true,
      description = "Print the store's installed schema version (opening applies pending ones).")
  static final class Schema implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
      try (KVStore<String, String> store = main.openAny()) {
        spec.commandLine().getOut().println(Stores.schemaVersion(store));
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
      })
  static final class Migrate implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
      try (KVStore<String, String> store = main.openAny()) {
        spec.commandLine()
            .getOut()
            .println("schema version " + Stores.schemaVersion(store) + " at " + main.location());
      }
      return 0;
    }
  }

  static String jsonLine(Map.Entry<String, String> e) throws IOException {
    ObjectNode line = JSON.createObjectNode().put("key", e.getKey()).put("value", e.getValue());
    return JSON.writeValueAsString(line);
  }

  @Command(
      name = "export",
      mixinStandardHelpOptions = true,
      description = "Write every entry as JSON lines ({\"key\":…,\"value\":…}), in key order.")
  static final class Export implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(
        names = {"-o", "--output"},
        description = "File to write (default: standard output).")
    Path output;

    @Override
    public Integer call() throws IOException {
      Writer stdout = spec.commandLine().getOut();
      try (KVStore<String, String> store = main.openAny();
          Progress progress = Progress.start(main, "export", Stores.size(store));
          Stream<Map.Entry<String, String>> entries = Stores.range(store, null, null);
          Writer w =
              output == null
                  ? new BufferedWriter(stdout) {
                    @Override
                    public void close() throws IOException {
                      flush(); // leave standard output open
                    }
                  }
                  : Files.newBufferedWriter(output, StandardCharsets.UTF_8)) {
        for (Map.Entry<String, String> e :
            (Iterable<Map.Entry<String, String>>) entries::iterator) {
          w.write(jsonLine(e));
          w.write('\n');
          progress.step();
        }
      }
      return 0;
    }
  }

  @Command(
      name = "import",
      mixinStandardHelpOptions = true,
      description =
          "Set every entry of a JSON lines file (as written by export), "
              + Import.BATCH
              + " lines per transaction. A bad line stops the import and names the line; every"
              + " line before it is durable.")
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
      int count = 0;
      long size = "-".equals(input) ? -1 : Files.size(Path.of(input));
      try (KVStore<String, String> store = main.openAny();
          Progress progress = Progress.start(main, "import", size);
          BufferedReader in = new BufferedReader(reader(input))) {
        WriteBatch<String, String> batch = new WriteBatch<>();
        String text;
        try {
          for (int lineNo = 1; (text = in.readLine()) != null; lineNo++) {
            progress.stepBy(text.length() + 1L);
            if (text.isBlank()) {
              continue;
            }
            JsonNode line;
            try {
              line = JSON.readTree(text);
            } catch (IOException e) {
              throw new BadInput(input + " line " + lineNo + " is not JSON");
            }
            if (!line.isObject()
                || !line.path("key").isTextual()
                || !line.path("value").isTextual()) {
              throw new BadInput(
                  input
                      + " line "
                      + lineNo
                      + " must be {\"key\": \"…\", \"value\": \"…\"} with string key and value");
            }
            batch.set(line.get("key").asText(), line.get("value").asText());
            if (batch.size() == BATCH) {
              Stores.write(store, batch);
              count += batch.size();
              batch = new WriteBatch<>();
            }
          }
          Stores.write(store, batch);
          count += batch.size();
        } catch (BadInput | IllegalArgumentException e) {
          Stores.write(store, batch); // the valid lines before the bad one
          count += batch.size();
          throw new BadInput(
              e.getMessage() + "; the " + count + " entries before it were imported");
        }
      }
      spec.commandLine().getErr().println("imported " + count + " entries");
      return 0;
    }

    private static Reader reader(String input) throws IOException {
      return "-".equals(input)
          ? new InputStreamReader(System.in, StandardCharsets.UTF_8)
          : Files.newBufferedReader(Path.of(input), StandardCharsets.UTF_8);
    }
  }

  @Command(
      name = "stats",
      mixinStandardHelpOptions = true,
      description =
          "Print size and file statistics. Counters (commits, latency) cover this command's own"
              + " session with the store; programs read them from KVLog.stats().")
  static final class Stats implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Override
    public Integer call() throws IOException {
      KVLogStats s;
      try (KVLog<String, String> store = main.open()) {
        s = store.stats();
      }
      PrintWriter out = spec.commandLine().getOut();
      if (json) {
        out.println(
            JSON.writeValueAsString(
                JSON.createObjectNode()
                    .put("path", s.path().toString())
                    .put("entries", s.entries())
                    .put("databaseBytes", s.databaseBytes())
                    .put("walBytes", s.walBytes())
                    .put("schemaVersion", s.schemaVersion())
                    .put("commits", s.commits())
                    .put("writes", s.writes())
                    .put("largestGroup", s.largestGroup())
                    .put("commitP50Micros", s.commitP50Micros())
                    .put("commitP99Micros", s.commitP99Micros())
                    .put("checkpoints", s.checkpoints())
                    .put("externalReloads", s.externalReloads())));
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
