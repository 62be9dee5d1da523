package dev.kvlog;

import dev.kvlog.spi.Backend;
import dev.kvlog.spi.BackendProvider;
import dev.kvlog.spi.Settings;

/** Third-party backend providers that fail in each way a registry must survive (tests). */
public final class BrokenProviders {
  private BrokenProviders() {}

  /** Cannot be created. */
  public static final class ThrowingConstructor implements BackendProvider {
    public ThrowingConstructor() {
      throw new IllegalStateException("cannot start");
    }

    @Override
    public String urlForm() {
      return "jdbc:ctor:<x>";
    }

    @Override
    public boolean accepts(String url) {
      return url.startsWith("jdbc:ctor:");
    }

    @Override
    public Backend open(String url, Settings settings) {
      throw new UnsupportedOperationException();
    }
  }

  /** Throws when asked whether it takes a URL. */
  public static final class ThrowingAccepts implements BackendProvider {
    @Override
    public String urlForm() {
      return "jdbc:accepts:<x>";
    }

    @Override
    public boolean accepts(String url) {
      throw new IllegalStateException("accepts failed on " + url);
    }

    @Override
    public Backend open(String url, Settings settings) {
      throw new UnsupportedOperationException();
    }
  }

  /** Opens {@code jdbc:null:} URLs as null. */
  public static final class NullOpen implements BackendProvider {
    @Override
    public String urlForm() {
      return "jdbc:null:<x>";
    }

    @Override
    public boolean accepts(String url) {
      return url.startsWith("jdbc:null:");
    }

    @Override
    public Backend open(String url, Settings settings) {
      return null;
    }
  }
}
