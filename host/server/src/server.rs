//! Starting and stopping the whole server: storage, engine, HTTP and TCP listeners, and the
//! graceful shutdown order (stop accepting, finish in-flight requests, flush, close the log).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clio_config::Config;
use clio_core::{Store, Topology};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// Where HTTP listens (after binding, so port 0 shows the real port).
    pub http_addr: Option<SocketAddr>,
    /// Where TCP listens.
    pub tcp_addr: Option<SocketAddr>,
    state: AppState,
    /// The engine, closed at shutdown (the composition root's; handlers reach it only
    /// through the door).
    store: Store,
    tasks: Vec<JoinHandle<()>>,
}

/// Opens the engine over `topology` (built from the configuration by the composition root's
/// backend registry; replaying the log), binds the listeners and starts serving.
pub async fn start(config: Config, topology: Topology) -> Result<Running> {
    config.validate()?;
    let mut engine_options = config.engine_options();
    engine_options.keys = std::sync::Arc::new(config.storage.data_keys()?);
    let (store, replay) = Store::open_topology(engine_options, topology)
        .await
        .context("cannot start the engine")?;
    tracing::info!(?replay, "engine open");
    let shutdown = CancellationToken::new();
    let auth = crate::auth::Authenticator::new(&config).context("cannot read the token store")?;
    if auth.enabled() {
        tracing::info!(path = %auth.path().display(), "authentication on");
    }
    let mut jwks_task = None;
    if let Some(jwt) = auth.jwt().filter(|j| j.fetches()) {
        // The first tokens need keys; an unreachable issuer does not stop the start (its
        // tokens are refused, with that reason, until a fetch succeeds).
        if let Err(e) = jwt.fetch_now().await {
            tracing::warn!(error = %e, "cannot fetch the JWKS yet; JWTs are refused until it loads");
        }
        jwks_task = Some(tokio::spawn(jwt.clone().run_refresh(shutdown.clone())));
    }
    let state = AppState::with_auth(store.clone(), config.clone(), shutdown.clone(), auth);
    let mut glass_partitions = None;
    if config.glass.enabled {
        let glass = crate::glass_target(&config)?;
        let glass = clio_glass::Glass::open(&glass)
            .await
            .context("cannot open the Glass AI tables ([glass])")?
            .with_images(clio_glass::images::ImageOptions {
                dir: config.data_dir.join("images"),
                max_bytes: config.glass.images.max_bytes,
            })
            .context("cannot set up the camera images ([glass.images])")?;
        state.set_glass(glass.clone());
        glass_partitions = Some(glass);
    }
    let glass_for_jobs = glass_partitions.clone();
    let mut plugin_host = None;
    if config.plugins.enabled {
        let opts = plugin_options(&config);
        let store = store.clone();
        // Compiling the plugins blocks (Cranelift, or the on-disk cache).
        let host = tokio::task::spawn_blocking(move || clio_plugins::PluginHost::new(opts, store))
            .await
            .context("plugin host start-up task failed")?
            .context("cannot start the plugin host")?;
        tracing::info!(
            functions = host.functions().len(),
            allocator = host.allocator().as_str(),
            "history functions ready"
        );
        plugin_host = Some(host.clone());
        state.set_plugins(host.clone());
        let specs = collector_specs(&config)?;
        let observer = Arc::new(crate::metrics::CollectorMetrics(state.clone()));
        state.set_collectors(clio_plugins::Collectors::start(
            host,
            specs,
            observer,
            shutdown.clone(),
        ));
    }
    let mut tasks: Vec<JoinHandle<()>> = jwks_task.into_iter().collect();
    if let Some(glass) = glass_partitions {
        let images = glass.images().ok();
        // New time partitions (PostgreSQL) keep being made while the server runs, not only at
        // start-up: every 6 hours, well within one partition's span.
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(6 * 3600)) => {}
                }
                if let Err(e) = glass.ensure_partitions().await {
                    tracing::warn!(error = %e, "glass partitions not made");
                }
            }
        }));
        if let Some(images) = images {
            tasks.push(tokio::spawn(crate::http::images_retention(
                images,
                config.glass.images.clone(),
                shutdown.clone(),
            )));
        }
    }
    if config.housekeeper.enabled {
        let housekeeper_config = &config.housekeeper;
        let name = &housekeeper_config.policy;
        let policy: Arc<dyn clio_housekeeper::RetentionPolicy> = match plugin_host.as_ref() {
            Some(host) if host.policies().contains(name) => {
                Arc::new(clio_plugins::WasmPolicy::new(
                    host.clone(),
                    name,
                    housekeeper_config.policy_config_json(),
                ))
            }
            host => match housekeeper_config.native_policy() {
                // No such plugin (built-ins off, or the plugin host disabled): the native
                // twin of a built-in policy decides the same.
                Some(native) => {
                    tracing::warn!(policy = %name, "no policy plugin of this name is loaded; using the native one");
                    native
                }
                None => anyhow::bail!(
                    "housekeeper.policy `{name}`: no such policy plugin is loaded (loaded: {})",
                    host.map(|h| h.policies().join(", "))
                        .filter(|l| !l.is_empty())
                        .unwrap_or_else(|| "none".into())
                ),
            },
        };
        let housekeeper = clio_housekeeper::Housekeeper::new(
            store.clone(),
            policy,
            config.housekeeper.options(),
            config.data_dir.join("housekeeper.json"),
        );
        if let (Some(glass), true) = (&glass_for_jobs, config.glass.zombies.follow_sensors) {
            let zombies =
                crate::glass_jobs::zombies::SensorZombies::new(store.clone(), glass.clone());
            housekeeper.set_zombie_source(zombies.clone().source());
            let every =
                std::time::Duration::from_millis(config.glass.zombies.sync_every_ms() as u64);
            tasks.push(tokio::spawn(zombies.run(every, shutdown.clone())));
        }
        tasks.push(housekeeper.spawn(shutdown.clone()));
        state.set_housekeeper(housekeeper);
    } else if config.glass.zombies.follow_sensors {
        tracing::warn!(
            "glass.zombies.follow_sensors is set but the housekeeper is disabled: no zombie is removed"
        );
    }
    if let (Some(glass), true) = (glass_for_jobs, config.glass.quality.enabled) {
        let schedule = crate::glass_jobs::quality::QualitySchedule::new(
            glass,
            &config.glass.quality,
            state.metrics().glass_quality.clone(),
        );
        tasks.push(tokio::spawn(schedule.run(shutdown.clone())));
    }

    if config.alerts.enabled {
        let (alerts, alert_tasks) = crate::alerts::AlertEngine::start(
            &config.alerts,
            config.data_dir.clone(),
            store.clone(),
            plugin_host.clone(),
            state.metrics().alerts.clone(),
            shutdown.clone(),
        )
        .map_err(|e| anyhow::anyhow!("cannot start alerts: {e}"))?;
        tasks.extend(alert_tasks);
        state.set_alerts(alerts);
    }

    if config.backup.warn_after_hours > 0 {
        tasks.push(tokio::spawn(crate::backup::warn_when_stale(
            state.clone(),
            Duration::from_secs(config.backup.warn_after_hours * 3600),
            shutdown.clone(),
        )));
    }

    let tls = if config.tls.enabled() {
        let t = crate::tls::Tls::load(
            std::path::Path::new(&config.tls.cert_file),
            std::path::Path::new(&config.tls.key_file),
        )?;
        tasks.push(tokio::spawn(Arc::clone(&t).watch(
            Duration::from_secs(config.tls.reload_sec),
            shutdown.clone(),
        )));
        tracing::info!(http = config.tls.http, tcp = config.tls.tcp, "TLS on");
        Some(t)
    } else {
        None
    };
    // The cache's warm-up started with the engine and ran beside the start-up so far; the
    // first clients find the series they read before the restart in memory.
    let wait = Duration::from_secs(config.cache.warm_up_wait_seconds);
    if !store.warmed(wait).await {
        tracing::info!(
            waited_seconds = config.cache.warm_up_wait_seconds,
            "serving while the cache's warm-up goes on"
        );
    }
    let mut http_addr = None;
    if !config.server.http_address.is_empty() {
        let listener = TcpListener::bind(&config.server.http_address)
            .await
            .with_context(|| format!("cannot listen for HTTP on {}", config.server.http_address))?;
        http_addr = Some(listener.local_addr()?);
        let app = crate::http::router(state.clone());
        tasks.push(tokio::spawn(crate::http::serve::serve(
            listener,
            app,
            state.clone(),
            shutdown.clone(),
            tls.clone().filter(|_| config.tls.http),
        )));
    }
    let mut tcp_addr = None;
    if !config.server.tcp_address.is_empty() {
        let listener = TcpListener::bind(&config.server.tcp_address)
            .await
            .with_context(|| format!("cannot listen for TCP on {}", config.server.tcp_address))?;
        tcp_addr = Some(listener.local_addr()?);
        let st = state.clone();
        let opts = crate::tcp::TcpOptions {
            tls: tls.clone().filter(|_| config.tls.tcp),
            ..Default::default()
        };
        tasks.push(tokio::spawn(crate::tcp::serve_with(listener, st, opts)));
    }
    tracing::info!(http = ?http_addr, tcp = ?tcp_addr, "clio serving");
    Ok(Running {
        http_addr,
        tcp_addr,
        state,
        store,
        tasks,
    })
}

/// The collector instances of `[[collectors]]` (already validated).
pub fn collector_specs(config: &Config) -> Result<Vec<clio_plugins::CollectorSpec>> {
    let mut out = Vec::new();
    for c in &config.collectors {
        let bad = |e: String| anyhow::anyhow!("collectors `{}`: {e}", c.name);
        out.push(clio_plugins::CollectorSpec {
            name: c.name.clone(),
            plugin: c.plugin.clone(),
            schedule: c.schedule().map_err(bad)?,
            http_hosts: c.http_grants().map_err(bad)?,
            tcp: c.tcp_grants().map_err(bad)?,
            config_json: c.config_json(),
            timeout: Duration::from_millis(c.timeout_ms),
            memory_bytes: c
                .memory_mb
                .unwrap_or(config.plugins.memory_mb)
                .saturating_mul(1 << 20),
            max_points: c.max_points,
            enabled: c.enabled,
        });
    }
    Ok(out)
}

/// The plugin host's settings from `[plugins]`.
pub fn plugin_options(config: &Config) -> clio_plugins::PluginOptions {
    use clio_plugins::{AllocatorMode, Limits, PluginOptions};
    let p = &config.plugins;
    let limits = Limits {
        call_timeout: Duration::from_millis(p.call_timeout_ms),
        memory_bytes: p.memory_mb.saturating_mul(1 << 20),
        fuel: (p.fuel > 0).then_some(p.fuel),
        max_output_bytes: p.max_output_kb.saturating_mul(1 << 10),
    };
    let limits_by_function = p
        .limits
        .iter()
        .map(|(name, l)| {
            let fuel = l.fuel.unwrap_or(p.fuel);
            let over = Limits {
                call_timeout: Duration::from_millis(l.call_timeout_ms.unwrap_or(p.call_timeout_ms)),
                memory_bytes: l.memory_mb.unwrap_or(p.memory_mb).saturating_mul(1 << 20),
                fuel: (fuel > 0).then_some(fuel),
                max_output_bytes: l
                    .max_output_kb
                    .unwrap_or(p.max_output_kb)
                    .saturating_mul(1 << 10),
            };
            (name.clone(), over)
        })
        .collect();
    PluginOptions {
        builtin: if p.builtin {
            clio_plugins::BUILTIN_PLUGINS
        } else {
            &[]
        },
        builtin_dir: None,
        user_dir: (!p.dir.is_empty()).then(|| p.dir.clone().into()),
        cache_dir: Some(clio_config::PluginsConfig::cache_dir(&config.data_dir)),
        limits,
        limits_by_function,
        watch: p.watch,
        allocator: match p.allocator.as_str() {
            "pooling" => AllocatorMode::Pooling,
            "on-demand" => AllocatorMode::OnDemand,
            _ => AllocatorMode::Auto,
        },
        max_concurrent_calls: p.max_concurrent_calls,
        max_collector_memory: config
            .collectors
            .iter()
            .map(|c| c.memory_mb.unwrap_or(p.memory_mb).saturating_mul(1 << 20))
            .max()
            .unwrap_or(0),
    }
}

impl Running {
    /// The shared state (engine, metrics).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting, lets in-flight requests finish (up to 30 s), flushes the cache and
    /// closes the log and storage.
    pub async fn shutdown(self) -> Result<()> {
        self.shutdown_keeping_memory().await.map(drop)
    }

    /// [`Running::shutdown`], handing back the engine's state instead of freeing it. A
    /// process about to exit can leak it: with a million series, freeing the cache and the
    /// catalog object by object takes seconds that a container engine's stop grace period
    /// (10 s) does not have, and everything durable is already closed.
    pub async fn shutdown_keeping_memory(mut self) -> Result<impl Sized> {
        self.state.shutdown().cancel();
        let tasks = std::mem::take(&mut self.tasks);
        let drain = async {
            for t in tasks {
                let _ = t.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(30), drain)
            .await
            .is_err()
        {
            tracing::warn!("requests still running after 30 s; closing anyway");
        }
        // A failed final flush loses nothing (the log is replayed at the next start) and
        // was logged by the engine: the stop is still clean.
        if let Err(e) = self.store.close().await {
            tracing::warn!(error = %e, "clio stopped; the write-ahead log keeps what storage did not take");
            return Ok(self);
        }
        tracing::info!("clio stopped");
        Ok(self)
    }
}
