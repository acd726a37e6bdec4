//! `[alerts]` and `[[alerts.rules]]`: alert rules on history (a function over a series or a
//! key pattern, compared with a threshold for a duration) and on Clio's own health, and where
//! notifications go. The same rule type is accepted by `POST /api/v1/alerts/rules`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[alerts]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Evaluate rules at all.
    #[serde(default = "crate::default_true")]
    pub enabled: bool,
    /// How often every rule is evaluated (a duration: "15s", "1m").
    #[serde(default = "default_interval")]
    pub interval: String,
    /// Where notifications are POSTed as JSON (`http://` only; empty: log only).
    #[serde(default)]
    pub webhook_url: String,
    /// Time limit of one webhook request, ms.
    #[serde(default = "default_webhook_timeout")]
    pub webhook_timeout_ms: u64,
    /// Retries of a notification the webhook did not accept (no connection, timeout,
    /// non-2xx), after the first attempt.
    #[serde(default = "default_webhook_retries")]
    pub webhook_retries: u32,
    /// The first retry's delay, ms; each later one doubles, up to 60 s.
    #[serde(default = "default_webhook_backoff")]
    pub webhook_backoff_ms: u64,
    /// Notifications waiting for the webhook at most; more are dropped and counted.
    #[serde(default = "default_webhook_queue")]
    pub webhook_queue: usize,
    /// Resolved alerts listed (the newest) in `GET /api/v1/alerts`.
    #[serde(default = "default_keep_resolved")]
    pub keep_resolved: usize,
    /// The rules.
    #[serde(default)]
    pub rules: Vec<AlertRule>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            enabled: true,
            interval: default_interval(),
            webhook_url: String::new(),
            webhook_timeout_ms: default_webhook_timeout(),
            webhook_retries: default_webhook_retries(),
            webhook_backoff_ms: default_webhook_backoff(),
            webhook_queue: default_webhook_queue(),
            keep_resolved: default_keep_resolved(),
            rules: Vec::new(),
        }
    }
}

fn default_interval() -> String {
    "15s".into()
}
const fn default_webhook_timeout() -> u64 {
    5000
}
const fn default_webhook_retries() -> u32 {
    5
}
const fn default_webhook_backoff() -> u64 {
    500
}
const fn default_webhook_queue() -> usize {
    1000
}
const fn default_keep_resolved() -> usize {
    100
}

/// What a rule watches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A history function over one series (`series`) or every series whose key matches
    /// `pattern`, compared with `threshold`.
    #[default]
    Series,
    /// Free space of the file system holding `data_dir`, percent, below `threshold`.
    DiskFree,
    /// Flushes to the primary fail (no threshold).
    FlushFailing,
    /// A replica's lag in seconds above `threshold` (one alert per replica).
    ReplicaLag,
    /// No point acknowledged for `threshold` seconds.
    IngestStalled,
    /// At least `threshold` authentication failures within `window`. Fed by the
    /// authentication layer's counter (the security issue); until that lands nothing
    /// counts, so the rule never fires.
    AuthFailures,
}

impl RuleKind {
    /// The name used in config and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Series => "series",
            RuleKind::DiskFree => "disk_free",
            RuleKind::FlushFailing => "flush_failing",
            RuleKind::ReplicaLag => "replica_lag",
            RuleKind::IngestStalled => "ingest_stalled",
            RuleKind::AuthFailures => "auth_failures",
        }
    }
}

/// A comparison of a value with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `==`
    #[serde(rename = "==")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
}

impl Comparison {
    /// Whether `value op threshold` holds.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Gt => value > threshold,
            Comparison::Ge => value >= threshold,
            Comparison::Lt => value < threshold,
            Comparison::Le => value <= threshold,
            Comparison::Eq => value == threshold,
            Comparison::Ne => value != threshold,
        }
    }

    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
            Comparison::Lt => "<",
            Comparison::Le => "<=",
            Comparison::Eq => "==",
            Comparison::Ne => "!=",
        }
    }
}

/// One `[[alerts.rules]]` entry (or the body of `POST /api/v1/alerts/rules`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// Unique name: letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// What the rule watches (default `series`).
    #[serde(default)]
    pub kind: RuleKind,
    /// `series` rules: one series by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<u64>,
    /// `series` rules: every series whose key text (`measurement,tag=v field`) matches this
    /// glob (`*` any run of characters, `?` one character).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `series` rules: the history function, e.g. `avg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// `series` rules: its parameters, ALEPIZ style (`"5m"`, `"#10"`, `"5m, 1m"`).
    #[serde(default)]
    pub args: String,
    /// The comparison (default: `<` for disk_free, `>` otherwise; `>=` for auth_failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<Comparison>,
    /// The threshold (series, disk_free %, replica_lag s, ingest_stalled s, auth_failures
    /// count; flush_failing has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// How long the condition must hold before the alert fires ("0s": at once).
    #[serde(rename = "for", default = "default_for")]
    pub for_: String,
    /// auth_failures: the window the failures are counted in (default "5m").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// Free text passed along in notifications (e.g. `warning`, `critical`).
    #[serde(default = "default_severity")]
    pub severity: String,
    /// Free text passed along in notifications.
    #[serde(default)]
    pub summary: String,
}

fn default_for() -> String {
    "0s".into()
}
fn default_severity() -> String {
    "warning".into()
}

impl AlertRule {
    /// The comparison, with the kind's default.
    pub fn comparison(&self) -> Comparison {
        self.op.unwrap_or(match self.kind {
            RuleKind::DiskFree => Comparison::Lt,
            RuleKind::AuthFailures => Comparison::Ge,
            _ => Comparison::Gt,
        })
    }

    /// `for` as a duration (zero when invalid; [`AlertRule::check`] rejects that).
    pub fn for_duration(&self) -> Duration {
        parse_duration(&self.for_).unwrap_or_default()
    }

    /// auth_failures' window (5 minutes by default).
    pub fn window_duration(&self) -> Duration {
        self.window
            .as_deref()
            .and_then(|w| parse_duration(w).ok())
            .unwrap_or(Duration::from_secs(300))
    }

    /// Every problem of the rule, each prefixed with its name.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let mut errs = Vec::new();
        let n = &self.name;
        if n.is_empty()
            || n.len() > 128
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            errs.push(format!(
                "alert rule name `{n}` must be 1-128 letters, digits, -, _ or ."
            ));
        }
        if let Err(e) = parse_duration(&self.for_) {
            errs.push(format!("alert rule `{n}`: for: {e}"));
        }
        if let Some(w) = &self.window {
            if self.kind != RuleKind::AuthFailures {
                errs.push(format!(
                    "alert rule `{n}`: window only applies to kind = \"auth_failures\""
                ));
            }
            match parse_duration(w) {
                Ok(d) if d.is_zero() => {
                    errs.push(format!("alert rule `{n}`: window must be positive"))
                }
                Ok(_) => {}
                Err(e) => errs.push(format!("alert rule `{n}`: window: {e}")),
            }
        }
        if let Some(t) = self.threshold
            && !t.is_finite()
        {
            errs.push(format!(
                "alert rule `{n}`: threshold must be a finite number"
            ));
        }
        let series_keys = self.series.is_some()
            || self.pattern.is_some()
            || self.function.is_some()
            || !self.args.is_empty();
        match self.kind {
            RuleKind::Series => {
                if self.series.is_some() == self.pattern.is_some() {
                    errs.push(format!(
                        "alert rule `{n}`: give either series (an id) or pattern (a key glob)"
                    ));
                }
                if let Some(p) = &self.pattern
                    && (p.is_empty() || p.len() > 1024)
                {
                    errs.push(format!(
                        "alert rule `{n}`: pattern must be 1-1024 characters"
                    ));
                }
                if self.function.as_deref().is_none_or(str::is_empty) {
                    errs.push(format!(
                        "alert rule `{n}`: function (a history function such as avg) is required"
                    ));
                }
                if self.threshold.is_none() {
                    errs.push(format!("alert rule `{n}`: threshold is required"));
                }
            }
            RuleKind::FlushFailing => {
                if series_keys || self.threshold.is_some() || self.op.is_some() {
                    errs.push(format!(
                        "alert rule `{n}`: kind = \"flush_failing\" takes no series, pattern, function, args, op or threshold"
                    ));
                }
            }
            kind => {
                if series_keys {
                    errs.push(format!(
                        "alert rule `{n}`: kind = \"{}\" takes no series, pattern, function or args",
                        kind.as_str()
                    ));
                }
                match self.threshold {
                    None => errs.push(format!("alert rule `{n}`: threshold is required")),
                    Some(t) if kind == RuleKind::DiskFree && !(0.0..=100.0).contains(&t) => errs
                        .push(format!(
                            "alert rule `{n}`: disk_free threshold is a percentage (0-100)"
                        )),
                    Some(_) => {}
                }
            }
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }
}

impl AlertsConfig {
    /// `interval` as a duration.
    pub fn interval_duration(&self) -> Duration {
        parse_duration(&self.interval).unwrap_or(Duration::from_secs(15))
    }

    pub(crate) fn validate(&self, errs: &mut Vec<String>) {
        match parse_duration(&self.interval) {
            Ok(d) if d < Duration::from_millis(100) => {
                errs.push("alerts.interval must be at least 100ms".into())
            }
            Ok(_) => {}
            Err(e) => errs.push(format!("alerts.interval: {e}")),
        }
        if !self.webhook_url.is_empty() && !self.webhook_url.starts_with("http://") {
            errs.push(format!(
                "alerts.webhook_url `{}` must be an http:// URL (put a TLS proxy in front for https)",
                self.webhook_url
            ));
        }
        if self.webhook_timeout_ms == 0 {
            errs.push("alerts.webhook_timeout_ms must be at least 1".into());
        }
        if self.webhook_queue == 0 {
            errs.push("alerts.webhook_queue must be at least 1".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for r in &self.rules {
            if let Err(e) = r.check() {
                errs.extend(e);
            }
            if !names.insert(&r.name) {
                errs.push(format!("alert rule name `{}` is used twice", r.name));
            }
        }
    }
}

/// Parses a duration: a number with a unit `ms`, `s`, `m`, `h` or `d` (`"90s"`, `"5m"`,
/// `"1.5h"`), or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 30s, 5m or 2h"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        u => return Err(format!("`{text}`: unknown unit `{u}` (ms, s, m, h, d)")),
    };
    let secs = n * scale;
    if !secs.is_finite() || secs > 10.0 * 365.0 * 86400.0 {
        return Err(format!("`{text}` is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(toml_text: &str) -> AlertRule {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("1e300d").is_err());
    }

    #[test]
    fn a_series_rule_needs_one_target_a_function_and_a_threshold() {
        let ok = rule(
            r#"name = "kiln-hot"
pattern = "kiln,* temp"
function = "avg"
args = "5m"
op = ">"
threshold = 1600
for = "2m""#,
        );
        assert_eq!(ok.check(), Ok(()));
        assert_eq!(ok.for_duration(), Duration::from_secs(120));
        assert!(ok.comparison().holds(1601.0, 1600.0));
        let both = rule(
            r#"name = "x"
series = 1
pattern = "a*"
function = "avg"
threshold = 1"#,
        );
        assert!(both.check().unwrap_err()[0].contains("either series"));
        let bare = rule(r#"name = "x""#);
        assert_eq!(bare.check().unwrap_err().len(), 3);
    }

    #[test]
    fn health_rules_take_their_own_keys() {
        let disk = rule(
            r#"name = "disk"
kind = "disk_free"
threshold = 10"#,
        );
        assert_eq!(disk.check(), Ok(()));
        assert_eq!(disk.comparison(), Comparison::Lt);
        let bad = rule(
            r#"name = "disk"
kind = "disk_free"
threshold = 150"#,
        );
        assert!(bad.check().is_err());
        let flush = rule(
            r#"name = "flush"
kind = "flush_failing"
function = "avg""#,
        );
        assert!(flush.check().is_err());
        let auth = rule(
            r#"name = "auth"
kind = "auth_failures"
threshold = 20
window = "1m""#,
        );
        assert_eq!(auth.check(), Ok(()));
        assert_eq!(auth.window_duration(), Duration::from_secs(60));
        assert!(toml::from_str::<AlertRule>("name = \"x\"\nkind = \"nope\"").is_err());
        assert!(toml::from_str::<AlertRule>("name = \"x\"\nop = \"=>\"").is_err());
    }

    #[test]
    fn duplicate_names_and_bad_webhooks_are_reported() {
        let mut c = AlertsConfig {
            webhook_url: "https://example.com".into(),
            ..Default::default()
        };
        let r = rule("name = \"f\"\nkind = \"flush_failing\"");
        c.rules = vec![r.clone(), r];
        let mut errs = Vec::new();
        c.validate(&mut errs);
        assert_eq!(errs.len(), 2, "{errs:?}");
    }
}
