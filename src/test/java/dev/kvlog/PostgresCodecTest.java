package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
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
    try (PostgresKVStore<String, User> store =
        PostgresKVStore.builder(url, Codecs.string(), Codecs.json(User.class)).open()) {
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
      assertThatThrownBy(() -> store.delete("u"))
          .isInstanceOf(CorruptValueException.class)
          .hasMessageContaining("the write was applied");
      assertThat(store.get("u")).isEmpty();
    }
  }

  private static void awaitCorrupt(PostgresKVStore<String, User> store, String key)
      throws InterruptedException {
    long deadline = System.nanoTime() + PostgresKVStore.STALENESS_BOUND_SECONDS * 1_000_000_000L;
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
