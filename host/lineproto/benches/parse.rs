//! Parses 100k telegraf-like lines (cpu, mem, disk, net, system inputs over 50 hosts) three
//! ways: the zero-copy `parse_lines`, `parse_lines` plus a `raw key + field -> id` cache as
//! the write path would use it, and the owned `parse` that builds a `SeriesKey` per point.
//!
//! Run with `cargo bench -p clio-lineproto`; throughput is reported in lines/s (and bytes/s
//! for the zero-copy path). The points per line are printed at start, so points/s is
//! lines/s times that ratio.

use std::collections::HashMap;
use std::hint::black_box;

use clio_lineproto::{Parser, Precision};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const LINES: usize = 100_000;

/// A small deterministic generator, so every run parses the same body.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn pct(&mut self) -> f64 {
        (self.next() % 10_000) as f64 / 100.0
    }
}

fn telegraf_body() -> String {
    let mut rng = Lcg(42);
    let mut out = String::with_capacity(LINES * 200);
    let mut ts: i64 = 1_700_000_000_000_000_000;
    for i in 0..LINES {
        let host = format!("server-{:03}", i % 50);
        let region = ["us-west-2", "eu-central-1", "ap-south-1"][i % 3];
        match i % 5 {
            0 => {
                let cpu = if i % 10 == 0 {
                    "cpu-total".to_owned()
                } else {
                    format!("cpu{}", i % 8)
                };
                out.push_str(&format!(
                    "cpu,cpu={cpu},host={host},region={region} usage_guest=0,usage_guest_nice=0,usage_idle={:.2},usage_iowait={:.2},usage_irq=0,usage_nice=0,usage_softirq={:.2},usage_steal=0,usage_system={:.2},usage_user={:.2} {ts}\n",
                    rng.pct(),
                    rng.pct() / 10.0,
                    rng.pct() / 100.0,
                    rng.pct() / 5.0,
                    rng.pct() / 2.0,
                ));
            }
            1 => out.push_str(&format!(
                "mem,host={host},region={region} active={}i,available={}i,available_percent={:.2},buffered={}i,cached={}i,free={}i,total=17179869184i,used={}i,used_percent={:.2} {ts}\n",
                rng.next() % 8_000_000_000,
                rng.next() % 16_000_000_000,
                rng.pct(),
                rng.next() % 1_000_000,
                rng.next() % 4_000_000_000,
                rng.next() % 8_000_000_000,
                rng.next() % 8_000_000_000,
                rng.pct(),
            )),
            2 => out.push_str(&format!(
                "disk,device=sda1,fstype=ext4,host={host},mode=rw,path=/,region={region} free={}i,inodes_free={}i,inodes_total=3276800i,inodes_used={}i,total=105555197952i,used={}i,used_percent={:.2} {ts}\n",
                rng.next() % 100_000_000_000,
                rng.next() % 3_000_000,
                rng.next() % 300_000,
                rng.next() % 100_000_000_000,
                rng.pct(),
            )),
            3 => out.push_str(&format!(
                "net,host={host},interface=eth{},region={region} bytes_recv={}i,bytes_sent={}i,drop_in=0i,drop_out=0i,err_in=0i,err_out=0i,packets_recv={}i,packets_sent={}i {ts}\n",
                i % 2,
                rng.next(),
                rng.next(),
                rng.next() % 10_000_000,
                rng.next() % 10_000_000,
            )),
            _ => {
                if i % 20 == 4 {
                    out.push_str(&format!(
                        "system,host={host},region={region} uptime={}i,uptime_format=\"{} days,  3:{:02}\" {ts}\n",
                        rng.next() % 10_000_000,
                        rng.next() % 300,
                        rng.next() % 60,
                    ));
                } else {
                    out.push_str(&format!(
                        "system,host={host},region={region} load1={:.2},load15={:.2},load5={:.2},n_cpus=8i,n_users={}i {ts}\n",
                        rng.pct() / 10.0,
                        rng.pct() / 10.0,
                        rng.pct() / 10.0,
                        rng.next() % 5,
                    ));
                }
            }
        }
        if i % 250 == 249 {
            ts += 10_000_000_000;
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let body = telegraf_body();
    let parser = Parser::new(Precision::Ns, 0);
    let report = parser.parse_lines(body.as_bytes(), |_| {});
    assert!(report.is_ok(), "{:?}", report.errors.first());
    eprintln!(
        "body: {} lines, {} points ({:.2} points/line), {} bytes ({:.0} bytes/line)",
        LINES,
        report.points,
        report.points as f64 / LINES as f64,
        body.len(),
        body.len() as f64 / LINES as f64
    );

    let mut g = c.benchmark_group("lines");
    g.throughput(Throughput::Elements(LINES as u64));
    g.bench_function("parse_lines_zero_copy", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            let r = parser.parse_lines(black_box(body.as_bytes()), |l| {
                sum += l.fields.len() as f64;
            });
            black_box((r.points, sum))
        })
    });
    g.bench_function("parse_lines_with_id_cache", |b| {
        // The write path: one hash lookup per line by the raw key, then the line's fields
        // among the fields seen for that key (a short list). The canonical key is built only
        // for a series not seen before, and a hit allocates nothing.
        let mut ids: HashMap<String, Vec<(String, u64)>> = HashMap::new();
        let mut next_id = 0u64;
        let mut canonical = String::new();
        b.iter(|| {
            let mut sum = 0u64;
            parser.parse_lines(black_box(body.as_bytes()), |l| {
                let mut resolve = |known: &mut Vec<(String, u64)>| {
                    for (i, (f, v)) in l.fields.iter().enumerate() {
                        let id = match known.iter().find(|(name, _)| name == f) {
                            Some((_, id)) => *id,
                            None => {
                                canonical.clear();
                                l.write_canonical_key(i, &mut canonical);
                                next_id += 1;
                                known.push((f.to_string(), next_id));
                                next_id
                            }
                        };
                        sum = sum.wrapping_add(id ^ v.as_f64().unwrap_or(0.0).to_bits());
                    }
                };
                match ids.get_mut(l.raw_key) {
                    Some(known) => resolve(known),
                    None => resolve(ids.entry(l.raw_key.to_owned()).or_default()),
                }
            });
            black_box(sum)
        })
    });
    g.bench_function("parse_owned_points", |b| {
        b.iter(|| {
            let mut n = 0usize;
            parser.parse(black_box(body.as_bytes()), |p| {
                n += p.key.field().len();
            });
            black_box(n)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("bytes");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("parse_lines_zero_copy", |b| {
        b.iter(|| {
            black_box(
                parser
                    .parse_lines(black_box(body.as_bytes()), |_| {})
                    .points,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
