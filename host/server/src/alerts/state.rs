//! Alert states and their transitions (pending → firing → resolved), and the state file
//! that keeps them, with the rules added through the API, across restarts.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};

use clio_config::{AlertRule, RuleKind};
use serde::{Deserialize, Serialize};

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The condition holds, not yet for the rule's `for`.
    Pending,
    /// The condition has held for `for`.
    Firing,
    /// It fired and the condition no longer holds.
    Resolved,
}

impl AlertState {
    /// The name in JSON and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

/// One alert: a rule's condition on one subject (a series, a replica, or the server).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The rule's name.
    pub rule: String,
    /// The rule's kind.
    pub kind: RuleKind,
    /// What the alert is about within its rule: the series id, the replica's name, or ""
    /// for rules on the server as a whole.
    pub subject: String,
    /// The series (series rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<u64>,
    /// The series key text, or the replica's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The state.
    pub state: AlertState,
    /// The last value evaluated (null: no data).
    pub value: Option<f64>,
    /// The rule's threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The rule's comparison.
    pub op: String,
    /// The rule's severity.
    pub severity: String,
    /// The rule's summary.
    pub summary: String,
    /// More about the condition (e.g. why flushes fail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Since when the condition holds (Unix ms).
    pub since: i64,
    /// When it started firing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firing_since: Option<i64>,
    /// When it resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<i64>,
    /// When it was last evaluated.
    pub evaluated_at: i64,
}

/// What one evaluation found for one subject of a rule.
#[derive(Debug, Clone)]
pub(crate) struct Observation {
    pub subject: String,
    pub series: Option<u64>,
    pub key: Option<String>,
    /// The value, or None when there is no data.
    pub value: Option<f64>,
    /// Whether the condition holds; `Err` when it could not be evaluated (the alert keeps
    /// its state rather than flapping on a transient failure).
    pub holds: Result<bool, String>,
    pub detail: Option<String>,
}

/// Every alert, by rule and subject, plus the newest resolved ones.
#[derive(Debug, Default)]
pub(crate) struct Alerts {
    pub active: BTreeMap<(String, String), Alert>,
    pub resolved: VecDeque<Alert>,
}

impl Alerts {
    /// Applies one evaluation of `rule` at `now` (Unix ms); returns the transitions to
    /// notify (pending, firing, resolved). Active alerts of the rule that were not observed
    /// (their series or replica is gone) no longer hold.
    pub fn apply(
        &mut self,
        rule: &AlertRule,
        observations: Vec<Observation>,
        now: i64,
        keep_resolved: usize,
    ) -> Vec<Alert> {
        let for_ms = i64::try_from(rule.for_duration().as_millis()).unwrap_or(i64::MAX);
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for o in observations {
            seen.insert(o.subject.clone());
            let id = (rule.name.clone(), o.subject.clone());
            let holds = match o.holds {
                Ok(h) => h,
                Err(_) => {
                    if let Some(a) = self.active.get_mut(&id) {
                        a.evaluated_at = now;
                    }
                    continue;
                }
            };
            match (self.active.get_mut(&id), holds) {
                (None, false) => {}
                (None, true) => {
                    let mut a = Alert {
                        rule: rule.name.clone(),
                        kind: rule.kind,
                        subject: o.subject,
                        series: o.series,
                        key: o.key,
                        state: AlertState::Pending,
                        value: o.value,
                        threshold: rule.threshold,
                        op: rule.comparison().as_str().into(),
                        severity: rule.severity.clone(),
                        summary: rule.summary.clone(),
                        detail: o.detail,
                        since: now,
                        firing_since: None,
                        resolved_at: None,
                        evaluated_at: now,
                    };
                    if for_ms == 0 {
                        a.state = AlertState::Firing;
                        a.firing_since = Some(now);
                    }
                    out.push(a.clone());
                    self.active.insert(id, a);
                }
                (Some(a), true) => {
                    a.value = o.value;
                    a.detail = o.detail;
                    a.evaluated_at = now;
                    if a.state == AlertState::Pending && now.saturating_sub(a.since) >= for_ms {
                        a.state = AlertState::Firing;
                        a.firing_since = Some(now);
                        out.push(a.clone());
                    }
                }
                (Some(a), false) => {
                    a.value = o.value;
                    a.evaluated_at = now;
                    if let Some(r) = self.clear(&id, now, keep_resolved) {
                        out.push(r);
                    }
                }
            }
        }
        let gone: Vec<_> = self
            .active
            .keys()
            .filter(|(r, s)| *r == rule.name && !seen.contains(s))
            .cloned()
            .collect();
        for id in gone {
            if let Some(r) = self.clear(&id, now, keep_resolved) {
                out.push(r);
            }
        }
        out
    }

    /// Ends an alert: a firing one resolves (returned, for notification); a pending one is
    /// dropped silently.
    pub fn clear(
        &mut self,
        id: &(String, String),
        now: i64,
        keep_resolved: usize,
    ) -> Option<Alert> {
        let mut a = self.active.remove(id)?;
        if a.state != AlertState::Firing {
            return None;
        }
        a.state = AlertState::Resolved;
        a.resolved_at = Some(now);
        self.resolved.push_front(a.clone());
        self.resolved.truncate(keep_resolved);
        Some(a)
    }

    /// Ends every alert of a rule (deleted).
    pub fn clear_rule(&mut self, rule: &str, now: i64, keep_resolved: usize) -> Vec<Alert> {
        let ids: Vec<_> = self
            .active
            .keys()
            .filter(|(r, _)| r == rule)
            .cloned()
            .collect();
        ids.iter()
            .filter_map(|id| self.clear(id, now, keep_resolved))
            .collect()
    }

    /// (firing, pending) counts.
    pub fn counts(&self) -> (usize, usize) {
        let firing = self
            .active
            .values()
            .filter(|a| a.state == AlertState::Firing)
            .count();
        (firing, self.active.len() - firing)
    }
}

/// The state file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct StateFile {
    pub version: u32,
    /// Rules added through the API.
    #[serde(default)]
    pub rules: Vec<AlertRule>,
    #[serde(default)]
    pub active: Vec<Alert>,
    #[serde(default)]
    pub resolved: Vec<Alert>,
}

/// `<data_dir>/alerts.json`.
pub(crate) fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join("alerts.json")
}

/// Reads the state file; a missing one is an empty state. A damaged one is moved aside
/// (`alerts.json.damaged`) with a warning, so it can be looked at, and the state starts
/// empty: alerts are re-derived from the data at the next evaluation.
pub(crate) fn load(path: &Path) -> StateFile {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return StateFile::default(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the alert state; starting without it");
            return StateFile::default();
        }
    };
    match serde_json::from_slice(&text) {
        Ok(s) => s,
        Err(e) => {
            let aside = path.with_extension("json.damaged");
            let _ = std::fs::rename(path, &aside);
            tracing::warn!(path = %path.display(), moved_to = %aside.display(), error = %e, "the alert state file is damaged; starting without it");
            StateFile::default()
        }
    }
}

/// Writes the state file atomically: a temporary file, fsynced, renamed over the old one,
/// and the directory fsynced, so a crash leaves the old file or the new one, never half.
pub(crate) fn save(path: &Path, state: &StateFile) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(for_: &str) -> AlertRule {
        toml::from_str(&format!(
            "name = \"hot\"\npattern = \"*\"\nfunction = \"avg\"\nthreshold = 10\nfor = \"{for_}\""
        ))
        .unwrap()
    }

    fn obs(subject: &str, value: f64) -> Observation {
        Observation {
            subject: subject.into(),
            series: subject.parse().ok(),
            key: None,
            value: Some(value),
            holds: Ok(value > 10.0),
            detail: None,
        }
    }

    #[test]
    fn pending_then_firing_after_for_then_resolved() {
        let r = rule("1m");
        let mut a = Alerts::default();
        let n = a.apply(&r, vec![obs("1", 11.0), obs("2", 5.0)], 0, 10);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].state, AlertState::Pending);
        assert!(a.apply(&r, vec![obs("1", 12.0)], 59_999, 10).is_empty());
        let n = a.apply(&r, vec![obs("1", 12.0)], 60_000, 10);
        assert_eq!(n[0].state, AlertState::Firing);
        assert_eq!(n[0].value, Some(12.0));
        assert_eq!(a.counts(), (1, 0));
        // An evaluation error keeps the state.
        let mut err = obs("1", 0.0);
        err.holds = Err("trap".into());
        assert!(a.apply(&r, vec![err], 61_000, 10).is_empty());
        let n = a.apply(&r, vec![obs("1", 3.0)], 70_000, 10);
        assert_eq!(n[0].state, AlertState::Resolved);
        assert_eq!(n[0].resolved_at, Some(70_000));
        assert_eq!(a.counts(), (0, 0));
        assert_eq!(a.resolved.len(), 1);
    }

    #[test]
    fn a_cleared_pending_alert_is_dropped_and_vanished_subjects_resolve() {
        let r = rule("1m");
        let mut a = Alerts::default();
        a.apply(&r, vec![obs("1", 11.0)], 0, 10);
        assert!(a.apply(&r, vec![obs("1", 1.0)], 1000, 10).is_empty());
        assert_eq!(a.counts(), (0, 0));
        let r0 = rule("0s");
        let n = a.apply(&r0, vec![obs("7", 11.0)], 0, 10);
        assert_eq!(n[0].state, AlertState::Firing, "for = 0 fires at once");
        let n = a.apply(&r0, vec![], 1000, 10);
        assert_eq!(n[0].state, AlertState::Resolved, "series gone");
    }

    #[test]
    fn resolved_alerts_are_bounded_newest_first() {
        let r = rule("0s");
        let mut a = Alerts::default();
        for t in 0..5 {
            a.apply(&r, vec![obs("1", 11.0)], t * 10, 3);
            a.apply(&r, vec![obs("1", 1.0)], t * 10 + 5, 3);
        }
        assert_eq!(a.resolved.len(), 3);
        assert_eq!(a.resolved[0].resolved_at, Some(45));
    }

    #[test]
    fn the_state_file_round_trips_and_a_damaged_one_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let p = state_path(dir.path());
        assert!(load(&p).active.is_empty());
        let mut a = Alerts::default();
        a.apply(&rule("0s"), vec![obs("1", 11.0)], 5, 10);
        let file = StateFile {
            version: 1,
            rules: vec![rule("2m")],
            active: a.active.values().cloned().collect(),
            resolved: vec![],
        };
        save(&p, &file).unwrap();
        let back = load(&p);
        assert_eq!(back.rules, file.rules);
        assert_eq!(back.active, file.active);
        std::fs::write(&p, b"{not json").unwrap();
        assert!(load(&p).active.is_empty());
        assert!(p.with_extension("json.damaged").exists());
    }
}
