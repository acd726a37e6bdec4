//! Collector `simulator`: a Glass AI furnace. Per line, `sensors` temperatures near 1550 °C
//! (slow drift over hours plus noise), pressures near 12 kPa, flows near 4.2 t/h, and a
//! `status` string. Values depend only on the seed, the line, the sensor and the time, so
//! two runs at the same time give the same points.
//!
//! Configuration (all optional): `lines` (1–100, default 2), `sensors` (1–100 per kind,
//! default 4), `seed` (default 1), `measurement` (default `furnace`).
#![deny(missing_docs)]

use clio_sdk::collector::{Collector, Sample, noise};
use clio_sdk::policy::Config;
use clio_sdk::{Result, bad_argument};

/// The simulated furnace.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulator {
    lines: u32,
    sensors: u32,
    seed: u64,
    measurement: String,
}

impl Simulator {
    fn samples(&self, now: i64) -> Vec<Sample> {
        let t = now as f64 / 1000.0;
        let second = now.div_euclid(1000) as u64;
        let m = &self.measurement;
        let mut out = Vec::with_capacity((self.lines * (self.sensors * 3 + 1)) as usize);
        for line in 1..=self.lines {
            let l = u64::from(line);
            let phase = noise(self.seed, &[l]) * std::f64::consts::PI;
            // Six-hour drift of ±15 °C, per line.
            let drift = 15.0 * (t * std::f64::consts::TAU / 21_600.0 + phase).sin();
            for s in 1..=self.sensors {
                let k = u64::from(s);
                let temp = 1550.0
                    + drift
                    + 3.0 * noise(self.seed, &[l, k, 1])
                    + 2.0 * noise(self.seed, &[l, k, 1, second]);
                out.push(Sample::num(
                    format!("{m},line=L{line},sensor=T{s} temperature"),
                    round(temp, 2),
                ));
                let p = 12.0
                    + 0.4 * noise(self.seed, &[l, k, 2])
                    + 0.1 * noise(self.seed, &[l, k, 2, second]);
                out.push(Sample::num(
                    format!("{m},line=L{line},sensor=P{s} pressure"),
                    round(p, 3),
                ));
                let f = 4.2 + 0.05 * drift / 15.0 + 0.05 * noise(self.seed, &[l, k, 3, second]);
                out.push(Sample::num(
                    format!("{m},line=L{line},sensor=F{s} flow"),
                    round(f, 3),
                ));
            }
            // A line is in maintenance for one ten-minute slot in about twenty.
            let slot = second / 600;
            let status = if noise(self.seed, &[l, slot, 4]) > 0.9 {
                "maintenance"
            } else if drift > 12.0 {
                "overheat-warning"
            } else {
                "running"
            };
            out.push(Sample::str(format!("{m},line=L{line} status"), status));
        }
        out
    }
}

fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

impl Collector for Simulator {
    fn name() -> &'static str {
        "simulator"
    }

    fn configure(config_json: &str) -> Result<Self> {
        let mut c = Config::parse(config_json)?;
        let lines = c.u32("lines")?.unwrap_or(2);
        let sensors = c.u32("sensors")?.unwrap_or(4);
        let seed = u64::from(c.u32("seed")?.unwrap_or(1));
        let measurement = c.string("measurement")?.unwrap_or_else(|| "furnace".into());
        c.finish()?;
        if !(1..=100).contains(&lines) {
            return Err(bad_argument("lines", "must be between 1 and 100"));
        }
        if !(1..=100).contains(&sensors) {
            return Err(bad_argument("sensors", "must be between 1 and 100"));
        }
        if measurement.is_empty() || measurement.contains([' ', ',', '=']) {
            return Err(bad_argument(
                "measurement",
                "must be a plain measurement name",
            ));
        }
        Ok(Simulator {
            lines,
            sensors,
            seed,
            measurement,
        })
    }

    fn collect(&mut self, now: i64) -> Result<Vec<Sample>> {
        Ok(self.samples(now))
    }
}

clio_sdk::export_collector!(Simulator);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_near_1550() {
        let mut s = Simulator::configure(r#"{"lines": 3, "sensors": 2, "seed": 7}"#).unwrap();
        let a = s.collect(1_796_480_460_000).unwrap();
        let b = s.collect(1_796_480_460_000).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 3 * (2 * 3 + 1));
        for x in &a {
            if let clio_sdk::Value::Num(v) = x.value
                && x.key.ends_with(" temperature")
            {
                assert!((1525.0..1575.0).contains(&v), "{v}");
            }
        }
        assert!(a.iter().any(|x| x.key == "furnace,line=L3 status"));
        assert!(Simulator::configure(r#"{"lines": 0}"#).is_err());
        assert!(Simulator::configure(r#"{"linez": 1}"#).is_err());
    }
}
