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
//! The connection is kept between runs and made anew after an error. One failed read fails
//! the run (its error names the register), so a device that went away shows as an error.
#![deny(missing_docs)]

use std::time::Duration;

use clio_sdk::collector::Sample;
use clio_sdk::modbus::{ByteOrder, DataType, ModbusTcp, Table, WordOrder, decode};
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

fn read_all(conn: &mut ModbusTcp, regs: &[Register]) -> Result<Vec<Sample>> {
    let mut out = Vec::with_capacity(regs.len());
    for r in regs {
        let raw = conn
            .read(r.table, r.address, r.ty.registers())
            .map_err(|e| Error::Failed(format!("{} (register {}): {e}", r.key, r.address)))?;
        let v = r
            .value(&raw)
            .filter(|v| v.is_finite())
            .ok_or_else(|| Error::Failed(format!("{}: no finite value in {raw:?}", r.key)))?;
        out.push(Sample::num(&r.key, v));
    }
    Ok(out)
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
}
