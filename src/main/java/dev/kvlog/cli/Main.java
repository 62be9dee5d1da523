package dev.kvlog.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kvlog.KVLog;
import dev.kvlog.KVLogException;
import dev.kvlog.KVLogStats;
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
import java.util.TreeMap;
import java.util.concurrent.Callable;
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
      Main.List.class,
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
      "4:bad input data"
    })
public final class Main implements Callable<Integer> {
  static final int NOT_FOUND = 1;
  static final int STORE_ERROR = 3;
  static final int BAD_INPUT = 4;
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(
      names = {"-f", "--file"},
      defaultValue = "${env:KVLOG_FILE:-kvlog.db}",
      description = "Store file (default: $KVLOG_FILE, else ./kvlog.db). Created if missing.")
  Path file;

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

  KVLog<String, String> open() {
    return KVLog.load(file);
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
      try (KVLog<String, String> store = main.open()) {
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
      try (KVLog<String, String> store = main.open()) {
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
      try (KVLog<String, String> store = main.open()) {
        store.delete(key);
      }
      return 0;
    }
  }

  @Command(
      name = "list",
      mixinStandardHelpOptions = true,
      description = "Print keys in order, one per line.")
  static final class List implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--prefix", defaultValue = "", description = "Only keys starting with this.")
    String prefix;

    @Option(names = "--values", description = "Print KEY<TAB>VALUE.")
    boolean values;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      for (Map.Entry<String, String> e : sorted(main, prefix).entrySet()) {
        out.println(values ? e.getKey() + "\t" + e.getValue() : e.getKey());
      }
      return 0;
    }
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
      Map<String, String> entries = sorted(main, "");
      Writer stdout = spec.commandLine().getOut();
      try (Writer w =
          output == null
              ? new BufferedWriter(stdout) {
                @Override
                public void close() throws IOException {
                  flush(); // leave standard output open
                }
              }
              : Files.newBufferedWriter(output, StandardCharsets.UTF_8)) {
        for (Map.Entry<String, String> e : entries.entrySet()) {
          ObjectNode line =
              JSON.createObjectNode().put("key", e.getKey()).put("value", e.getValue());
          w.write(JSON.writeValueAsString(line));
          w.write('\n');
        }
      }
      return 0;
    }
  }

  @Command(
      name = "import",
      mixinStandardHelpOptions = true,
      description =
          "Set every entry of a JSON lines file (as written by export). Each line is"
              + " durable when read past; a bad line stops the import and names the line.")
  static final class Import implements Callable<Integer> {
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
      try (KVLog<String, String> store = main.open();
          BufferedReader in = new BufferedReader(reader(input))) {
        String text;
        for (int lineNo = 1; (text = in.readLine()) != null; lineNo++) {
          if (text.isBlank()) {
            continue;
          }
          JsonNode line;
          try {
            line = JSON.readTree(text);
          } catch (IOException e) {
            throw new BadInput(
                input
                    + " line "
                    + lineNo
                    + " is not JSON; "
                    + count
                    + " entries were imported before it");
          }
          if (!line.isObject()
              || !line.path("key").isTextual()
              || !line.path("value").isTextual()) {
            throw new BadInput(
                input
                    + " line "
                    + lineNo
                    + " must be {\"key\": \"…\", \"value\": \"…\"} with string key and value; "
                    + count
                    + " entries were imported before it");
          }
          store.set(line.get("key").asText(), line.get("value").asText());
          count++;
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
      description = "Print size and file statistics.")
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
                    .put("schemaVersion", s.schemaVersion())));
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

  private static Map<String, String> sorted(Main main, String prefix) {
    Map<String, String> entries = new TreeMap<>();
    try (KVLog<String, String> store = main.open()) {
      store.forEach(
          (k, v) -> {
            if (k.startsWith(prefix)) {
              entries.put(k, v);
            }
          });
    }
    return entries;
  }
}
