/**
 * KVLog's engine. Not an API: every type here may change or disappear in any release. Use {@link
 * dev.kvlog.KVLog} and the types of {@code dev.kvlog}.
 */
package dev.kvlog.internal;
