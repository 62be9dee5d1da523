package dev.kvlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.lang.reflect.InvocationTargetException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Jackson is optional: without it the store works, and Codecs.json says what to add. */
class OptionalJacksonTest {
  @Test
  void withoutJackson_codecsLoad_andJsonExplainsWhatIsMissing() throws Exception {
    String classPath =
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    List<URL> urls = new ArrayList<>();
    for (String entry : classPath.split(File.pathSeparator)) {
      if (!entry.contains("jackson")) {
        urls.add(Path.of(entry).toUri().toURL());
      }
    }
    assumeTrue(urls.size() > 2, "the test class path is not visible here: " + classPath);
    try (URLClassLoader noJackson =
        new URLClassLoader(urls.toArray(new URL[0]), ClassLoader.getPlatformClassLoader())) {
      assertThat(noJackson.loadClass("dev.kvlog.Codecs")).isNotSameAs(Codecs.class);
      Class<?> codecs = noJackson.loadClass("dev.kvlog.Codecs");
      assertThat(codecs.getMethod("string").invoke(null)).isNotNull();
      try {
        codecs.getMethod("json", Class.class).invoke(null, String.class);
        throw new AssertionError("Codecs.json worked without Jackson on the class path");
      } catch (InvocationTargetException e) {
        assertThat(e.getCause())
            .isInstanceOf(IllegalStateException.class)
            .hasMessageStartingWith(
                "Codecs.json needs Jackson: add com.fasterxml.jackson.core:jackson-databind");
      }
    }
  }
}
