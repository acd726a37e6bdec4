//! The storage backend registry: the composition root's map from a backend `type` in
//! `[[storage.backends]]` to the code that opens it. `clio-config` and `clio-server` name no
//! backend; the `clio` binary builds its [`Topology`] here.
#![deny(missing_docs)]

mod influxdb;
mod postgres;
mod sqlite;

use std::path::PathBuf;

use std::collections::BTreeMap;

use clio_config::{Config, ResolvedBackend};
use clio_core::{BackendSpec, Topology};

/// Why the backends could not be built from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No backend of this type is built into this binary.
    #[error("storage backend `{name}`: type `{kind}` is not available (available: {available})")]
    UnknownType {
        /// The entry's name.
        name: String,
        /// The type asked for.
        kind: String,
        /// The types there are.
        available: String,
    },
    /// The entry's keys are wrong for its type.
    #[error("storage backend `{name}` ({kind}): {detail}")]
    Invalid {
        /// The entry's name.
        name: String,
        /// Its type.
        kind: String,
        /// What is wrong.
        detail: String,
    },
}

/// Builds a backend spec from its configuration entry.
pub type Factory = fn(&ResolvedBackend, &Config) -> Result<BackendSpec, RegistryError>;

/// Backend types by name.
#[derive(Debug, Clone)]
pub struct Registry {
    factories: BTreeMap<&'static str, Factory>,
}

impl Registry {
    /// The backends built into this binary.
    pub fn builtin() -> Self {
        let mut r = Registry {
            factories: BTreeMap::new(),
        };
        r.register("sqlite", sqlite::factory);
        r.register("influxdb", influxdb::factory);
        r.register("postgres", postgres::factory);
        r
    }

    /// Adds (or replaces) a backend type.
    pub fn register(&mut self, kind: &'static str, factory: Factory) {
        self.factories.insert(kind, factory);
    }

    /// The type names, sorted.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.factories.keys().copied().collect()
    }

    /// The primary and replicas the configuration describes. Nothing is opened yet: the
    /// engine opens them, and keeps retrying one that is down.
    pub fn topology(&self, config: &Config) -> Result<Topology, RegistryError> {
        let mut specs = Vec::new();
        for b in config.storage_backends() {
            let factory = self.factories.get(b.config.kind.as_str()).ok_or_else(|| {
                RegistryError::UnknownType {
                    name: b.config.name.clone(),
                    kind: b.config.kind.clone(),
                    available: self.kinds().join(", "),
                }
            })?;
            specs.push(factory(&b, config)?);
        }
        let mut specs = specs.into_iter();
        let Some(primary) = specs.next() else {
            return Err(RegistryError::Invalid {
                name: String::new(),
                kind: String::new(),
                detail: "no storage backend configured".into(),
            });
        };
        let (read_failover, replica_max_log_bytes, lag_warn) = config.replication();
        Ok(Topology {
            primary,
            replicas: specs.collect(),
            read_failover,
            replica_max_log_bytes,
            lag_warn,
        })
    }
}

/// One secret from at most one of its three sources: the value, an environment variable or
/// a file (its content without the trailing line break).
pub(crate) fn secret(
    what: &str,
    value: &Option<String>,
    env: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<String>, String> {
    match (value, env, file) {
        (None, None, None) => Ok(None),
        (Some(v), None, None) => Ok(Some(v.clone())),
        (None, Some(var), None) => std::env::var(var)
            .map(Some)
            .map_err(|_| format!("{what}_env: environment variable `{var}` is not set")),
        (None, None, Some(path)) => std::fs::read_to_string(path)
            .map(|s| Some(s.trim_end_matches(['\r', '\n']).to_owned()))
            .map_err(|e| format!("{what}_file `{}`: {e}", path.display())),
        _ => Err(format!(
            "give one of {what}, {what}_env and {what}_file, not several"
        )),
    }
}

/// Parses an entry's own keys into the type's settings (unknown keys are errors).
pub fn settings<T: serde::de::DeserializeOwned>(b: &ResolvedBackend) -> Result<T, RegistryError> {
    toml::Value::Table(b.config.settings.clone())
        .try_into()
        .map_err(|e: toml::de::Error| invalid(b, e.message().to_string()))
}

/// The entry `b` is invalid for `detail`.
pub(crate) fn invalid(b: &ResolvedBackend, detail: String) -> RegistryError {
    RegistryError::Invalid {
        name: b.config.name.clone(),
        kind: b.config.kind.clone(),
        detail,
    }
}

/// The spec of entry `b` of type `kind`: each (re)open calls `open` with a copy of `opts`.
/// A database server's backend opens asynchronously (connects, migrates); this wraps it into
/// the engine's [`clio_core::Opener`].
pub(crate) fn async_spec<O, B, F, Fut>(
    b: &ResolvedBackend,
    kind: &str,
    opts: O,
    open: F,
) -> BackendSpec
where
    O: Clone + Send + Sync + 'static,
    B: clio_storage::StorageBackend + 'static,
    F: Fn(O) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<B, clio_storage::StorageError>> + Send + 'static,
{
    let open = std::sync::Arc::new(open);
    BackendSpec {
        name: b.config.name.clone(),
        kind: kind.into(),
        open: std::sync::Arc::new(move || {
            let (opts, open) = (opts.clone(), std::sync::Arc::clone(&open));
            Box::pin(async move {
                let b = open(opts).await?;
                Ok(std::sync::Arc::new(b) as std::sync::Arc<dyn clio_storage::StorageBackend>)
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_and_keys_are_named() {
        let cfg = Config::from_toml("[[storage.backends]]\nname = \"a\"\ntype = \"mysql\"\n")
            .expect("valid config");
        let e = Registry::builtin().topology(&cfg).expect_err("mysql");
        assert!(
            e.to_string().contains("mysql")
                && e.to_string().contains("sqlite")
                && e.to_string().contains("influxdb"),
            "{e}"
        );
        let cfg = Config::from_toml(
            "[[storage.backends]]\nname = \"a\"\ntype = \"sqlite\"\nfiel = \"x.db\"\n",
        )
        .expect("valid config");
        let e = Registry::builtin().topology(&cfg).expect_err("typo");
        assert!(e.to_string().contains("fiel"), "{e}");
    }

    #[test]
    fn the_first_is_primary_unless_one_says_so() {
        let two = "[[storage.backends]]\nname = \"a\"\ntype = \"sqlite\"\n\
                   [[storage.backends]]\nname = \"b\"\ntype = \"sqlite\"\nfile = \"b.db\"\n";
        let t = Registry::builtin()
            .topology(&Config::from_toml(two).expect("config"))
            .expect("topology");
        assert_eq!(t.primary.name, "a");
        assert_eq!(t.replicas.len(), 1);
        let t = Registry::builtin()
            .topology(&Config::from_toml(&format!("{two}role = \"primary\"\n")).expect("config"))
            .expect("topology");
        assert_eq!(t.primary.name, "b");
        assert_eq!(t.replicas[0].name, "a");
        // The legacy single-backend form still works.
        let t = Registry::builtin()
            .topology(&Config::from_toml("[storage.sqlite]\nfile = \"x.db\"\n").expect("config"))
            .expect("topology");
        assert_eq!((t.primary.name.as_str(), t.replicas.len()), ("main", 0));
    }
}
