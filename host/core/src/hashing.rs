//! The hasher of the engine's in-memory maps (cache shards, catalog, key indexes).
//!
//! std's SipHash took ~10 % of the server's time at full ingest (issue #25): every point
//! hashes its series id to find its cache shard and entry, and every keyed point hashes its
//! key. foldhash is several times faster on such short keys and, being seeded at random per
//! process, still keeps a client from choosing keys that all land in one bucket ahead of time.

/// A randomly seeded foldhash state.
pub(crate) type FastState = foldhash::fast::RandomState;

/// A `HashMap` with [`FastState`].
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, FastState>;

/// A `HashSet` with [`FastState`].
pub(crate) type FastSet<K> = std::collections::HashSet<K, FastState>;
