package dev.kvlog.tools;

import dev.kvlog.KVStore;
import dev.kvlog.WriteBatch;
import dev.kvlog.sqlite.OwnerLock;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.LongConsumer;

/**
 * Copies every entry of one store into another and verifies the copy ({@code kvlog copy}).
 *
 * <p><b>What it promises.</b> The source is only read (it may be in use: a SQLite file is read
 * without the owner lock). Entries are written in batches of {@value #BATCH}, each batch in one
 * transaction, and upserted, so a re-run after a failure or an interruption is safe; keys that only
 * the target has are left alone. After each batch every entry of it is read back from the target:
 * the copy is verified only if each one holds the source's value, and the SHA-256 over the source's
 * entries in key order equals the one over what the target returned. A difference means something
 * else wrote the target meanwhile; the report says how many entries differ and the caller says to
 * re-run. (A change another writer makes after its batch was read back is not seen: the copy
 * verifies what it wrote, not what the target holds later.) The source is read from one snapshot on
 * SQLite and PostgreSQL alike. A target file the copy created is deleted again if the copy does not
 * complete (see {@link #close}); an existing target keeps the batches written before a failure.
 *
 * <p>Not thread-safe: one copy, run once, by one thread.
 */
public final class StoreCopy implements AutoCloseable {
  /** Entries per transaction on the target. */
  public static final int BATCH = 1000;

  private final Source source;
  private final KVStore<String, String> target;

  /** The target file this copy created and its identity then, or null: removed if it fails. */
  private final Path createdFile;

  private final Object createdFileKey;
  private boolean completed;

  StoreCopy(Source source, KVStore<String, String> target) {
    this(source, target, null);
  }

  private StoreCopy(Source source, KVStore<String, String> target, Path createdFile) {
    this.source = Objects.requireNonNull(source, "source");
    this.target = Objects.requireNonNull(target, "target");
    this.createdFile = createdFile;
    this.createdFileKey = createdFile == null ? null : fileKey(createdFile);
  }

  /**
   * Opens {@code from} read-only, then {@code to} for writing (a target file is created if
   * missing). Nothing is opened if both name the same store; if the target cannot be opened (for
   * example another process owns it: {@link dev.kvlog.StoreLockedException}), the source is closed
   * again and nothing was written.
   *
   * @throws SameStoreException if {@code from} and {@code to} are the same store
   */
  public static StoreCopy open(Location from, Location to) {
    if (from.sameStoreAs(to)) {
      throw new SameStoreException(from.display() + " is both the source and the target");
    }
    Source source = from.openForReading();
    try {
      // A target file this copy creates is removed again if the copy fails (a damaged or
      // unreadable source is often found only while reading it): a failure must not leave an
      // empty or partial store that looks like a copy.
      boolean creates = to.isFile() && !Files.exists(to.file(), LinkOption.NOFOLLOW_LINKS);
      KVStore<String, String> target = to.openForWriting();
      return new StoreCopy(source, target, creates ? to.file() : null);
    } catch (RuntimeException e) {
      source.close();
      throw e;
    }
  }

  /** The number of entries in the source now (for a progress bar: the copy may see others). */
  public int sourceEntries() {
    return source.size();
  }

  /**
   * Copies and verifies, telling {@code progress} how many entries each written batch held.
   *
   * @throws dev.kvlog.KVLogException if reading the source or writing the target fails; the batches
   *     before the failing one are durable in a target that existed (one this copy created is
   *     deleted on {@link #close})
   */
  public Report run(LongConsumer progress) {
    MessageDigest sourceSum = sha256();
    MessageDigest targetSum = sha256();
    int[] counts = new int[2]; // copied, differing
    List<Map.Entry<String, String>> chunk = new ArrayList<>();
    Runnable flush =
        () -> {
          WriteBatch<String, String> batch = new WriteBatch<>();
          chunk.forEach(e -> batch.set(e.getKey(), e.getValue()));
          target.write(batch);
          for (Map.Entry<String, String> e : chunk) {
            digest(sourceSum, e.getKey(), e.getValue());
            String there = target.get(e.getKey()).orElse(null);
            digest(targetSum, e.getKey(), there);
            if (!e.getValue().equals(there)) {
              counts[1]++;
            }
          }
          counts[0] += chunk.size();
          progress.accept(chunk.size());
          chunk.clear();
        };
    source.forEach(
        null,
        null,
        (k, v) -> {
          chunk.add(Map.entry(k, v));
          if (chunk.size() == BATCH) {
            flush.run();
          }
        });
    flush.run();
    completed = true;
    HexFormat hex = HexFormat.of();
    return new Report(
        counts[0], counts[1], hex.formatHex(sourceSum.digest()), hex.formatHex(targetSum.digest()));
  }

  /**
   * Closes the target, then the source. If this copy created the target file and {@link #run} did
   * not complete, the target's files are then deleted (the database, its {@code -wal}, {@code -shm}
   * and lock file), unless the database file is no longer the one this copy created.
   */
  @Override
  public void close() {
    try {
      target.close();
    } finally {
      try {
        source.close();
      } finally {
        if (createdFile != null && !completed) {
          removeCreated();
        }
      }
    }
  }

  /**
   * Deletes the target this failed copy created. Only if the file is still the one created (same
   * file key): another process may open the name once the target is closed; what it created in that
   * instant is left alone. Best effort: a file that cannot be deleted stays.
   */
  private void removeCreated() {
    Object now = fileKey(createdFile);
    if (now == null || !now.equals(createdFileKey)) {
      return;
    }
    for (Path p :
        List.of(
            createdFile,
            createdFile.resolveSibling(createdFile.getFileName() + "-wal"),
            createdFile.resolveSibling(createdFile.getFileName() + "-shm"),
            OwnerLock.lockFile(createdFile))) {
      try {
        Files.deleteIfExists(p);
      } catch (IOException | RuntimeException e) {
        // best effort: the failure the caller reports matters more
      }
    }
  }

  private static Object fileKey(Path file) {
    try {
      return Files.readAttributes(file, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
          .fileKey();
    } catch (IOException e) {
      return null;
    }
  }

  /**
   * What a copy did: {@code copied} entries written, {@code differing} of them read back with
   * another value (or none), and the SHA-256 over the entries in key order as read from the source
   * and from the target.
   */
  public record Report(int copied, int differing, String sourceSha256, String targetSha256) {
    /** Whether the target held every copied entry as the source had it. */
    public boolean verified() {
      return differing == 0 && sourceSha256.equals(targetSha256);
    }
  }

  /** A copy of a store onto itself, refused before anything is opened. */
  public static final class SameStoreException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    SameStoreException(String message) {
      super(message);
    }
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java platform has SHA-256", e);
    }
  }

  /** Key, NUL, value (0xFF, a byte UTF-8 never holds, for a missing one), NUL. */
  private static void digest(MessageDigest md, String key, String value) {
    md.update(key.getBytes(StandardCharsets.UTF_8));
    md.update((byte) 0);
    md.update(value == null ? new byte[] {(byte) 0xFF} : value.getBytes(StandardCharsets.UTF_8));
    md.update((byte) 0);
  }
}
