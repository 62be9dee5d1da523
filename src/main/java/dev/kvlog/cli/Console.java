package dev.kvlog.cli;

import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;

/**
 * Where the command line meets the process: standard output that keeps the error that ended it (so
 * that {@code export > /dev/full} fails, and {@code list | head} ends quietly), arguments that must
 * have decoded, and I/O errors put in words. Stateless but for {@link Stdout}, which is used by one
 * thread.
 */
final class Console {
  private Console() {}

  /** Standard output that remembers its first write error (a PrintWriter keeps only a flag). */
  static final class Stdout extends FilterOutputStream {
    private IOException failure;

    Stdout(OutputStream out) {
      super(out);
    }

    @Override
    public void write(int b) throws IOException {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      try {
        out.write(b, off, len);
      } catch (IOException e) {
        failure = failure == null ? e : failure;
        throw e;
      }
    }

    @Override
    public void flush() throws IOException {
      try {
        out.flush();
      } catch (IOException e) {
        failure = failure == null ? e : failure;
        throw e;
      }
    }

    IOException failure() {
      return failure;
    }
  }

  /**
   * Java decodes arguments in the locale's charset (sun.jnu.encoding) and turns bytes it cannot
   * decode into U+FFFD: stored, that is silent data loss. A literal U+FFFD is refused too (it
   * cannot be told apart); standard input carries it, and any bytes, exactly.
   */
  static String undecodedArgument(String[] args) {
    for (int i = 0; i < args.length; i++) {
      if (args[i].indexOf('\uFFFD') >= 0) {
        return "argument "
            + (i + 1)
            + " contains U+FFFD, the mark of bytes that are not valid "
            + System.getProperty("sun.jnu.encoding", "in this locale's charset")
            + "; nothing was done. Fix the locale (e.g. LC_ALL=C.UTF-8), or pass a value through"
            + " standard input: kvlog set KEY - < FILE";
      }
    }
    return null;
  }

  /**
   * An I/O failure in words: the file (if {@code withFile}) and the problem, never a Java class
   * name. Our own IOExceptions (no FileSystemException) carry a finished message.
   */
  static String describe(IOException e, boolean withFile) {
    String problem;
    if (e instanceof java.nio.file.NoSuchFileException) {
      problem = "no such file or directory";
    } else if (e instanceof java.nio.file.AccessDeniedException) {
      problem = "permission denied";
    } else if (e instanceof java.nio.file.FileAlreadyExistsException) {
      problem = "already exists";
    } else if (e instanceof java.nio.file.NotDirectoryException) {
      problem = "not a directory";
    } else if (e instanceof java.nio.file.DirectoryNotEmptyException) {
      problem = "directory not empty";
    } else if (e instanceof java.nio.file.FileSystemException) {
      String reason = ((java.nio.file.FileSystemException) e).getReason();
      problem = reason != null ? reason : "file system error";
    } else {
      return e.getMessage() != null ? e.getMessage() : "input/output error";
    }
    if (!withFile) {
      return problem;
    }
    java.nio.file.FileSystemException fs = (java.nio.file.FileSystemException) e;
    return fs.getFile()
        + (fs.getOtherFile() != null ? " -> " + fs.getOtherFile() : "")
        + ": "
        + problem;
  }
}
