package dev.kvlog.cli;

import dev.kvlog.KVLogException;
import dev.kvlog.KVStore;
import dev.kvlog.WriteBatch;
import dev.kvlog.WriteFailedException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Writes imported entries in batches and keeps the promise the import makes: when it stops at a bad
 * line, or at a value the store refuses, every entry before that line is durable and nothing after
 * it was written. A batch is all-or-nothing, so when the store refuses one of its values the batch
 * is replayed entry by entry up to the refused one.
 */
final class Importer {
  private final KVStore<String, String> store;
  private final String source;
  private final int batchSize;
  private final List<Map.Entry<String, String>> pending = new ArrayList<>();
  private final List<Long> pendingLines = new ArrayList<>();
  private int imported;

  Importer(KVStore<String, String> store, String source, int batchSize) {
    this.store = store;
    this.source = source;
    this.batchSize = batchSize;
  }

  int imported() {
    return imported;
  }

  void add(long line, String key, String value) {
    pending.add(Map.entry(key, value));
    pendingLines.add(line);
    if (pending.size() == batchSize) {
      flush();
    }
  }

  void finish() {
    flush();
  }

  /** Writes what came before {@code line}, then stops the import there. */
  void stop(long line, String problem) {
    flush();
    throw new Main.BadInput(source + " line " + line + " " + problem + "; " + kept());
  }

  private String kept() {
    return "the " + imported + " lines before it were imported, nothing after it";
  }

  private void flush() {
    if (pending.isEmpty()) {
      return;
    }
    WriteBatch<String, String> batch = new WriteBatch<>();
    pending.forEach(e -> batch.set(e.getKey(), e.getValue()));
    try {
      store.write(batch);
      imported += pending.size();
    } catch (IllegalArgumentException | NullPointerException refused) {
      for (int i = 0; i < pending.size(); i++) {
        try {
          store.set(pending.get(i).getKey(), pending.get(i).getValue());
          imported++;
        } catch (IllegalArgumentException | NullPointerException e) {
          throw new Main.BadInput(
              source
                  + " line "
                  + pendingLines.get(i)
                  + " holds an entry the store refuses: "
                  + e.getMessage()
                  + "; "
                  + kept());
        }
      }
    } catch (KVLogException e) {
      boolean unknown =
          e instanceof WriteFailedException && ((WriteFailedException) e).outcomeUnknown();
      throw new KVLogException(
          "import stopped writing lines "
              + pendingLines.get(0)
              + "–"
              + pendingLines.get(pendingLines.size() - 1)
              + " of "
              + source
              + ": "
              + e.getMessage()
              + "; the "
              + imported
              + " lines before them are durable, and those lines "
              + (unknown ? "may or may not have been applied" : "were not applied"),
          e);
    }
    pending.clear();
    pendingLines.clear();
  }
}
