/**
 * The shared backend, {@code jdbc:postgresql://...}: several application instances share one table,
 * each with an in-memory cache kept equal to it by a change feed (LISTEN/NOTIFY with a heartbeat
 * and full reloads). {@link dev.kvlog.postgres.PostgresProvider} opens a {@code PostgresBackend};
 * writes with row locks and their failure classification live in {@code PgWrites}, the feed in
 * {@code PgChangeFeed}, the versioned cache in {@code PgCache}. The consistency guarantees are
 * described on {@code PostgresBackend}.
 *
 * <p>Needs the optional PostgreSQL driver only once such a store is opened. Not exported by the
 * module: an implementation, found through {@link dev.kvlog.spi.BackendProvider}.
 */
package dev.kvlog.postgres;
