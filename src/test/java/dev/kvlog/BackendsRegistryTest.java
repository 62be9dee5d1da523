package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.kvlog.spi.Settings;
import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Outside review: one failing third-party provider disabled every store (a throwing constructor
 * failed Backends' static initialisation for good, a throwing accepts() failed every open, and an
 * open() returning null gave a NullPointerException).
 */
class BackendsRegistryTest {
  @TempDir Path dir;

  private static final String SERVICES = "META-INF/services/dev.kvlog.spi.BackendProvider";

  /** A class loader whose service file lists the broken providers before the built-in ones. */
  private ClassLoader loaderListing(String... providers) throws IOException {
    Path services = Files.createDirectories(dir.resolve("services")).resolve("providers");
    Files.writeString(services, String.join("\n", providers) + "\n");
    URL url = services.toUri().toURL();
    return new URLClassLoader(new URL[0], getClass().getClassLoader()) {
      @Override
      public Enumeration<URL> getResources(String name) throws IOException {
        return name.equals(SERVICES)
            ? Collections.enumeration(List.of(url))
            : super.getResources(name);
      }
    };
  }

  private static Settings defaults() {
    return Settings.DEFAULTS;
  }

  private static final String SQLITE = "dev.kvlog.sqlite.SqliteProvider";
  private static final String POSTGRES = "dev.kvlog.postgres.PostgresProvider";

  /** The built-in SQLite backend opens a store through {@code registry}. */
  private void sqliteStillOpens(Backends registry) {
    String url = "jdbc:sqlite:" + dir.resolve("kv-" + System.nanoTime() + ".db");
    try (KVLog<String, String> kv =
        new KVLog<>(registry.openWith(url, defaults()), Codecs.string(), Codecs.string())) {
      kv.set("k", "v");
      assertThat(kv.get("k")).contains("v");
    }
  }

  @Test
  void providerThatCannotBeCreated_isSkipped_andNamedWhenNoProviderAccepts() throws Exception {
    Backends registry =
        new Backends(
            loaderListing(
                BrokenProviders.ThrowingConstructor.class.getName(),
                "com.example.NoSuchProvider",
                SQLITE,
                POSTGRES));

    sqliteStillOpens(registry);
    assertThat(catchThrowable(() -> registry.providerFor("jdbc:mysql://app:hunter2@h/db")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("jdbc:sqlite:")
        .hasMessageContaining(BrokenProviders.ThrowingConstructor.class.getName())
        .hasMessageContaining("cannot start")
        .hasMessageContaining("com.example.NoSuchProvider")
        .hasMessageNotContaining("hunter2");
  }

  @Test
  void providerWhoseAcceptsThrows_isSkipped() throws Exception {
    Backends registry =
        new Backends(
            loaderListing(BrokenProviders.ThrowingAccepts.class.getName(), SQLITE, POSTGRES));

    sqliteStillOpens(registry);
    assertThat(catchThrowable(() -> registry.providerFor("jdbc:mysql://app:hunter2@h/db")))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("jdbc:sqlite:")
        .hasMessageContaining(BrokenProviders.ThrowingAccepts.class.getName())
        .hasMessageNotContaining("hunter2");
  }

  @Test
  void providerWhoseOpenReturnsNull_isAStoreOpenExceptionNamingIt() throws Exception {
    Backends registry =
        new Backends(loaderListing(BrokenProviders.NullOpen.class.getName(), SQLITE, POSTGRES));

    assertThat(catchThrowable(() -> registry.openWith("jdbc:null:x", defaults())))
        .isInstanceOf(StoreOpenException.class)
        .hasMessageContaining(BrokenProviders.NullOpen.class.getName());
    sqliteStillOpens(registry);
  }
}
