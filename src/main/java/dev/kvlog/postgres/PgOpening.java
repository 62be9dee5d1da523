package dev.kvlog.postgres;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.kvlog.KVLogException;
import dev.kvlog.StoreOpenException;
import dev.kvlog.internal.Secrets;
import dev.kvlog.internal.Text;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Opening a PostgreSQL store: the connection pool, the server's durability settings, the length of
 * the change channel's name, the migration, and the start of the change feed. Kept apart from reads
 * and writes because none of it runs again once the store is open, and a failure anywhere here must
 * close the pool and report the URL without its secrets.
 *
 * <p>Thread-safe (stateless).
 */
final class PgOpening {
  private static final Logger log = LoggerFactory.getLogger(PgOpening.class);

  private PgOpening() {}

  /** An open store's parts; the caller owns (and closes) the pool and the feed. */
  record Opened(String where, HikariDataSource pool, int schemaVersion, PgChangeFeed feed) {}

  /**
   * Connects, refuses an undurable server or a too-long schema name, migrates the schema and starts
   * the change feed, which loads the table into {@code cache}.
   *
   * @throws KVLogException (a {@link StoreOpenException} or a {@link dev.kvlog.SchemaException})
   *     with the pool closed again
   */
  static Opened open(String url, int poolSize, PgCache cache) {
    String where = Secrets.redact(url);
    HikariDataSource pool = connect(url, where, poolSize);
    try {
      String schema;
      int schemaVersion;
      try (Connection c = pool.getConnection()) {
        requireDurable(c, where);
        try (Statement s = c.createStatement();
            ResultSet rs = s.executeQuery("SELECT current_schema()")) {
          rs.next();
          schema = rs.getString(1);
        }
        requireChannelFits(schema, where);
        schemaVersion = PgMigrations.migrate(c, where);
      }
      PgChangeFeed feed = new PgChangeFeed(url, where, "kvlog:" + schema, pool, cache);
      feed.start();
      return new Opened(where, pool, schemaVersion, feed);
    } catch (SQLException | RuntimeException e) {
      pool.close();
      if (e instanceof KVLogException) {
        throw (KVLogException) e;
      }
      List<String> secrets = Secrets.of(url);
      throw new StoreOpenException(
          "cannot open the store at " + where + ": " + Secrets.redact(e.getMessage(), secrets),
          Secrets.scrub(e, secrets));
    }
  }

  private static HikariDataSource connect(String url, String where, int poolSize) {
    HikariConfig config = new HikariConfig();
    config.setPoolName("kvlog-pg");
    config.setJdbcUrl(url);
    config.setMaximumPoolSize(poolSize);
    config.setConnectionInitSql("SET synchronous_commit TO on");
    // A write on a connection that died silently fails after this (outcome unknown) instead of
    // hanging; settings in the URL take precedence.
    config.addDataSourceProperty("socketTimeout", "30");
    config.addDataSourceProperty("tcpKeepAlive", "true");
    // Names this pool's sessions, so settling an unknown outcome only ever ends one of them.
    config.addDataSourceProperty("ApplicationName", "kvlog");
    config.setInitializationFailTimeout(1);
    try {
      return new HikariDataSource(config);
    } catch (RuntimeException e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      List<String> secrets = Secrets.of(url);
      throw new StoreOpenException(
          "cannot connect to " + where + ": " + Secrets.redact(cause.getMessage(), secrets),
          Secrets.scrub(e, secrets));
    }
  }

  private static void requireDurable(Connection c, String where) throws SQLException {
    String fsync = show(c, "fsync");
    if (!"on".equals(fsync)) {
      throw new StoreOpenException(
          where
              + " runs with fsync="
              + fsync
              + ": a crash of the server can lose or corrupt committed data, so KVLog refuses to"
              + " use it; set fsync=on in postgresql.conf");
    }
    String commit = show(c, "synchronous_commit");
    if ("off".equals(commit)) {
      throw new StoreOpenException(
          where
              + " has synchronous_commit=off even after SET; refusing to acknowledge writes"
              + " that are not flushed");
    }
    if (!"on".equals(show(c, "full_page_writes"))) {
      log.warn(
          "{} runs with full_page_writes=off: a torn page after a power cut can corrupt"
              + " the database",
          where);
    }
  }

  /**
   * Refuses, before anything is created, a schema whose change channel {@code kvlog:<schema>} would
   * exceed PostgreSQL's identifier limit: the trigger's pg_notify would then fail every write with
   * "channel name too long". Refusing (rather than hashing the name in a new trigger) keeps the
   * channel readable in pg_listening_channels() and needs no schema change.
   */
  private static void requireChannelFits(String schema, String where) {
    if (schema == null) {
      return; // no current schema: the migration reports it
    }
    int bytes = schema.getBytes(StandardCharsets.UTF_8).length;
    if (bytes > PostgresBackend.MAX_SCHEMA_NAME_BYTES) {
      throw new StoreOpenException(
          "schema name "
              + Text.excerpt(schema)
              + " of "
              + where
              + " is "
              + bytes
              + " bytes long; KVLog's change channel \"kvlog:<schema>\" must fit PostgreSQL's"
              + " 63-byte identifier limit, so schema names may have at most "
              + PostgresBackend.MAX_SCHEMA_NAME_BYTES
              + " bytes (UTF-8); use a shorter schema name in currentSchema=");
    }
  }

  private static String show(Connection c, String setting) throws SQLException {
    try (Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SHOW " + setting)) {
      rs.next();
      return rs.getString(1);
    }
  }
}
