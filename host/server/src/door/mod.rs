//! The one door: the only way from a front end into the engine, the plugin host, the
//! housekeeper and backups.
//!
//! Every request gets a [`Gate`]: the server state plus the request's [`RequestContext`]
//! (who, from where, request id), filled by the HTTP middleware ([`http`]) or by the TCP
//! connection's handshake. The engine itself ([`clio_core::Store`]) is private to this
//! module, so a handler can only do what a `Gate` method offers, and each method checks the
//! principal's role and scope before it touches anything: a new endpoint cannot forget the
//! check. Admission (query slots) and request metrics live here too.

pub mod http;
pub(crate) mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use clio_core::{
    IncomingPoint, KeyTexts, NewText, ReadRequest, ReadResult, SeriesPage, SeriesRef, TimeLimits,
    Window, WriteReport,
};
use clio_plugins::{FnValue, PluginHost, SeriesAccess};
use clio_storage::{
    PointColumns, SeriesFilter, SeriesId, SeriesInfo, SeriesKey, SeriesUpdate, Timestamp,
    TrendBucket, TrendInterval,
};
use tokio::sync::OwnedSemaphorePermit;

use crate::auth::{Principal, PrincipalKind, Role};
use crate::blocking::off_worker;
use crate::error::ApiError;
pub use state::AppState;

/// Who a request comes from and how to find its log lines.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request id (`X-Request-Id`, or generated); in every log line of the request.
    pub request_id: String,
    /// The client's address, when known.
    pub peer: Option<SocketAddr>,
    /// `http` or `tcp`.
    pub proto: &'static str,
    /// The authenticated principal.
    pub principal: Principal,
}

impl RequestContext {
    /// A context with everything allowed, for in-process callers and tests.
    pub fn trusted(proto: &'static str) -> Self {
        RequestContext {
            request_id: new_request_id(),
            peer: None,
            proto,
            principal: Principal::trusted(),
        }
    }
}

/// A new request id: a per-process random prefix and a counter (unique, short, no clock).
pub fn new_request_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| {
        let mut b = [0u8; 4];
        rand::fill(&mut b);
        crate::auth::store::hex(&b)
    });
    format!("{prefix}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A client-chosen request id is kept when it is short printable ASCII; otherwise a new one.
pub fn accept_request_id(given: Option<&str>) -> String {
    match given {
        Some(id)
            if !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            id.to_string()
        }
        _ => new_request_id(),
    }
}

/// One evaluation of a batch.
#[derive(Debug, Clone)]
pub struct FnCall {
    /// The series.
    pub series: SeriesId,
    /// The function's name.
    pub function: String,
    /// ALEPIZ-style parameters.
    pub args: Vec<String>,
    /// Evaluation time (now when absent).
    pub at: Option<Timestamp>,
}

/// Why one evaluation of a batch failed.
#[derive(Debug)]
pub enum CallError {
    /// The function failed.
    Plugin(clio_plugins::PluginError),
    /// The caller may not read the series.
    Refused(ApiError),
}

/// One request's way in. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gate {
    state: AppState,
    ctx: Arc<RequestContext>,
}

impl Gate {
    /// A gate for one request.
    pub fn new(state: AppState, ctx: RequestContext) -> Self {
        Gate {
            state,
            ctx: Arc::new(ctx),
        }
    }

    /// The shared state: configuration, metrics (not the engine).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The request's context.
    pub fn context(&self) -> &RequestContext {
        &self.ctx
    }

    fn principal(&self) -> &Principal {
        &self.ctx.principal
    }

    // ---- authorization -------------------------------------------------------------------

    /// Refuses unless the principal has `role`: 401 without credentials, else 403.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        let p = self.principal();
        if p.has(role) {
            return Ok(());
        }
        if p.kind == PrincipalKind::Anonymous {
            self.count_failure("missing");
            return Err(ApiError::Unauthorized(
                "authentication required: send a token (Authorization: Token ...)".into(),
            ));
        }
        self.count_failure("forbidden");
        if role == Role::Admin {
            self.audit("admin", "denied", "the admin role is required");
        }
        Err(ApiError::Forbidden(format!(
            "{} lacks the `{role}` role",
            p.name
        )))
    }

    /// An admin action: requires `admin` and records it in the audit log.
    fn admin(&self, action: &str, detail: &str) -> Result<(), ApiError> {
        self.require(Role::Admin)?;
        self.audit(action, "ok", detail);
        Ok(())
    }

    /// An admin action over every series (retention, the registry, backups): also requires
    /// an unrestricted scope, since it acts beyond any scope.
    fn admin_unscoped(&self, action: &str, detail: &str) -> Result<(), ApiError> {
        self.require(Role::Admin)?;
        if !self.principal().scope.is_unrestricted() {
            self.audit(action, "denied", "needs an unrestricted scope");
            return Err(self.out_of_scope(format_args!("`{action}` (every series)")));
        }
        self.audit(action, "ok", detail);
        Ok(())
    }

    /// Records an audit event for this request.
    pub fn audit(&self, action: &str, outcome: &str, detail: &str) {
        self.state.auth().audit.record(
            &self.principal().name,
            action,
            outcome,
            self.ctx.peer.map(|a| a.ip()),
            &self.ctx.request_id,
            detail,
        );
    }

    fn count_failure(&self, reason: &'static str) {
        self.state.note_auth_failure(self.ctx.proto, reason);
    }

    // ---- Glass AI tables -------------------------------------------------------------------

    /// The Glass AI tables for reading (`read`). They hold no series, so a principal's
    /// series scope does not narrow them; the history behind a sensor is read through
    /// [`Gate::read`] and its scope check.
    pub fn glass_read(&self) -> Result<&clio_glass::Glass, ApiError> {
        self.require(Role::Read)?;
        self.state.glass()
    }

    /// The Glass AI tables for changes (`write`).
    pub fn glass_write(&self) -> Result<&clio_glass::Glass, ApiError> {
        self.require(Role::Write)?;
        self.state.glass()
    }

    /// The Glass AI tables' migrations (`admin`, audited).
    pub fn glass_admin(&self, action: &str) -> Result<&clio_glass::Glass, ApiError> {
        self.admin(action, "")?;
        self.state.glass()
    }

    // ---- collectors ------------------------------------------------------------------------

    /// The collectors' status (`read`).
    pub fn collectors_view(&self) -> Result<&clio_plugins::Collectors, ApiError> {
        self.require(Role::Read)?;
        self.state.collectors()
    }

    /// The collectors to start, stop or run (`admin`, unrestricted: a collector writes any
    /// series; audited as `action`).
    pub fn collectors_admin(
        &self,
        action: &str,
        name: &str,
    ) -> Result<&clio_plugins::Collectors, ApiError> {
        self.admin_unscoped(action, name)?;
        self.state.collectors()
    }

    // ---- alerts ----------------------------------------------------------------------------

    /// The alert engine to read (`read`, unrestricted scope: alerts name series of every
    /// scope).
    pub fn alerts_view(&self) -> Result<&crate::alerts::AlertEngine, ApiError> {
        self.require(Role::Read)?;
        if !self.principal().scope.is_unrestricted() {
            return Err(self.out_of_scope(format_args!("alerts (every series)")));
        }
        self.state.alerts()
    }

    /// The alert engine to change rules (`admin`, unrestricted, audited as `action`).
    pub fn alerts_admin(
        &self,
        action: &str,
        detail: &str,
    ) -> Result<&crate::alerts::AlertEngine, ApiError> {
        self.admin_unscoped(action, detail)?;
        self.state.alerts()
    }

    fn out_of_scope(&self, what: impl std::fmt::Display) -> ApiError {
        self.count_failure("forbidden");
        ApiError::Forbidden(format!(
            "{what} is outside the scope of {}",
            self.principal().name
        ))
    }

    /// The series passing `filter` that the principal's scope hides (`write`; empty when
    /// the scope is unrestricted). Only for refusing a destructive pattern (`DROP SERIES`,
    /// `DELETE`) that reaches beyond the scope: callers never answer with them.
    pub fn hidden_series(&self, filter: &SeriesFilter) -> Result<Vec<SeriesInfo>, ApiError> {
        self.require(Role::Write)?;
        if self.principal().scope.is_unrestricted() {
            return Ok(Vec::new());
        }
        Ok(off_worker(|| {
            let mut all = self.state.store().list_series(filter);
            all.retain(|s| !self.sees(s));
            all
        }))
    }

    /// The refusal of an action on series outside the scope (403, counted).
    pub fn beyond_scope(&self, what: &str) -> ApiError {
        self.out_of_scope(what)
    }

    /// Whether the principal's scope covers a catalog entry.
    fn sees(&self, info: &SeriesInfo) -> bool {
        self.principal().scope.allows(info.id, info.key.as_ref())
    }

    /// The catalog entry of `id` (`None`: never written) after checking that the scope
    /// covers it. Under a scope of measurements or tags a series that does not exist is
    /// refused like one outside the scope, so that refusals do not tell which ids exist.
    fn checked(&self, id: SeriesId) -> Result<Option<SeriesInfo>, ApiError> {
        let info = self.state.store().series(id);
        let scope = &self.principal().scope;
        if scope.is_unrestricted() {
            return Ok(info);
        }
        let ok = match &info {
            Some(i) => self.sees(i),
            None => scope.allows(id, None),
        };
        if ok {
            Ok(info)
        } else {
            Err(self.out_of_scope(format_args!("series {id}")))
        }
    }

    /// [`Gate::checked`] without the catalog entry: free when the scope is unrestricted.
    fn check(&self, id: SeriesId) -> Result<(), ApiError> {
        if self.principal().scope.is_unrestricted() {
            return Ok(());
        }
        self.checked(id).map(|_| ())
    }

    /// Checks that every point of a write lies in the scope (all or nothing).
    fn check_points(&self, points: &[IncomingPoint]) -> Result<(), ApiError> {
        let scope = &self.principal().scope;
        if scope.is_unrestricted() {
            return Ok(());
        }
        let store = self.state.store();
        for p in points {
            match &p.series {
                SeriesRef::Id(id) => self.check(*id)?,
                SeriesRef::Key(k) => {
                    let id_ok = scope.ids.is_empty()
                        || store.series_id(k).is_some_and(|id| scope.allows_id(id));
                    if !(id_ok && scope.allows_key(Some(k))) {
                        return Err(self.out_of_scope(format_args!("series `{k}`")));
                    }
                }
            }
        }
        Ok(())
    }

    /// The scope as the plugin host's access check (`None` when unrestricted).
    fn access(&self) -> Option<SeriesAccess> {
        let scope = &self.principal().scope;
        if scope.is_unrestricted() {
            return None;
        }
        let scope = scope.clone();
        Some(SeriesAccess(Arc::new(move |id, key| scope.allows(id, key))))
    }

    // ---- admission and metrics -----------------------------------------------------------

    /// Waits for a query slot (`max_concurrent_queries`).
    pub async fn query_slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.state.query_slot().await
    }

    /// Records a finished request: latency, outcome, slow-request log (inside the request's
    /// span, so it carries the request id).
    pub fn observe(
        &self,
        op: &'static str,
        started: Instant,
        outcome: Result<(), &ApiError>,
        detail: &dyn std::fmt::Display,
    ) {
        self.state
            .observe(self.ctx.proto, op, started, outcome, detail);
    }

    // ---- writes --------------------------------------------------------------------------

    /// Writes points (`write` role; every point in scope).
    pub async fn write(&self, points: Vec<IncomingPoint>) -> Result<WriteReport, ApiError> {
        self.require(Role::Write)?;
        self.check_points(&points)?;
        Ok(self.state.store().write(points).await?)
    }

    /// Writes a line-protocol body's points with that front end's limits on client
    /// timestamps, teaching the engine the key texts of its new keys
    /// ([`clio_core::Store::write_learning`]).
    pub async fn write_learning(
        &self,
        points: Vec<IncomingPoint>,
        now: Timestamp,
        limits: TimeLimits,
        texts: Vec<NewText>,
    ) -> Result<WriteReport, ApiError> {
        self.require(Role::Write)?;
        self.check_points(&points)?;
        Ok(self
            .state
            .store()
            .write_learning(points, now, limits, texts)
            .await?)
    }

    /// The engine's key texts (line-protocol fast path: text → id). Ids found here are
    /// checked like any other when written.
    pub fn key_texts(&self) -> Result<parking_lot::RwLockReadGuard<'_, KeyTexts>, ApiError> {
        self.require(Role::Write)?;
        Ok(self.state.store().key_texts())
    }

    /// Changes a series' settings (`write`).
    pub async fn update_series(
        &self,
        id: SeriesId,
        update: &SeriesUpdate,
    ) -> Result<SeriesInfo, ApiError> {
        self.require(Role::Write)?;
        self.check(id)?;
        Ok(self.state.store().update_series(id, update).await?)
    }

    /// Deletes a series and its data (`write`); false when it did not exist.
    pub async fn delete_series(&self, id: SeriesId) -> Result<bool, ApiError> {
        self.require(Role::Write)?;
        self.check(id)?;
        Ok(self.state.store().delete_series(id).await?)
    }

    /// Deletes the points of `[from, to)` (`write`).
    pub async fn delete_points(
        &self,
        id: SeriesId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64, ApiError> {
        self.require(Role::Write)?;
        self.check(id)?;
        Ok(self.state.store().delete_points(id, from, to).await?)
    }

    /// Remembers a database name a client wrote to or created (`write`; others are ignored
    /// so that anonymous clients cannot fill `SHOW DATABASES`).
    pub fn note_database(&self, name: &str) {
        if self.principal().has(Role::Write) {
            self.state.note_database(name);
        }
    }

    // ---- reads ---------------------------------------------------------------------------

    /// A catalog entry (`read`; refused outside the scope; `None`: never written).
    pub fn series(&self, id: SeriesId) -> Result<Option<SeriesInfo>, ApiError> {
        self.require(Role::Read)?;
        self.checked(id)
    }

    /// The id of a key (`read`; refused outside the scope).
    pub fn series_id(&self, key: &SeriesKey) -> Result<Option<SeriesId>, ApiError> {
        self.require(Role::Read)?;
        let id = self.state.store().series_id(key);
        let scope = &self.principal().scope;
        let ok = scope.allows_key(Some(key)) && id.is_none_or(|id| scope.allows_id(id));
        if !ok {
            return Err(self.out_of_scope(format_args!("series `{key}`")));
        }
        Ok(id)
    }

    /// Reads points or trends (`read`, series in scope).
    pub async fn read(&self, req: &ReadRequest) -> Result<ReadResult, ApiError> {
        self.require(Role::Read)?;
        self.check(req.series)?;
        Ok(self.state.store().read(req).await?)
    }

    /// Reads a window as columns (`read`, series in scope).
    pub async fn read_columns(
        &self,
        id: SeriesId,
        window: Window,
        limit: usize,
    ) -> Result<(PointColumns, bool), ApiError> {
        self.require(Role::Read)?;
        self.check(id)?;
        Ok(self.state.store().read_columns(id, window, limit).await?)
    }

    /// Reads trend buckets (`read`, series in scope).
    pub async fn read_trends(
        &self,
        id: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<TrendBucket>, ApiError> {
        self.require(Role::Read)?;
        self.check(id)?;
        Ok(self
            .state
            .store()
            .read_trends(id, interval, from, to)
            .await?)
    }

    /// [`Gate::read_columns`] for a caller on a blocking thread (the export's producer):
    /// the storage read runs on this thread when the backend can, else through `rt`.
    pub fn read_columns_blocking(
        &self,
        rt: &tokio::runtime::Handle,
        id: SeriesId,
        window: Window,
        limit: usize,
    ) -> Result<(PointColumns, bool), ApiError> {
        self.require(Role::Read)?;
        self.check(id)?;
        Ok(self
            .state
            .store()
            .read_columns_blocking(rt, id, window, limit)?)
    }

    /// [`Gate::read_trends`] for a caller on a blocking thread (the export's producer).
    pub fn read_trends_blocking(
        &self,
        rt: &tokio::runtime::Handle,
        id: SeriesId,
        interval: TrendInterval,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<TrendBucket>, ApiError> {
        self.require(Role::Read)?;
        self.check(id)?;
        Ok(self
            .state
            .store()
            .read_trends_blocking(rt, id, interval, from, to)?)
    }

    /// The trend intervals the engine keeps (configuration, no data).
    pub fn trend_intervals(&self) -> &[TrendInterval] {
        &self.state.store().options().trend_intervals
    }

    /// Every catalog entry passing `filter` that the scope covers (`read`). A measurement
    /// may hold a million series: the walk runs [`off_worker`], as [`Gate::visit_series`].
    pub fn list_series(&self, filter: &SeriesFilter) -> Result<Vec<SeriesInfo>, ApiError> {
        self.require(Role::Read)?;
        off_worker(|| {
            let mut all = self.state.store().list_series(filter);
            if !self.principal().scope.is_unrestricted() {
                all.retain(|s| self.sees(s));
            }
            Ok(all)
        })
    }

    /// Calls `visit` with every catalog entry passing `filter` that the scope covers
    /// (`read`), by ascending id, without copying the catalog ([`clio_core::Store::visit_series`]).
    /// The walk runs [`off_worker`]: the requests queued on this runtime worker do not wait
    /// for a million series.
    pub fn visit_series(
        &self,
        filter: &SeriesFilter,
        mut visit: impl FnMut(&SeriesInfo),
    ) -> Result<(), ApiError> {
        self.require(Role::Read)?;
        let all = self.principal().scope.is_unrestricted();
        off_worker(|| {
            self.state.store().visit_series(filter, |s| {
                if all || self.sees(s) {
                    visit(s)
                }
            })
        });
        Ok(())
    }

    /// One page of the scope's series passing `filter` (`read`). Pages are filled from the
    /// catalog past entries the scope hides, so `next` stays a plain series id.
    pub fn list_series_page(
        &self,
        filter: &SeriesFilter,
        after: Option<SeriesId>,
        limit: usize,
    ) -> Result<SeriesPage, ApiError> {
        self.require(Role::Read)?;
        let store = self.state.store();
        if self.principal().scope.is_unrestricted() {
            return Ok(store.list_series_page(filter, after, limit));
        }
        let mut out = Vec::new();
        let mut after = after;
        loop {
            let page = store.list_series_page(filter, after, limit);
            for s in page.series {
                if self.sees(&s) {
                    out.push(s);
                    if out.len() == limit {
                        // More may follow: the client asks again after this one.
                        let next = out.last().map(|s| s.id);
                        return Ok(SeriesPage { series: out, next });
                    }
                }
            }
            match page.next {
                Some(n) => after = Some(n),
                None => {
                    return Ok(SeriesPage {
                        series: out,
                        next: None,
                    });
                }
            }
        }
    }

    /// The measurements the scope covers (`read`).
    pub fn measurements(&self) -> Result<Vec<String>, ApiError> {
        self.require(Role::Read)?;
        let scope = &self.principal().scope;
        let store = self.state.store();
        if scope.tags.is_empty() && scope.ids.is_empty() {
            let mut names = store.measurements();
            names.retain(|m| scope.allows_measurement(m));
            return Ok(names);
        }
        let mut names: Vec<String> = store
            .list_series(&SeriesFilter::default())
            .into_iter()
            .filter(|s| self.sees(s))
            .filter_map(|s| s.key.map(|k| k.measurement().to_string()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The tag keys of `measurement` and their values from the catalog's index (`read`),
    /// when the scope covers the whole measurement; `None` when it covers only some of its
    /// series (the caller then lists the series it may see).
    pub fn tags_of(
        &self,
        measurement: &str,
        keep: &dyn Fn(&str) -> bool,
        values: bool,
    ) -> Result<Option<std::collections::BTreeMap<String, Vec<String>>>, ApiError> {
        self.require(Role::Read)?;
        let scope = &self.principal().scope;
        if !(scope.tags.is_empty() && scope.ids.is_empty()) {
            return Ok(None);
        }
        if !scope.allows_measurement(measurement) {
            return Ok(Some(Default::default()));
        }
        Ok(Some(self.state.store().tags_of(measurement, keep, values)))
    }

    // ---- status --------------------------------------------------------------------------

    /// Prometheus text (`read`).
    pub fn metrics_text(&self) -> Result<String, ApiError> {
        self.require(Role::Read)?;
        let store = self.state.store();
        if let Some(housekeeper) = self.state.housekeeper() {
            self.state.metrics().set_housekeeper(&housekeeper.status());
        }
        Ok(self
            .state
            .metrics()
            .render(&store.stats(), &store.storage_status()))
    }

    /// Every backend's role, health and lag (`admin`: names and errors of the storage).
    pub fn storage_status(&self) -> Result<clio_core::StorageStatus, ApiError> {
        self.require(Role::Admin)?;
        Ok(self.state.store().storage_status())
    }

    // ---- functions and plugins -----------------------------------------------------------

    fn plugin_host(&self) -> Result<&PluginHost, ApiError> {
        self.state.plugins()
    }

    /// Evaluates a history function on a series (`read`; the plugin's reads of other series
    /// are bound by the caller's scope).
    pub async fn evaluate(
        &self,
        series: SeriesId,
        function: &str,
        args: Vec<String>,
        at: Option<Timestamp>,
    ) -> Result<FnValue, ApiError> {
        self.require(Role::Read)?;
        self.check(series)?;
        let host = self.plugin_host()?.clone();
        Ok(host
            .evaluate_as(series, function, args, at, self.access())
            .await?)
    }

    /// Evaluates many calls on a blocking thread (`read`; each call's series checked; a
    /// call outside the scope gets its own 403 error).
    pub async fn evaluate_batch(
        &self,
        calls: Vec<FnCall>,
    ) -> Result<Vec<Result<FnValue, CallError>>, ApiError> {
        self.require(Role::Read)?;
        let host = self.plugin_host()?.clone();
        let gate = self.clone();
        let access = self.access();
        tokio::task::spawn_blocking(move || {
            calls
                .iter()
                .map(|c| {
                    gate.check(c.series).map_err(CallError::Refused)?;
                    host.evaluate_blocking_as(c.series, &c.function, &c.args, c.at, access.clone())
                        .map_err(CallError::Plugin)
                })
                .collect()
        })
        .await
        .map_err(|e| ApiError::Internal(format!("function batch failed: {e}")))
    }

    /// The loaded functions (`read`).
    pub fn functions(&self) -> Result<Vec<clio_plugins::FunctionInfo>, ApiError> {
        self.require(Role::Read)?;
        Ok(self.plugin_host()?.functions())
    }

    /// The allocator and the loaded plugins with their statistics (`read`).
    pub fn plugins(&self) -> Result<(&'static str, Vec<clio_plugins::PluginStatus>), ApiError> {
        self.require(Role::Read)?;
        let host = self.plugin_host()?;
        Ok((host.allocator().as_str(), host.plugins()))
    }

    /// Reloads the plugins (`admin`, audited).
    pub async fn reload_plugins(&self) -> Result<clio_plugins::ReloadReport, ApiError> {
        let host = self.plugin_host()?.clone();
        self.admin("plugins.reload", "")?;
        Ok(host.reload_async().await)
    }

    // ---- housekeeper ---------------------------------------------------------------------

    fn housekeeper(&self) -> Result<Arc<clio_housekeeper::Housekeeper>, ApiError> {
        self.state.housekeeper().cloned().ok_or_else(|| {
            ApiError::Unavailable(
                "the housekeeper is disabled (housekeeper.enabled = false)".into(),
            )
        })
    }

    /// The housekeeper's status (`read`).
    pub fn housekeeper_status(&self) -> Result<clio_housekeeper::Status, ApiError> {
        self.require(Role::Read)?;
        Ok(self.housekeeper()?.status())
    }

    /// The housekeeper and the plugin host for an admin action (`admin`, audited as
    /// `action`).
    pub fn housekeeper_admin(
        &self,
        action: &str,
    ) -> Result<Arc<clio_housekeeper::Housekeeper>, ApiError> {
        let h = self.housekeeper()?;
        self.admin_unscoped(action, "")?;
        Ok(h)
    }

    /// The policies the plugin host holds (`admin`).
    pub fn policy_host(&self) -> Result<PluginHost, ApiError> {
        self.require(Role::Admin)?;
        Ok(self.plugin_host()?.clone())
    }

    // ---- backups -------------------------------------------------------------------------

    /// Takes an online backup into `dest` (`admin`, audited).
    pub async fn take_backup(
        &self,
        dest: &std::path::Path,
        key: Option<clio_backup::Key>,
        base: Option<&str>,
    ) -> Result<clio_backup::Manifest, ApiError> {
        self.admin_unscoped("backup.create", &dest.display().to_string())?;
        crate::backup::take(
            self.state.store(),
            &self.state.config().data_dir,
            dest,
            key,
            "online",
            base,
            self.state.glass().ok(),
        )
        .await
    }

    /// The backup status (`admin`: it names directories).
    pub fn backup_status(&self) -> Result<&crate::backup::BackupStatus, ApiError> {
        self.require(Role::Admin)?;
        Ok(self.state.backups())
    }

    // ---- tokens and users ----------------------------------------------------------------

    /// The token store for an admin action (`admin`, audited as `action`).
    pub fn token_admin(
        &self,
        action: &str,
        detail: &str,
    ) -> Result<&crate::auth::Authenticator, ApiError> {
        self.admin(action, detail)?;
        Ok(self.state.auth())
    }
}

/// Public, unauthenticated health (`/health`, TCP `ping`): engine counters and backend
/// states, no series data.
pub async fn health(state: &AppState) -> (clio_core::EngineStats, clio_core::StorageStatus) {
    let store = state.store();
    let stats = store.stats();
    let mut status = store.storage_status();
    // A live probe of the primary, so that health does not wait for the next flush to see it.
    match store.backend() {
        Ok(b) => {
            if let Err(e) = b.health().await
                && let Some(p) = status.backends.first_mut()
            {
                p.health.up = false;
                p.health.last_error = Some(e.to_string());
                p.state = "down".into();
                status.status = "degraded";
            }
        }
        Err(_) => status.status = "degraded",
    }
    (stats, status)
}
