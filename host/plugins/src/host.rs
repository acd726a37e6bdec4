//! The plugin host: registry snapshots (swapped atomically on reload), calls, sessions,
//! the file watcher.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use clio_core::now_ms;
use clio_storage::{SeriesId, Timestamp};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tracing::{info, warn};
use wasmtime::component::Linker;
use wasmtime::{Engine, Store};

use crate::cache::{load_component, sha256_hex};
use crate::call::{Instance, classify, clip};
use crate::error::PluginError;
use crate::options::{Limits, PluginOptions};
use crate::runtime::{AllocatorKind, Ticks, build_engine, log_engine, start_epoch_ticker};
use crate::sandbox::{CallContext, HostState, new_store};
use crate::worlds::{CollectorPluginPre, FnPre, HousekeepingPolicyPre, Kind, kind_of};

/// What a function returned.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FnValue {
    /// No data (JSON `null`).
    None,
    /// A number.
    Num(f64),
    /// A string.
    Str(String),
}

/// One parameter of a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamInfo {
    /// Its name (what a bad-argument error names).
    pub name: String,
    /// One line for humans.
    pub description: String,
    /// Whether it must be given.
    pub required: bool,
}

/// A loaded function, as `GET /api/v1/functions` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionInfo {
    /// The name callers use.
    pub name: String,
    /// One line for humans.
    pub description: String,
    /// The plugin's own version.
    pub version: String,
    /// Its parameters.
    pub params: Vec<ParamInfo>,
}

/// A plugin file, as `GET /api/v1/plugins` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginStatus {
    /// The function it provides (empty when it never loaded).
    pub name: String,
    /// The world it implements (`history-function`, `housekeeping-policy`).
    pub kind: &'static str,
    /// The contract version it was built against (`0.2.1`, `0.2.0`, `0.1.0`).
    pub contract: &'static str,
    /// The plugin's version (from `describe`).
    pub version: String,
    /// The file.
    pub file: PathBuf,
    /// Whether it came from the built-in directory.
    pub builtin: bool,
    /// sha256 of the file now serving.
    pub sha256: String,
    /// When the serving version was loaded (ms since the epoch).
    pub loaded_at: Timestamp,
    /// Calls answered by this plugin since it was first loaded.
    pub calls: u64,
    /// Calls that failed by the plugin's fault (trap, timeout, memory, bad output).
    pub errors: u64,
    /// The last such failure.
    pub last_error: Option<String>,
    /// Why the file on disk did not load (the previous version, if any, keeps serving).
    pub load_error: Option<String>,
    /// Whether another plugin with the same function name shadows this one.
    pub shadowed: bool,
}

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReloadReport {
    /// Files (re)loaded because they are new or changed.
    pub loaded: Vec<PathBuf>,
    /// Files unchanged since the last load.
    pub unchanged: usize,
    /// Files gone since the last load.
    pub removed: Vec<PathBuf>,
    /// Files that failed to load, and why.
    pub failed: Vec<(PathBuf, String)>,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) calls: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
}

pub(crate) struct Loaded {
    /// For a policy: its name, with no description or parameters.
    pub(crate) info: FunctionInfo,
    pub(crate) kind: Kind,
    path: PathBuf,
    pub(crate) sha: String,
    builtin: bool,
    loaded_at: Timestamp,
    pub(crate) body: Body,
    pub(crate) limits: Limits,
    pub(crate) stats: Arc<Stats>,
}

/// What a loaded component is, ready to instantiate.
pub(crate) enum Body {
    /// A history function.
    Function {
        pre: FnPre,
        /// Instances that answered their last call normally, kept for the next calls.
        idle: Mutex<Vec<Instance>>,
    },
    /// A housekeeping policy (one instance per housekeeper run).
    Policy {
        pre: HousekeepingPolicyPre<HostState>,
    },
    /// A data collector (one instance per configured `[[collectors]]` entry).
    Collector { pre: CollectorPluginPre<HostState> },
}

#[derive(Clone)]
struct FileEntry {
    sha: String,
    builtin: bool,
    plugin: Option<Arc<Loaded>>,
    error: Option<String>,
}

/// An immutable view of every loaded plugin; calls take one and reloads swap it.
#[derive(Default)]
struct Snapshot {
    /// History functions by name.
    by_name: HashMap<String, Arc<Loaded>>,
    /// Housekeeping policies by name.
    policies: HashMap<String, Arc<Loaded>>,
    /// Collector plugins by name.
    collectors: HashMap<String, Arc<Loaded>>,
    files: BTreeMap<PathBuf, FileEntry>,
}

/// What every clone of [`PluginHost`] shares: the wasmtime engine and linker, the current
/// snapshot of loaded plugins, the engine store and the admission counter.
pub(crate) struct HostShared {
    pub(crate) engine: Engine,
    /// The engine's epoch as a counter (import deadlines).
    pub(crate) ticks: Ticks,
    linker: Linker<HostState>,
    allocator: AllocatorKind,
    pub(crate) opts: PluginOptions,
    pub(crate) store: clio_core::Store,
    pub(crate) rt: tokio::runtime::Handle,
    current: RwLock<Arc<Snapshot>>,
    reload_lock: Mutex<()>,
    pub(crate) in_flight: AtomicU32,
    watcher: Mutex<Option<RecommendedWatcher>>,
}

/// The plugin host. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct PluginHost {
    pub(crate) inner: Arc<HostShared>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("allocator", &self.inner.allocator)
            .field("functions", &self.inner.current.read().by_name.len())
            .finish_non_exhaustive()
    }
}

/// Splits ALEPIZ-style parameters: on commas, each trimmed, one level of surrounding quotes
/// removed (`"#10", 1m` → `#10`, `1m`). An empty or blank text gives no parameters.
pub fn split_args(args: &str) -> Vec<String> {
    if args.trim().is_empty() {
        return Vec::new();
    }
    args.split(',')
        .map(|a| {
            let a = a.trim();
            let unq = a
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| a.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')));
            unq.unwrap_or(a).to_string()
        })
        .collect()
}

impl PluginHost {
    /// Starts the host: builds the engine (pooling when possible), loads the built-in and
    /// user plugins, and watches the user directory when asked. Must run inside a tokio
    /// runtime (its handle serves the plugins' reads); it blocks while compiling, so call it
    /// from a blocking context or at start-up.
    pub fn new(opts: PluginOptions, store: clio_core::Store) -> Result<PluginHost, PluginError> {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| PluginError::Setup("the plugin host needs a tokio runtime".into()))?;
        let (engine, allocator) = build_engine(&opts)?;
        let ticks = start_epoch_ticker(&engine)?;
        let linker = crate::linker::build(&engine)?;
        log_engine(allocator);
        let watch = opts.watch && opts.user_dir.is_some();
        let host = PluginHost {
            inner: Arc::new(HostShared {
                engine,
                ticks,
                linker,
                allocator,
                opts,
                store,
                rt,
                current: RwLock::new(Arc::new(Snapshot::default())),
                reload_lock: Mutex::new(()),
                in_flight: AtomicU32::new(0),
                watcher: Mutex::new(None),
            }),
        };
        let report = host.reload();
        info!(
            functions = host.inner.current.read().by_name.len(),
            failed = report.failed.len(),
            "plugins loaded"
        );
        if watch {
            host.start_watching()?;
        }
        Ok(host)
    }

    /// The allocator the engine uses.
    pub fn allocator(&self) -> AllocatorKind {
        self.inner.allocator
    }

    /// Every loaded function, sorted by name.
    pub fn functions(&self) -> Vec<FunctionInfo> {
        let snap = self.inner.current.read().clone();
        let mut out: Vec<FunctionInfo> = snap.by_name.values().map(|p| p.info.clone()).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// One function's description.
    pub fn function(&self, name: &str) -> Option<FunctionInfo> {
        self.inner
            .current
            .read()
            .by_name
            .get(name)
            .map(|p| p.info.clone())
    }

    /// Every plugin file with its status and counters.
    pub fn plugins(&self) -> Vec<PluginStatus> {
        let snap = self.inner.current.read().clone();
        snap.files
            .iter()
            .map(|(path, f)| {
                let p = f.plugin.as_ref();
                let shadowed = p.is_some_and(|p| {
                    let by_name = match p.kind {
                        Kind::Policy(_) => &snap.policies,
                        Kind::Collector(_) => &snap.collectors,
                        _ => &snap.by_name,
                    };
                    by_name.get(&p.info.name).is_none_or(|w| !Arc::ptr_eq(w, p))
                });
                PluginStatus {
                    name: p.map(|p| p.info.name.clone()).unwrap_or_default(),
                    kind: p.map_or("", |p| p.kind.world()),
                    contract: p.map_or("", |p| p.kind.contract()),
                    version: p.map(|p| p.info.version.clone()).unwrap_or_default(),
                    file: path.clone(),
                    builtin: f.builtin,
                    sha256: p.map(|p| p.sha.clone()).unwrap_or_default(),
                    loaded_at: p.map_or(0, |p| p.loaded_at),
                    calls: p.map_or(0, |p| p.stats.calls.load(Ordering::Relaxed)),
                    errors: p.map_or(0, |p| p.stats.errors.load(Ordering::Relaxed)),
                    last_error: p.and_then(|p| p.stats.last_error.lock().clone()),
                    load_error: f.error.clone(),
                    shadowed,
                }
            })
            .collect()
    }

    /// Rescans the plugin directories: new or changed files are loaded, gone ones dropped,
    /// and the new set is swapped in at once. A file that fails to load leaves its previous
    /// version (if any) serving. Blocking (it compiles); from async code use
    /// [`PluginHost::reload_async`].
    pub fn reload(&self) -> ReloadReport {
        let inner = &*self.inner;
        let _serial = inner.reload_lock.lock();
        let old = inner.current.read().clone();
        let mut report = ReloadReport::default();
        let steps = read_sources(self.plugin_sources(), &old, &mut report);
        let compiled = self.compile_changed(&steps, &old);
        let snapshot = assemble(steps, compiled, &old, &mut report);
        *inner.current.write() = Arc::new(snapshot);
        report
    }

    /// Every plugin file: built-ins first, then user plugins (a user plugin of the same name
    /// wins), as `(path, built in, bytes held in memory)`.
    fn plugin_sources(&self) -> Vec<(PathBuf, bool, Option<&'static [u8]>)> {
        let opts = &self.inner.opts;
        let mut sources: Vec<(PathBuf, bool, Option<&'static [u8]>)> = opts
            .builtin
            .iter()
            .map(|(name, bytes)| (PathBuf::from(format!("builtin/{name}")), true, Some(*bytes)))
            .collect();
        for (dir, builtin) in [
            (opts.builtin_dir.as_deref(), true),
            (opts.user_dir.as_deref(), false),
        ] {
            if let Some(dir) = dir {
                sources.extend(wasm_files(dir).into_iter().map(|p| (p, builtin, None)));
            }
        }
        sources
    }

    /// Compiles the new and changed files on every core (start-up loads a few dozen); the
    /// answer is keyed by position in `steps`.
    fn compile_changed(
        &self,
        steps: &[(PathBuf, bool, Step)],
        old: &Snapshot,
    ) -> HashMap<usize, Result<Loaded, String>> {
        let jobs: Vec<usize> = (0..steps.len())
            .filter(|&i| matches!(steps[i].2, Step::Load(..)))
            .collect();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(jobs.len())
            .max(1);
        let mut results: HashMap<usize, Result<Loaded, String>> = HashMap::new();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let jobs = &jobs;
                    scope.spawn(move || {
                        jobs.iter()
                            .skip(t)
                            .step_by(threads)
                            .filter_map(|&i| {
                                let (path, builtin, step) = &steps[i];
                                let Step::Load(bytes, sha) = step else {
                                    return None;
                                };
                                let prev = old.files.get(path);
                                Some((i, self.load(path, bytes, sha, *builtin, prev)))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in handles {
                match h.join() {
                    Ok(v) => results.extend(v),
                    Err(_) => warn!("a plugin loader thread panicked"),
                }
            }
        });
        results
    }

    /// [`PluginHost::reload`] on a blocking thread.
    pub async fn reload_async(&self) -> ReloadReport {
        let host = self.clone();
        tokio::task::spawn_blocking(move || host.reload())
            .await
            .unwrap_or_default()
    }

    fn load(
        &self,
        path: &Path,
        bytes: &[u8],
        sha: &str,
        builtin: bool,
        prev: Option<&FileEntry>,
    ) -> Result<Loaded, String> {
        let inner = &*self.inner;
        let component = load_component(&inner.engine, inner.opts.cache_dir.as_deref(), bytes, sha)?;
        let kind = kind_of(&inner.engine, &component)?;
        let pre = inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| format!("{e:#}"))?;
        let ctx = CallContext {
            engine: inner.store.clone(),
            rt: inner.rt.clone(),
            series: SeriesId(0),
            now: now_ms(),
            reads_allowed: false,
            access: None,
        };
        let limits = inner.opts.limits.clone();
        let mut store =
            new_store(&inner.engine, &inner.ticks, ctx, &limits).map_err(|e| e.to_string())?;
        let file = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let fault = |e: wasmtime::Error, store: &Store<HostState>| {
            classify(&e, store.data(), &file, &limits).to_string()
        };
        let (info, body) = match kind {
            Kind::Policy(_) => {
                let pre = HousekeepingPolicyPre::new(pre)
                    .map_err(|e| format!("not a housekeeping-policy plugin: {e:#}"))?;
                let bindings = pre.instantiate(&mut store).map_err(|e| fault(e, &store))?;
                let name = bindings
                    .clio_plugin_policy()
                    .call_name(&mut store)
                    .map_err(|e| fault(e, &store))?;
                check_name(&name)?;
                let info = FunctionInfo {
                    name,
                    description: String::new(),
                    version: String::new(),
                    params: Vec::new(),
                };
                (info, Body::Policy { pre })
            }
            Kind::Collector(_) => {
                let pre = CollectorPluginPre::new(pre)
                    .map_err(|e| format!("not a collector-plugin plugin: {e:#}"))?;
                let bindings = pre.instantiate(&mut store).map_err(|e| fault(e, &store))?;
                let name = bindings
                    .clio_plugin_collector()
                    .call_name(&mut store)
                    .map_err(|e| fault(e, &store))?;
                check_name(&name)?;
                let info = FunctionInfo {
                    name,
                    description: String::new(),
                    version: String::new(),
                    params: Vec::new(),
                };
                (info, Body::Collector { pre })
            }
            Kind::Function(_) | Kind::FunctionV0_1 => {
                let pre = FnPre::new(kind, pre)
                    .map_err(|e| format!("not a history-function plugin: {e:#}"))?;
                let bindings = pre.instantiate(&mut store).map_err(|e| fault(e, &store))?;
                let d = bindings
                    .describe(&mut store)
                    .map_err(|e| fault(e, &store))?;
                check_name(&d.name)?;
                let info = FunctionInfo {
                    name: d.name,
                    description: clip(d.description),
                    version: clip(d.version),
                    params: d
                        .params
                        .into_iter()
                        .map(|(name, description, required)| ParamInfo {
                            name: clip(name),
                            description: clip(description),
                            required,
                        })
                        .collect(),
                };
                let body = Body::Function {
                    pre,
                    idle: Mutex::new(Vec::new()),
                };
                (info, body)
            }
        };
        let stats = prev
            .and_then(|p| p.plugin.as_ref())
            .map(|p| Arc::clone(&p.stats))
            .unwrap_or_default();
        Ok(Loaded {
            limits: inner.opts.limits_for(&info.name).clone(),
            info,
            kind,
            path: path.to_path_buf(),
            sha: sha.to_string(),
            builtin,
            loaded_at: now_ms(),
            body,
            stats,
        })
    }

    /// Drops every idle instance (the pooling allocator is full, possibly of them).
    pub(crate) fn free_idle(&self) {
        for p in self.inner.current.read().by_name.values() {
            if let Body::Function { idle, .. } = &p.body {
                idle.lock().clear();
            }
        }
    }

    /// The loaded plugin of `function`. The series is not checked: a series that was never
    /// written is evaluated as an empty one (semantics.md 1: `nodata(5m)` on a silent sensor
    /// answers 1).
    pub(crate) fn lookup(&self, function: &str) -> Result<Arc<Loaded>, PluginError> {
        let plugin = self
            .inner
            .current
            .read()
            .by_name
            .get(function)
            .cloned()
            .ok_or_else(|| PluginError::UnknownFunction(function.to_string()))?;
        Ok(plugin)
    }

    /// The policy plugin `name` now serving, if any.
    pub(crate) fn policy_plugin(&self, name: &str) -> Option<Arc<Loaded>> {
        self.inner.current.read().policies.get(name).cloned()
    }

    /// The collector plugin `name` now serving, if any.
    pub(crate) fn collector_plugin(&self, name: &str) -> Option<Arc<Loaded>> {
        self.inner.current.read().collectors.get(name).cloned()
    }

    /// Names of the loaded collector plugins, sorted.
    pub fn collector_plugins(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .inner
            .current
            .read()
            .collectors
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// Names of the loaded policy plugins, sorted.
    pub fn policies(&self) -> Vec<String> {
        let mut v: Vec<String> = self.inner.current.read().policies.keys().cloned().collect();
        v.sort();
        v
    }

    /// Watches the user plugin directory: a changed, new or removed `.wasm` triggers a
    /// reload about 30 ms later (writes come in bursts).
    pub fn start_watching(&self) -> Result<(), PluginError> {
        let Some(dir) = self.inner.opts.user_dir.clone() else {
            return Ok(());
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| PluginError::Setup(format!("{}: {e}", dir.display())))?;
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res
                && ev
                    .paths
                    .iter()
                    .any(|p| p.extension().is_some_and(|e| e == "wasm"))
            {
                let _ = tx.send(());
            }
        })
        .map_err(|e| PluginError::Setup(format!("file watcher: {e}")))?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|e| PluginError::Setup(format!("watching {}: {e}", dir.display())))?;
        *self.inner.watcher.lock() = Some(watcher);
        let weak: Weak<HostShared> = Arc::downgrade(&self.inner);
        std::thread::Builder::new()
            .name("clio-plugin-watch".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    std::thread::sleep(Duration::from_millis(30));
                    while rx.try_recv().is_ok() {}
                    let Some(inner) = weak.upgrade() else { break };
                    let report = PluginHost { inner }.reload();
                    if !report.loaded.is_empty() || !report.removed.is_empty() {
                        info!(
                            loaded = report.loaded.len(),
                            removed = report.removed.len(),
                            failed = report.failed.len(),
                            "plugins reloaded after a file change"
                        );
                    }
                }
            })
            .map_err(|e| PluginError::Setup(format!("watch thread: {e}")))?;
        info!(dir = %dir.display(), "watching the plugin directory");
        Ok(())
    }
}

/// A name a plugin gave itself must be usable in URLs and config.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(format!("invalid plugin name `{}`", clip(name.to_string())));
    }
    Ok(())
}

fn wasm_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    v.sort();
    v
}

/// What a reload does with one file.
enum Step {
    /// Unchanged (or unreadable with a previous version serving): keep the entry.
    Keep(FileEntry),
    /// New or changed: compile these bytes (with their sha256).
    Load(Vec<u8>, String),
}

/// Reads and hashes every source; unchanged files are kept, new and changed ones marked for
/// loading, unreadable ones reported (their previous version keeps serving).
fn read_sources(
    sources: Vec<(PathBuf, bool, Option<&'static [u8]>)>,
    old: &Snapshot,
    report: &mut ReloadReport,
) -> Vec<(PathBuf, bool, Step)> {
    let mut steps = Vec::with_capacity(sources.len());
    for (path, builtin, in_memory) in sources {
        let prev = old.files.get(&path);
        let read = match in_memory {
            Some(b) => Ok(b.to_vec()),
            None => std::fs::read(&path),
        };
        match read {
            Err(e) => {
                // Being replaced right now, most likely: keep what serves.
                let reason = format!("cannot read: {e}");
                report.failed.push((path.clone(), reason.clone()));
                if let Some(p) = prev {
                    let entry = FileEntry {
                        error: Some(reason),
                        ..p.clone()
                    };
                    steps.push((path, builtin, Step::Keep(entry)));
                }
            }
            Ok(bytes) => {
                let sha = sha256_hex(&bytes);
                match prev {
                    Some(p) if p.sha == sha => {
                        report.unchanged += 1;
                        steps.push((path, builtin, Step::Keep(p.clone())));
                    }
                    _ => steps.push((path, builtin, Step::Load(bytes, sha))),
                }
            }
        }
    }
    steps
}

/// The new snapshot from the steps and what compiled: a file that failed keeps its previous
/// plugin; later files win a name; removed files are reported.
fn assemble(
    steps: Vec<(PathBuf, bool, Step)>,
    mut compiled: HashMap<usize, Result<Loaded, String>>,
    old: &Snapshot,
    report: &mut ReloadReport,
) -> Snapshot {
    let mut files = BTreeMap::new();
    let mut by_name: HashMap<String, Arc<Loaded>> = HashMap::new();
    let mut policies: HashMap<String, Arc<Loaded>> = HashMap::new();
    let mut collectors: HashMap<String, Arc<Loaded>> = HashMap::new();
    for (i, (path, builtin, step)) in steps.into_iter().enumerate() {
        let prev = old.files.get(&path);
        let entry = match step {
            Step::Keep(e) => e,
            Step::Load(_, sha) => match compiled.remove(&i) {
                Some(Ok(loaded)) => {
                    info!(file = %path.display(), function = %loaded.info.name, version = %loaded.info.version, "plugin loaded");
                    report.loaded.push(path.clone());
                    FileEntry {
                        sha,
                        builtin,
                        plugin: Some(Arc::new(loaded)),
                        error: None,
                    }
                }
                other => {
                    let reason = match other {
                        Some(Err(r)) => r,
                        _ => "the loader failed".to_string(),
                    };
                    warn!(file = %path.display(), reason = %reason, "plugin failed to load; the previous version (if any) keeps serving");
                    report.failed.push((path.clone(), reason.clone()));
                    FileEntry {
                        sha,
                        builtin,
                        plugin: prev.and_then(|p| p.plugin.clone()),
                        error: Some(reason),
                    }
                }
            },
        };
        if let Some(p) = &entry.plugin {
            let names = match p.kind {
                Kind::Policy(_) => &mut policies,
                Kind::Collector(_) => &mut collectors,
                _ => &mut by_name,
            };
            if let Some(other) = names.get(&p.info.name)
                && other.builtin == builtin
            {
                warn!(name = %p.info.name, a = %other.path.display(), b = %path.display(), "two plugins provide the same name; the later file wins");
            }
            names.insert(p.info.name.clone(), Arc::clone(p));
        }
        files.insert(path, entry);
    }
    for path in old.files.keys() {
        if !files.contains_key(path) {
            info!(file = %path.display(), "plugin removed");
            report.removed.push(path.clone());
        }
    }
    Snapshot {
        by_name,
        policies,
        collectors,
        files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_is_shareable_across_threads() {
        fn f<T: Send + Sync>() {}
        f::<PluginHost>();
    }
}
