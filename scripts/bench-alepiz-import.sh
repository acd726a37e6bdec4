#!/usr/bin/env bash
# Builds an ALEPIZ history file with ALEPIZ's schema (ROWS rows over OBJECTS objects, one value a
# minute, noisy 2-decimal numbers, every 50th object text) and times `clio import --alepiz` on it.
# Usage: scripts/bench-alepiz-import.sh [ROWS] [OBJECTS]   (defaults 10000000 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-10000000}
OBJECTS=${2:-1000}
WORK=$(mktemp -d /tmp/clio-alepiz-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cargo build --release -p clio >/dev/null
python3 - "$WORK/history.db" "$ROWS" "$OBJECTS" <<'PY'
import random, sqlite3, sys
path, rows, objects = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = sqlite3.connect(path)
c.executescript("""
PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;
CREATE TABLE objects (id INTEGER PRIMARY KEY, type INTEGER, cachedRecords INTEGER, trends TEXT);
CREATE TABLE numbers (id INTEGER PRIMARY KEY AUTOINCREMENT, objectID INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE ON UPDATE CASCADE, timestamp INTEGER NOT NULL, data REAL NOT NULL);
CREATE INDEX numbers_objectID_timestamp_index ON numbers (objectID, timestamp);
CREATE TABLE strings (id INTEGER PRIMARY KEY AUTOINCREMENT, objectID INTEGER NOT NULL REFERENCES objects(id) ON DELETE CASCADE ON UPDATE CASCADE, timestamp INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX strings_objectID_timestamp_index ON strings (objectID, timestamp);
CREATE TABLE trends10min (id INTEGER PRIMARY KEY AUTOINCREMENT, objectID INTEGER NOT NULL, timestamp INTEGER NOT NULL, data REAL NOT NULL);
""")
c.executemany("INSERT INTO objects (id, type, cachedRecords) VALUES (?, 0, 10)", ((i,) for i in range(1, objects + 1)))
per = rows // objects
t0 = 1_700_000_000_000
rnd = random.Random(7)
# Interleaved by time, as ALEPIZ's flush writes them.
def gen(text):
    for k in range(per):
        for o in range(1, objects + 1):
            if (o % 50 == 0) == text:
                yield (o, t0 + k * 60_000 + o, f"state {rnd.randrange(5)}" if text else round(20 + rnd.random() * 10, 2))
c.executemany("INSERT INTO numbers (objectID, timestamp, data) VALUES (?, ?, ?)", gen(False))
c.executemany("INSERT INTO strings (objectID, timestamp, data) VALUES (?, ?, ?)", gen(True))
c.commit()
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
PY
ls -l "$WORK/history.db"
/usr/bin/time -f "import: %e s wall, %M KiB max resident" target/release/clio import --db "$WORK/clio/clio.db" --alepiz "$WORK/history.db" 2>&1
