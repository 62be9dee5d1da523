/**
 * JDK-only helpers shared by the facade and the backends (text checks, hiding secrets in messages);
 * not an API. Nothing here imports {@code dev.kvlog}, so the facade, the SPI and the backends can
 * all use it without a package cycle. Not exported by the module: every type here may change or
 * disappear in any release.
 */
package dev.kvlog.internal;
