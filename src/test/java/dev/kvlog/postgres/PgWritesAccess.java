package dev.kvlog.postgres;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.Set;

/** Test access to {@link PgWrites}, for tests in other packages. */
public final class PgWritesAccess {
  private PgWritesAccess() {}

  public static void endBackends(Connection c, Set<Integer> pids) throws SQLException {
    PgWrites.endBackends(c, pids);
  }
}
