//! Builds every guest plugin of the workspace (`plugins/*` and `tests/plugins/*`) for
//! `wasm32-wasip2` and tells the crate where the `.wasm` files are.
//!
//! The guests are built by a nested `cargo build` with its own `--target-dir`
//! (`<workspace>/target/wasm-plugins`), as wasmtime's `test-programs/artifacts` does, so the
//! nested cargo never waits for the lock the outer one holds on the main target dir.
//!
//! Outputs (as `cargo:rustc-env`):
//! - `CLIO_BUILTIN_PLUGINS_DIR`: a directory holding only the built-in plugins (`plugins/*`).
//! - `CLIO_TEST_PLUGINS_DIR`: a directory holding only the test guests (`tests/plugins/*`).
//!
//! Set `CLIO_SKIP_PLUGIN_BUILD=1` to skip the nested build (both directories are then empty);
//! useful where the `wasm32-wasip2` target is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let workspace = manifest
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("wasm-plugins");
    let builtin_out = target_dir.join("builtin");
    let test_out = target_dir.join("test");
    for d in [&builtin_out, &test_out] {
        let _ = fs::create_dir_all(d);
    }
    println!(
        "cargo:rustc-env=CLIO_BUILTIN_PLUGINS_DIR={}",
        builtin_out.display()
    );
    println!(
        "cargo:rustc-env=CLIO_TEST_PLUGINS_DIR={}",
        test_out.display()
    );
    println!("cargo:rerun-if-env-changed=CLIO_SKIP_PLUGIN_BUILD");
    println!("cargo:rerun-if-changed={}", workspace.join("wit").display());
    // The guests are built against the SDK: a change there must rebuild them too.
    for dir in ["sdk/src", "sdk/macro/src", "sdk/Cargo.toml", "wit/compat"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }

    // Only the `fn-*` (functions), `policy-*` (retention policies) and `collector-*` crates
    // are built in;
    // `plugins/template-function` is the
    // starting point of the guide, not something to load.
    let builtin: Vec<_> = discover(&workspace.join("plugins"))
        .into_iter()
        .filter(|(name, _)| {
            name.starts_with("fn-") || name.starts_with("policy-") || name.starts_with("collector-")
        })
        .collect();
    let tests = discover(&workspace.join("tests/plugins"));
    for (_, dir) in builtin.iter().chain(tests.iter()) {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    // New plugin directories appear as changes of their parents.
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("plugins").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("tests/plugins").display()
    );
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let embedded = out_dir.join("builtin_plugins.rs");
    if env::var_os("CLIO_SKIP_PLUGIN_BUILD").is_some_and(|v| v != "0") {
        println!("cargo:warning=CLIO_SKIP_PLUGIN_BUILD set: guest plugins not built");
        write_embedded(&embedded, &[], &builtin_out);
        return;
    }
    let all: Vec<&String> = builtin.iter().chain(tests.iter()).map(|(n, _)| n).collect();
    if all.is_empty() {
        write_embedded(&embedded, &[], &builtin_out);
        return;
    }
    ensure_wasm_target();
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .arg("build")
        .arg("--release")
        .arg("--target")
        .arg("wasm32-wasip2")
        .arg("--target-dir")
        .arg(&target_dir);
    for name in &all {
        cmd.arg("-p").arg(name);
    }
    // The outer build's flags and wrappers are for the host target, not for the guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_MAKEFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
        "CLIPPY_ARGS",
        "CLIPPY_CONF_DIR",
        "__CARGO_FIX_PLZ",
    ] {
        cmd.env_remove(var);
    }
    // Small, fast guests: no debug info (the workspace's release profile keeps line tables
    // for the host), one codegen unit, LTO. Smaller files also compile faster in the host.
    cmd.env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
        .env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1");
    if env::var("RUSTC_WRAPPER").is_ok_and(|w| w.contains("clippy")) {
        cmd.env_remove("RUSTC_WRAPPER");
    }
    let status = cmd.status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "building the guest plugins for wasm32-wasip2 failed ({s}); \
             is the target installed (`rustup target add wasm32-wasip2`)? \
             Set CLIO_SKIP_PLUGIN_BUILD=1 to build the host without them"
        ),
        Err(e) => panic!("could not run cargo to build the guest plugins: {e}"),
    }
    let built = target_dir.join("wasm32-wasip2").join("release");
    copy_outputs(&builtin, &built, &builtin_out);
    copy_outputs(&tests, &built, &test_out);
    write_embedded(&embedded, &builtin, &builtin_out);
}

/// Generates `BUILTIN_PLUGINS`: every built-in plugin's bytes, embedded in the binary so an
/// installed `clio` needs no plugin files next to it.
fn write_embedded(out: &Path, crates: &[(String, PathBuf)], dir: &Path) {
    let mut code = String::from("&[\n");
    for (name, _) in crates {
        let file = format!("{}.wasm", name.replace('-', "_"));
        let path = dir.join(&file);
        if path.exists() {
            code.push_str(&format!(
                "    ({file:?}, include_bytes!({:?}) as &[u8]),\n",
                path.display().to_string()
            ));
        }
    }
    code.push_str("]\n");
    if fs::read_to_string(out).ok().as_deref() != Some(code.as_str())
        && let Err(e) = fs::write(out, code)
    {
        panic!("cannot write {}: {e}", out.display());
    }
}

/// Crate names and directories of every `<root>/*/Cargo.toml`, sorted.
fn discover(root: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let Ok(text) = fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        if let Some(name) = package_name(&text) {
            out.push((name, dir));
        }
    }
    out.sort();
    out
}

/// The `name = "..."` of the `[package]` table (a tiny reader, to keep build deps at zero).
fn package_name(toml: &str) -> Option<String> {
    let mut in_package = false;
    for line in toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if in_package && let Some(rest) = line.strip_prefix("name") {
            let rest = rest.trim_start().strip_prefix('=')?.trim();
            return Some(rest.trim_matches('"').to_string());
        }
    }
    None
}

/// Copies `<name>.wasm` (dashes → underscores) of each crate into `out`, replacing only
/// changed files so that file watchers and the compile cache see no spurious changes.
fn copy_outputs(crates: &[(String, PathBuf)], built: &Path, out: &Path) {
    for (name, _) in crates {
        let file = format!("{}.wasm", name.replace('-', "_"));
        let src = built.join(&file);
        let dst = out.join(&file);
        let Ok(bytes) = fs::read(&src) else {
            println!("cargo:warning=guest {name} produced no {file}");
            continue;
        };
        if fs::read(&dst).ok().as_deref() != Some(&bytes[..])
            && let Err(e) = fs::write(&dst, &bytes)
        {
            panic!("cannot write {}: {e}", dst.display());
        }
    }
}

/// Installs the `wasm32-wasip2` standard library through rustup when the toolchain lacks it:
/// rustup does not always install the targets of `rust-toolchain.toml` on first use (for
/// example with `RUSTUP_AUTO_INSTALL=0`), and a fresh machine's first build must still work.
/// Idempotent and cheap when the target is there (one `rustc --print sysroot`).
fn ensure_wasm_target() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(root) = &sysroot
        && root.join("lib/rustlib/wasm32-wasip2").is_dir()
    {
        return;
    }
    println!(
        "cargo:warning=installing the wasm32-wasip2 target through rustup (first build on this machine)"
    );
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", "wasm32-wasip2"]);
    // Inside a build, rustup's proxy names the toolchain in RUSTUP_TOOLCHAIN; keep it so the
    // target goes to the toolchain that builds.
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => println!("cargo:warning=`rustup target add wasm32-wasip2` failed ({s})"),
        Err(e) => println!("cargo:warning=cannot run rustup to add wasm32-wasip2: {e}"),
    }
}
