package dev.kvlog.sqlite;

import dev.kvlog.StoreOpenException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * Refuses a store file that is a mount point of its own: a single-file bind mount ({@code mount
 * --bind real/kv.db other/kv.db}, or a container volume of one file). Stateless and thread-safe.
 *
 * <p>Why: SQLite puts {@code -wal} and {@code -shm} (and KVLog its {@code -lock}) in the directory
 * of the path it was given. Through a file mount that is another directory than the real file's, so
 * two processes opening the two paths get two lock files, two WALs and two owners, and each loses
 * the other's acknowledged writes; in a container the mount's directory is often ephemeral, so a
 * crash loses the WAL and with it acknowledged writes. A directory mount has none of this (one
 * directory inode, one set of files), which is the fix the message gives. The owner lock is
 * deliberately not taken on the database file itself: an fcntl lock there would be dropped as soon
 * as any SQLite connection of this process closed a descriptor of the file.
 *
 * <p>Linux only ({@code /proc/self/mountinfo}); elsewhere nothing is checked. A mount made after
 * the store was opened is not seen.
 */
final class MountPoints {
  private static final Path MOUNTINFO = Path.of("/proc/self/mountinfo");

  private MountPoints() {}

  /**
   * @throws StoreOpenException if {@code real} (a real path: no symbolic links) is a mount point
   */
  static void refuseFileMount(Path real) {
    List<String> lines;
    try {
      lines = Files.readAllLines(MOUNTINFO, StandardCharsets.ISO_8859_1); // bytes, decoded below
    } catch (NoSuchFileException e) {
      return; // not Linux
    } catch (IOException e) {
      throw new StoreOpenException("cannot read " + MOUNTINFO + " to check " + real + ": " + e, e);
    }
    String wanted = real.toString();
    for (String line : lines) {
      if (wanted.equals(mountPoint(line))) {
        throw new StoreOpenException(
            real
                + " is a mount point of its own (a bind mount of the single file); KVLog refuses"
                + " it because SQLite's -wal and -shm and KVLog's -lock must sit beside the real"
                + " file, and through a file mount they land in another directory: two processes"
                + " using the two paths would both own the store and lose each other's writes,"
                + " and in a container that directory is often ephemeral, so a crash would lose"
                + " acknowledged writes. Mount the directory that holds the store instead");
      }
    }
  }

  /**
   * Field 5 of a mountinfo line, the mount point, with the kernel's octal escapes ({@code \040} for
   * a space, {@code \011}, {@code \012}, {@code \134}) decoded; null for a malformed line.
   */
  static String mountPoint(String line) {
    String[] fields = line.split(" ");
    if (fields.length < 5) {
      return null;
    }
    String field = fields[4];
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < field.length(); i++) {
      char ch = field.charAt(i);
      if (ch == '\\' && isOctal(field, i + 1)) {
        out.append((char) Integer.parseInt(field.substring(i + 1, i + 4), 8));
        i += 3;
      } else {
        out.append(ch);
      }
    }
    // Read as bytes (ISO-8859-1); the kernel escapes only a few; decode as UTF-8, as paths are.
    return new String(out.toString().getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8);
  }

  private static boolean isOctal(String s, int from) {
    if (from + 3 > s.length()) {
      return false;
    }
    for (int i = from; i < from + 3; i++) {
      if (s.charAt(i) < '0' || s.charAt(i) > '7') {
        return false;
      }
    }
    return true;
  }
}
