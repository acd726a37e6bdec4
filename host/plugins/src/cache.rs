//! On-disk cache of precompiled components, keyed by the `.wasm` file's sha256 and the
//! engine's compatibility hash, so a restart or a reload of an unchanged file skips Cranelift.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tracing::{debug, warn};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn compat_hash(engine: &Engine) -> u64 {
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    h.finish()
}

/// The cache file of one component.
pub(crate) fn cache_path(dir: &Path, engine: &Engine, sha: &str) -> PathBuf {
    dir.join(format!("{sha}-{:016x}.cwasm", compat_hash(engine)))
}

/// Compiles `bytes`, through the cache when there is one.
pub(crate) fn load_component(
    engine: &Engine,
    cache_dir: Option<&Path>,
    bytes: &[u8],
    sha: &str,
) -> Result<Component, String> {
    let Some(dir) = cache_dir else {
        return Component::new(engine, bytes).map_err(|e| format!("{e:#}"));
    };
    let path = cache_path(dir, engine, sha);
    if path.exists() {
        // SAFETY: the cache directory is private to this process's data directory and
        // every file in it was written below by `precompile_component` of an engine with
        // the same compatibility hash (it is in the name); deserialize also checks the
        // wasmtime version and configuration and errors on a mismatch.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => {
                debug!(path = %path.display(), "plugin loaded from the compile cache");
                return Ok(c);
            }
            Err(e) => {
                warn!(path = %path.display(), error = %e, "unusable compile cache entry; recompiling");
                let _ = fs::remove_file(&path);
            }
        }
    }
    let compiled = engine
        .precompile_component(bytes)
        .map_err(|e| format!("{e:#}"))?;
    if let Err(e) = fs::create_dir_all(dir).and_then(|()| {
        // Write then rename: a reader never sees half a file.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        fs::write(&tmp, &compiled)?;
        fs::rename(&tmp, &path)
    }) {
        warn!(dir = %dir.display(), error = %e, "cannot write the plugin compile cache");
    }
    // SAFETY: `compiled` was produced just now by this engine's `precompile_component`.
    unsafe { Component::deserialize(engine, &compiled) }.map_err(|e| format!("{e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_is_hex_of_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
