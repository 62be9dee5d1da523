package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kvlog.postgres.PostgresBackend;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.List;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A value another tool stored that the codec cannot read is reported as such on PostgreSQL too:
 * {@link CorruptValueException} naming the key, never a raw NullPointerException or Jackson error.
 */
class PostgresCodecTest {
  record User(String name, int age) {}

  private String url;

  @BeforeEach
  void schema() throws Exception {
    url = PostgresTestServer.freshSchema();
  }

  @AfterEach
  void drop() throws Exception {
    PostgresTestServer.drop(url);
  }

  @Test
  void get_ofAValueThatDecodesToNullOrNotAtAll_throwsCorruptValueNamingTheKey() throws Exception {
    try (KVLog<String, User> store =
        KVLog.builder(url, Codecs.string(), Codecs.json(User.class)).open()) {
      store.set("u", new User("ann", 30));
      store.set("w", new User("bob", 31));
      try (Connection c = DriverManager.getConnection(url);
          Statement s = c.createStatement()) {
        s.executeUpdate("UPDATE kv SET value = 'null' WHERE key = 'u'");
        s.executeUpdate("UPDATE kv SET value = 'not json' WHERE key = 'w'");
      }
      awaitCorrupt(store, "u");
      awaitCorrupt(store, "w");
      assertThatThrownBy(() -> store.range(null, null)).isInstanceOf(CorruptValueException.class);
      // A write whose prior value cannot be decoded is refused before it commits, as on SQLite:
      // the store is unchanged (it used to delete the row, then throw "the write was applied").
      for (ThrowingCallable write :
          List.<ThrowingCallable>of(
              () -> store.delete("u"),
              () -> store.set("u", new User("cy", 1)),
              () -> store.setIfAbsent("u", new User("cy", 1)))) {
        assertThatThrownBy(write)
            .isInstanceOfSatisfying(
                WriteFailedException.class, e -> assertThat(e.outcomeUnknown()).isFalse())
            .hasMessageContaining("was not applied")
            .hasCauseInstanceOf(CorruptValueException.class);
      }
      try (Connection c = DriverManager.getConnection(url);
          Statement s = c.createStatement();
          java.sql.ResultSet rs = s.executeQuery("SELECT value FROM kv WHERE key = 'u'")) {
        assertThat(rs.next()).as("the row is still there").isTrue();
        assertThat(rs.getString(1)).isEqualTo("null");
      }
      store.write(new WriteBatch<String, User>().delete("u")); // the documented repair
      assertThat(store.get("u")).isEmpty();
    }
  }

  private static void awaitCorrupt(KVLog<String, User> store, String key)
      throws InterruptedException {
    long deadline = System.nanoTime() + PostgresBackend.STALENESS_BOUND_SECONDS * 1_000_000_000L;
    for (; ; ) {
      try {
        store.get(key);
      } catch (CorruptValueException e) {
        assertThat(e.getMessage()).contains("key \"" + key + "\"");
        return;
      }
      assertThat(System.nanoTime())
          .as("the external edit is seen within the bound")
          .isLessThan(deadline);
      Thread.sleep(20);
    }
  }
}
