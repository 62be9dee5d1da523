package dev.kvlog.cli;

import dev.kvlog.sqlite.StoreFiles;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Where an export goes: standard output, or a file that appears only when complete. The file is
 * written as a hidden owner-only ({@code rw-------}) temporary beside the target (an export holds
 * the whole store, which is itself owner-only), fsynced, then linked into place, which fails if the
 * target appeared meanwhile; with {@code --force} it is renamed over the target instead. A failed
 * export leaves no file behind.
 */
final class ExportFile implements AutoCloseable {
  private final Path target; // null: standard output
  private final Path temporary;
  private final FileChannel channel;
  private final Writer writer;
  private boolean committed;

  private ExportFile(Path target, Path temporary, FileChannel channel, Writer writer) {
    this.target = target;
    this.temporary = temporary;
    this.channel = channel;
    this.writer = writer;
  }

  /**
   * Refuses an output that exists, unless {@code force} and it is a regular file itself (not a
   * link): a rename over a device node or FIFO would replace the node for every user of it (once,
   * as root, {@code -o /dev/null --force} replaced /dev/null), and one over a link would replace
   * the link, not what it points to. Checked again just before the rename.
   */
  static void checkTarget(Path output, boolean force) {
    if (output == null || !Files.exists(output, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    if (!Files.isRegularFile(output, LinkOption.NOFOLLOW_LINKS)) {
      throw new Main.Refused(
          "cannot export to "
              + output
              + ": it exists and is not a regular file ("
              + kind(output)
              + "); export writes only new or regular files: choose a new path, or use -o - (or no"
              + " -o) for standard output");
    }
    if (!force) {
      throw new Main.Refused(
          output + " already exists; export never overwrites: add --force or choose a new path");
    }
  }

  private static String kind(Path p) {
    if (Files.isSymbolicLink(p)) {
      return "a symbolic link";
    }
    if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
      return "a directory";
    }
    return "a device, FIFO or socket";
  }

  static ExportFile open(Path output, PrintWriter stdout) throws IOException {
    if (output == null) {
      return new ExportFile(null, null, null, new BufferedWriter(stdout, 1 << 16));
    }
    Path target = output.toAbsolutePath().normalize();
    Path dir = target.getParent();
    if (dir == null || !Files.isDirectory(dir)) {
      throw new Main.Refused(
          "cannot export to " + target + ": directory " + dir + " does not exist; create it first");
    }
    Path temporary =
        dir.resolve(
            "."
                + target.getFileName()
                + ".tmp-"
                + Long.toHexString(ThreadLocalRandom.current().nextLong()));
    FileChannel channel;
    try {
      channel =
          FileChannel.open(
              temporary,
              java.util.Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
              StoreFiles.ownerOnly());
    } catch (IOException e) {
      throw new IOException(
          "cannot export to "
              + target
              + ": cannot create a file in "
              + dir
              + " ("
              + Console.describe(e, false)
              + "); choose a directory this process may write",
          e);
    }
    OutputStream out = Channels.newOutputStream(channel);
    return new ExportFile(
        target,
        temporary,
        channel,
        new BufferedWriter(new OutputStreamWriter(out, StandardCharsets.UTF_8), 1 << 16));
  }

  void writeLine(String line) {
    try {
      writer.write(line);
      writer.write('\n');
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Makes the export durable and puts it in place: {@code --force} decided at open. */
  void commit(boolean replace) throws IOException {
    writer.flush();
    if (target == null) {
      return;
    }
    channel.force(true);
    if (replace) {
      checkTarget(target, true); // it may have changed kind during the export
      Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE);
    } else {
      try {
        Files.createLink(target, temporary); // fails if the target appeared meanwhile
        Files.delete(temporary);
      } catch (FileAlreadyExistsException e) {
        throw new Main.Refused(
            target
                + " appeared during the export; it was left alone: add --force or choose a new path");
      } catch (UnsupportedOperationException | IOException noLinks) {
        if (Files.exists(target)) {
          throw new Main.Refused(target + " appeared during the export; it was left alone");
        }
        Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE);
      }
    }
    StoreFiles.syncDirectory(target.getParent());
    committed = true;
  }

  @Override
  public void close() throws IOException {
    if (target == null) {
      writer.flush(); // standard output stays open
      return;
    }
    try {
      writer.close();
    } finally {
      if (!committed) {
        Files.deleteIfExists(temporary);
      }
    }
  }
}
