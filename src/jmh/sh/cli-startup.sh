#!/bin/sh
# Startup of the command line: `kvlog get` on a 1M-entry store, through the target/kvlog launcher
# and, for comparison, plain `java -jar`. Needs hyperfine and sqlite3 (Debian: apt-get install -y
# hyperfine sqlite3). Run after `mvn -B -q -DskipTests package`:
#   sh src/jmh/sh/cli-startup.sh            (about a minute)
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
kvlog="$root/target/kvlog"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db="$work/big.db"
"$kvlog" --file "$db" set seed 1
# 1M entries of 15-byte keys and 100-byte values, inserted by sqlite3 (kvlog import takes longer).
sqlite3 "$db" "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000)
  INSERT INTO kv SELECT printf('key%012d', x), printf('%0100d', x) FROM c;" >/dev/null
hyperfine -N --warmup 3 --runs 20 \
  "$kvlog --file $db get key000000500000" \
  "java -jar $root/target/kvlog-cli.jar --file $db get key000000500000" \
  "$kvlog --version"
