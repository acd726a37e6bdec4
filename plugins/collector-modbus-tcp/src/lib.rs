//! Collector `modbus-tcp`: reads holding and input registers from one Modbus TCP device and
//! writes each configured value (16- or 32-bit integer or 32-bit float, any byte and word
//! order) as `raw × scale + offset`.
//!
//! Configuration:
//! - `address`: the device, `ip:port` (granted in the instance's `tcp` list);
//! - `unit` (default 1): the unit (slave) id;
//! - `timeout_ms` (default 2000): per request, where the platform has socket timeouts;
//! - `registers`: a list of `{ key, address, table = "holding"|"input" (default holding),
//!   type = "u16"|"i16"|"u32"|"i32"|"f32" (default u16), byte_order = "big"|"little",
//!   word_order = "high_first"|"low_first", scale = 1.0, offset = 0.0 }`.
//!
//! Values in adjacent registers of one table are read together (one request of at most 125
//! registers; gaps are not bridged). The connection is kept between runs and made anew after
//! an error. One failed read fails the run (its error names the values and registers), so a
//! device that went away shows as an error.
#![deny(missing_docs)]

use std::time::Duration;

use clio_sdk::collector::Sample;
use clio_sdk::modbus::{ByteOrder, DataType, MAX_REGISTERS, ModbusTcp, Table, WordOrder, decode};
use clio_sdk::{Error, Result, bad_argument};

/// The instance's configuration, and the open connection.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    address: String,
    #[serde(default = "one")]
    unit: u8,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    registers: Vec<Register>,
    #[serde(skip)]
    conn: Option<ModbusTcp>,
}

/// One value to read.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    key: String,
    address: u16,
    #[serde(default = "holding")]
    table: Table,
    #[serde(default = "u16_type", rename = "type")]
    ty: DataType,
    #[serde(default)]
    byte_order: ByteOrder,
    #[serde(default)]
    word_order: WordOrder,
    #[serde(default = "one_f")]
    scale: f64,
    #[serde(default)]
    offset: f64,
}

fn one() -> u8 {
    1
}
fn one_f() -> f64 {
    1.0
}
fn holding() -> Table {
    Table::Holding
}
fn u16_type() -> DataType {
    DataType::U16
}
fn default_timeout_ms() -> u64 {
    2000
}

impl Register {
    /// The value from the register(s) read for it.
    pub fn value(&self, regs: &[u16]) -> Option<f64> {
        decode(regs, self.ty, self.byte_order, self.word_order)
            .map(|v| v * self.scale + self.offset)
    }
}

/// One read request: `count` registers of `table` from `address`, serving `members` (indexes
/// into the register list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    table: Table,
    address: u16,
    count: u16,
    members: Vec<usize>,
}

/// Groups the registers into as few reads as possible: values whose registers are adjacent
/// or overlapping in the same table share one read of at most 125 registers. Gaps are never
/// bridged, since a device may answer "illegal data address" for registers it does not have.
pub fn plan(regs: &[Register]) -> Vec<Span> {
    let mut order: Vec<usize> = (0..regs.len()).collect();
    order.sort_by_key(|&i| (regs[i].table == Table::Input, regs[i].address));
    let mut spans: Vec<Span> = Vec::new();
    for i in order {
        let r = &regs[i];
        let end = u32::from(r.address) + u32::from(r.ty.registers());
        if let Some(s) = spans.last_mut()
            && s.table == r.table
            && u32::from(r.address) <= u32::from(s.address) + u32::from(s.count)
            && end - u32::from(s.address) <= u32::from(MAX_REGISTERS)
        {
            let new_count = (end - u32::from(s.address)).max(u32::from(s.count));
            // At most MAX_REGISTERS, checked above.
            s.count = u16::try_from(new_count).unwrap_or(MAX_REGISTERS);
            s.members.push(i);
            continue;
        }
        spans.push(Span {
            table: r.table,
            address: r.address,
            count: r.ty.registers(),
            members: vec![i],
        });
    }
    spans
}

fn read_all(conn: &mut ModbusTcp, regs: &[Register]) -> Result<Vec<Sample>> {
    let mut values: Vec<Option<f64>> = vec![None; regs.len()];
    for span in plan(regs) {
        let raw = conn
            .read(span.table, span.address, span.count)
            .map_err(|e| {
                let keys: Vec<&str> = span.members.iter().map(|&i| regs[i].key.as_str()).collect();
                Error::Failed(format!(
                    "{} (registers {}..{}): {e}",
                    keys.join(", "),
                    span.address,
                    u32::from(span.address) + u32::from(span.count)
                ))
            })?;
        for &i in &span.members {
            let r = &regs[i];
            let from = usize::from(r.address - span.address);
            let mine = raw.get(from..).unwrap_or_default();
            let v = r
                .value(mine)
                .filter(|v| v.is_finite())
                .ok_or_else(|| Error::Failed(format!("{}: no finite value in {mine:?}", r.key)))?;
            values[i] = Some(v);
        }
    }
    Ok(regs
        .iter()
        .zip(values)
        .filter_map(|(r, v)| v.map(|v| Sample::num(&r.key, v)))
        .collect())
}

/// One run: every register once, over the kept connection.
#[clio_sdk::collector(name = "modbus-tcp")]
pub fn collect(c: &mut Config, _now: i64) -> Result<Vec<Sample>> {
    if c.registers.is_empty() {
        return Err(bad_argument("registers", "names no register"));
    }
    let mut conn = match c.conn.take() {
        Some(conn) => conn,
        None => ModbusTcp::connect(
            &c.address,
            c.unit,
            Duration::from_millis(c.timeout_ms.max(1)),
        )?,
    };
    let out = read_all(&mut conn, &c.registers)?;
    // Kept only after a clean run: after an error the stream may hold a late answer.
    c.conn = Some(conn);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clio_sdk::collector::parse_config;

    #[test]
    fn registers_decode_with_scale_and_offset() {
        let c: Config = parse_config(
            r#"{"address": "127.0.0.1:502", "registers": [
                {"key": "a v", "address": 0, "scale": 0.1, "offset": -40},
                {"key": "b v", "address": 2, "table": "input", "type": "f32",
                 "byte_order": "little", "word_order": "low_first"}]}"#,
        )
        .unwrap();
        assert_eq!(c.unit, 1);
        assert_eq!(c.registers[0].value(&[650]), Some(25.0));
        assert_eq!(c.registers[1].table, Table::Input);
        assert_eq!(c.registers[1].value(&[0x0000, 0xC0BF]), Some(-1.5));
        assert!(
            parse_config::<Config>(
                r#"{"address": "a", "registers": [{"key": "k", "address": 0, "type": "u64"}]}"#
            )
            .is_err()
        );
        assert!(parse_config::<Config>(r#"{"registers": []}"#).is_err());
    }

    fn reg(table: Table, address: u16, ty: DataType) -> Register {
        Register {
            key: format!("r{address} v"),
            address,
            table,
            ty,
            byte_order: ByteOrder::Big,
            word_order: WordOrder::HighFirst,
            scale: 1.0,
            offset: 0.0,
        }
    }

    #[test]
    fn adjacent_registers_share_a_read() {
        use DataType::{F32, U16};
        use Table::{Holding, Input};
        let regs = [
            reg(Holding, 2, F32),
            reg(Input, 0, U16),
            reg(Holding, 0, U16),
            reg(Holding, 1, U16),
            reg(Holding, 10, U16), // a gap: its own read
            reg(Holding, 3, U16),  // inside the f32 at 2..4
            reg(Input, 1, F32),
        ];
        let spans = plan(&regs);
        let got: Vec<(Table, u16, u16, Vec<usize>)> = spans
            .into_iter()
            .map(|s| (s.table, s.address, s.count, s.members))
            .collect();
        assert_eq!(
            got,
            [
                (Holding, 0, 4, vec![2, 3, 0, 5]),
                (Holding, 10, 1, vec![4]),
                (Input, 0, 3, vec![1, 6]),
            ]
        );
        // At most 125 registers a read.
        let many: Vec<Register> = (0..130).map(|a| reg(Holding, a, U16)).collect();
        let spans = plan(&many);
        assert_eq!(spans.iter().map(|s| s.count).collect::<Vec<_>>(), [125, 5]);
        // The top of the address space does not overflow.
        let top = [reg(Holding, 65535, U16), reg(Holding, 65534, F32)];
        assert_eq!(plan(&top).len(), 1);
    }
}
