package dev.kvlog.cli;

import dev.kvlog.sqlite.KVLogReader;
import dev.kvlog.tools.Source;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/**
 * The commands that only read a store: get, list, export, stats. Each opens the store read-only
 * ({@link Source}: a SQLite file without the owner lock, so they work while an application owns and
 * writes it; never creating or changing a file) and reads committed data from one snapshot. Each
 * command object serves one run, so none is thread-safe.
 */
final class ReadCommands {
  private ReadCommands() {}

  @Command(
      name = "get",
      mixinStandardHelpOptions = true,
      description = {
        "Print the value of KEY and a newline; exit code 1 if it is absent.",
        "Reads the committed value with one SELECT, also while an application owns the store."
      })
  static final class GetCommand implements Callable<Integer> {
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
      try (Source store = main.store.read()) {
        Optional<String> value = store.get(key);
        if (value.isEmpty()) {
          spec.commandLine().getErr().println("kvlog: key not found: " + key);
          return Main.NOT_FOUND;
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
      name = "list",
      mixinStandardHelpOptions = true,
      description = "Print keys in key order, one per line, from a consistent snapshot.")
  static final class ListCommand implements Callable<Integer> {
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
        throw new Main.Refused("use either --prefix or --from/--to, not both");
      }
      PrintWriter out = spec.commandLine().getOut();
      try (Source store = main.store.read()) {
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

  /** One JSON line {"key":…,"value":…}, as list --json and export print it. */
  static String line(String key, String value) {
    try {
      return JsonLines.write(key, value);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
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
  static final class ExportCommand implements Callable<Integer> {
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
      try (Source store = main.store.read();
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
      name = "stats",
      mixinStandardHelpOptions = true,
      description = {
        "Print the store's path, committed entries, file sizes and schema version (read-only, also"
            + " while an application owns the store).",
        "Commit counters (commits, group sizes, latency, checkpoints) live in the owning process:"
            + " read them there with KVLog.stats()."
      })
  static final class StatsCommand implements Callable<Integer> {
    @ParentCommand Main main;
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Override
    public Integer call() throws IOException {
      KVLogReader.Stats s;
      try (KVLogReader store = KVLogReader.open(main.store.storeFile("stats"))) {
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
