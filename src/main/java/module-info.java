/**
 * KVLog: a durable, embedded key-value store whose write-ahead log is SQLite, with a PostgreSQL
 * backend for several instances sharing one table.
 *
 * <p>The API is {@code dev.kvlog} (open a store with {@link dev.kvlog.KVLog#open} or {@link
 * dev.kvlog.KVLog#connect}); {@code dev.kvlog.spi} is the seam a backend implements. Nothing else
 * is exported: the engines ({@code dev.kvlog.sqlite}, {@code dev.kvlog.postgres}), the shared
 * helpers ({@code dev.kvlog.internal}) and the command line ({@code dev.kvlog.cli}) may change in
 * any release. The backends are found as services, so {@code KVLog.connect} works the same on the
 * module path and on the class path (where {@code META-INF/services} lists them).
 *
 * <p>Only SQLite, the pool and the logging facade are required. The rest is optional ({@code
 * requires static}): a module path without the PostgreSQL driver, Jackson, Micrometer or Caffeine
 * still runs KVLog on SQLite. The PostgreSQL driver needs only its jar on the module path: it
 * provides {@code java.sql.Driver}, so it is resolved as a service (checked by hand with {@code
 * jdbc:postgresql:}). Jackson and Micrometer are resolved only when a module requires them: the
 * application module that calls {@code Codecs.json} or binds {@code KVLogMetrics} requires them
 * itself (or the launcher says {@code --add-modules}), and opens its value types' packages to
 * Jackson.
 */
@SuppressWarnings("requires-automatic")
module dev.kvlog {
  exports dev.kvlog;
  exports dev.kvlog.spi;

  requires java.sql;
  requires org.xerial.sqlitejdbc;
  requires com.zaxxer.hikari;
  requires org.slf4j;

  // Optional at run time: each is needed only by the feature named beside it. The PostgreSQL
  // driver and Micrometer are automatic modules with names fixed in their manifests
  // (Automatic-Module-Name), so requiring them by name is safe; hence the suppressed warnings.
  // Not "static transitive", though JsonCodec.of takes an ObjectMapper: javac would then demand
  // Jackson and Micrometer when compiling every module that requires dev.kvlog. A module that
  // calls JsonCodec.of or binds KVLogMetrics requires Jackson or Micrometer itself.
  requires static org.postgresql.jdbc; // jdbc:postgresql: stores
  requires static com.fasterxml.jackson.databind; // JsonCodec, Codecs.json(), the CLI
  requires static micrometer.core; // KVLogMetrics, a MeterBinder
  requires static com.github.benmanes.caffeine; // the bounded cache (KVLogBuilder.cacheSize)
  requires static info.picocli; // the command line
  requires static me.tongfei.progressbar; // the command line's import progress

  // picocli reads the CLI's annotated fields and methods reflectively.
  opens dev.kvlog.cli to
      info.picocli;

  // The schema scripts (sql/ in the jar, resources only): KVLog reads them through its class
  // loader, and Flyway may apply them from classpath:sql/sqlite or classpath:sql/postgresql.
  opens sql.sqlite;
  opens sql.postgresql;

  uses dev.kvlog.spi.BackendProvider;

  provides dev.kvlog.spi.BackendProvider with
      dev.kvlog.sqlite.SqliteProvider,
      dev.kvlog.postgres.PostgresProvider;
}
