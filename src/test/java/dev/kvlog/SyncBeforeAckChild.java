package dev.kvlog;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;

/**
 * The child side of {@link DurabilityTest}: performs N writes and prints {@code ACK n} after each
 * returned. Mode {@code kvlog} writes through KVLog; mode {@code raw-normal} writes through a plain
 * sqlite-jdbc connection with {@code synchronous=NORMAL}, the negative control.
 */
final class SyncBeforeAckChild {
  public static void main(String[] args) throws Exception {
    Path db = Path.of(args[0]);
    int n = Integer.parseInt(args[1]);
    String mode = args[2];
    if (mode.equals("kvlog")) {
      try (KVLog<String, String> store = KVLog.load(db)) {
        System.out.println("START");
        for (int i = 0; i < n; i++) {
          store.set("key" + (i % 5), "value" + i);
          System.out.println("ACK " + i);
        }
      }
    } else {
      try (Connection c =
          DriverManager.getConnection(
              "jdbc:sqlite:" + db + "?journal_mode=WAL&synchronous=NORMAL")) {
        c.createStatement()
            .executeUpdate(
                "CREATE TABLE IF NOT EXISTS kv(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID");
        try (PreparedStatement upsert =
            c.prepareStatement(
                "INSERT INTO kv VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")) {
          System.out.println("START");
          for (int i = 0; i < n; i++) {
            upsert.setString(1, "key" + (i % 5));
            upsert.setString(2, "value" + i);
            upsert.executeUpdate();
            System.out.println("ACK " + i);
          }
        }
      }
    }
  }
}
