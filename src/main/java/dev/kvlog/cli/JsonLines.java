package dev.kvlog.cli;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.Map;

/**
 * The export format: one JSON object per line, {@code {"key":"…","value":"…"}}, UTF-8, each line
 * ended by {@code \n}. Reading is strict, because anything a lenient reader skips is data lost
 * without a word: a line is exactly one object with exactly the string members {@code key} and
 * {@code value}; trailing tokens, duplicate members, other types, blank lines and invalid UTF-8 are
 * errors naming the line. String lengths are not limited by the parser (Jackson's default stops at
 * 20 M characters), so whatever the store holds can be read back.
 */
final class JsonLines {
  private static final ObjectMapper JSON =
      new ObjectMapper(
              JsonFactory.builder()
                  .streamReadConstraints(
                      StreamReadConstraints.builder()
                          .maxStringLength(Integer.MAX_VALUE)
                          .maxDocumentLength(-1)
                          .build())
                  .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                  .build())
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
          .disable(JsonParser.Feature.ALLOW_COMMENTS);

  private JsonLines() {}

  /** One line of the format. */
  static String write(String key, String value) throws IOException {
    return JSON.writeValueAsString(JSON.createObjectNode().put("key", key).put("value", value));
  }

  /** A line that is not one {"key":…,"value":…} object. */
  static final class BadLine extends Exception {
    private static final long serialVersionUID = 1L;

    BadLine(String problem) {
      super(problem);
    }
  }

  /** Reads lines as bytes, so a line's invalid UTF-8 is reported with its number. */
  static final class Reader {
    private final InputStream in;
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();
    private long lineNumber;

    Reader(InputStream in) {
      this.in = in;
    }

    /** The number of the line last returned by {@link #next}. */
    long lineNumber() {
      return lineNumber;
    }

    /**
     * The next entry, or null at the end of the input.
     *
     * @throws BadLine naming what is wrong with line {@link #lineNumber()}
     */
    Map.Entry<String, String> next() throws IOException, BadLine {
      line.reset();
      int b;
      boolean any = false;
      while ((b = in.read()) != -1 && b != '\n') {
        line.write(b);
        any = true;
      }
      if (b == -1 && !any) {
        return null;
      }
      lineNumber++;
      return parse(decode(line.toByteArray()));
    }

    private static String decode(byte[] bytes) throws BadLine {
      try {
        return StandardCharsets.UTF_8
            .newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT)
            .decode(ByteBuffer.wrap(bytes))
            .toString();
      } catch (CharacterCodingException e) {
        throw new BadLine("is not valid UTF-8");
      }
    }
  }

  static Map.Entry<String, String> parse(String text) throws BadLine {
    if (text.isBlank()) {
      throw new BadLine("is empty; every line must be one {\"key\":…,\"value\":…} object");
    }
    if (text.charAt(0) == '\uFEFF') {
      throw new BadLine(
          "starts with a byte order mark (U+FEFF), which JSON lines do not allow (an editor may"
              + " have added it); remove it, e.g. sed -i '1s/^\\xEF\\xBB\\xBF//' FILE, and import"
              + " again");
    }
    JsonNode node;
    try {
      node = JSON.readTree(text);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      // The parser's own words, without its location (the source is redacted; the column is
      // given in our words) or parser-state markers.
      String reason =
          e.getOriginalMessage().replaceAll("\\s*\\(start marker at \\[Source:[^\\]]*\\]\\)", "");
      int cut = reason.indexOf("\n");
      long column = e.getLocation() == null ? -1 : e.getLocation().getColumnNr();
      throw new BadLine(
          "is not one JSON object"
              + (column > 0 ? " (at column " + column + ")" : "")
              + ": "
              + (cut >= 0 ? reason.substring(0, cut) : reason).trim());
    } catch (IOException e) {
      throw new BadLine("could not be parsed: " + e.getMessage());
    }
    if (node == null || !node.isObject()) {
      throw new BadLine("is not a JSON object");
    }
    Iterator<String> names = node.fieldNames();
    while (names.hasNext()) {
      String name = names.next();
      if (!name.equals("key") && !name.equals("value")) {
        throw new BadLine(
            "has member \"" + name + "\"; only \"key\" and \"value\" are allowed (a typo?)");
      }
    }
    JsonNode key = node.get("key");
    JsonNode value = node.get("value");
    if (key == null || value == null || !key.isTextual() || !value.isTextual()) {
      throw new BadLine("must be {\"key\": \"…\", \"value\": \"…\"} with a string key and value");
    }
    return Map.entry(key.textValue(), value.textValue());
  }
}
