//! Modbus TCP register reads for collectors: function codes 3 (read holding registers) and 4
//! (read input registers), and the decoding of 16- and 32-bit integers and 32-bit floats with
//! any byte and word order, scale and offset.
//!
//! The framing is written here rather than taken from a crate: a read is a 12-byte request and
//! a short response. `rmodbus` (no_std) is mainly a server framework with a context store,
//! `async-modbus` and `fennec-modbus` are young and built around async I/O traits, and
//! `tokio-modbus` needs tokio, which a `wasm32-wasip2` guest does not have. Connections go through `std::net::TcpStream`,
//! which in a collector component is `wasi:sockets` TCP, so only the addresses granted in the
//! instance's `tcp` list can be reached.
//!
//! ```
//! use clio_sdk::modbus::{ByteOrder, DataType, WordOrder, decode};
//! // 0x4148_0000 is 12.5 as an f32, big-endian words, high word first.
//! let v = decode(&[0x4148, 0x0000], DataType::F32, ByteOrder::Big, WordOrder::HighFirst);
//! assert_eq!(v, Some(12.5));
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// Which register table a read addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Table {
    /// Holding registers, function code 3.
    Holding,
    /// Input registers, function code 4.
    Input,
}

impl Table {
    /// The function code that reads the table.
    pub fn function_code(self) -> u8 {
        match self {
            Table::Holding => 3,
            Table::Input => 4,
        }
    }
}

/// How a value is laid out in registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// One register, unsigned.
    U16,
    /// One register, two's complement.
    I16,
    /// Two registers, unsigned.
    U32,
    /// Two registers, two's complement.
    I32,
    /// Two registers, IEEE 754 single precision.
    F32,
}

impl DataType {
    /// Registers the value takes.
    pub fn registers(self) -> u16 {
        match self {
            DataType::U16 | DataType::I16 => 1,
            DataType::U32 | DataType::I32 | DataType::F32 => 2,
        }
    }
}

/// The order of the two bytes within a register. Modbus is big-endian; some devices swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ByteOrder {
    /// High byte first (the Modbus standard).
    #[default]
    Big,
    /// Low byte first.
    Little,
}

/// The order of the two registers of a 32-bit value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WordOrder {
    /// The high word is at the lower address (most devices).
    #[default]
    HighFirst,
    /// The low word is at the lower address.
    LowFirst,
}

/// Most registers one read may ask for (the protocol's limit for codes 3 and 4).
pub const MAX_REGISTERS: u16 = 125;

/// The 12-byte Modbus TCP request (MBAP header and PDU) that reads `count` registers from
/// `address` of `table` on `unit`.
pub fn read_request(
    transaction: u16,
    unit: u8,
    table: Table,
    address: u16,
    count: u16,
) -> [u8; 12] {
    let t = transaction.to_be_bytes();
    let a = address.to_be_bytes();
    let c = count.to_be_bytes();
    // MBAP: transaction, protocol 0, length of what follows (unit + PDU = 6), unit.
    [
        t[0],
        t[1],
        0,
        0,
        0,
        6,
        unit,
        table.function_code(),
        a[0],
        a[1],
        c[0],
        c[1],
    ]
}

/// Checks a response's 7-byte MBAP header against the request and answers the length of the
/// PDU that follows it.
pub fn response_pdu_len(header: &[u8; 7], transaction: u16, unit: u8) -> Result<usize> {
    let tid = u16::from_be_bytes([header[0], header[1]]);
    let proto = u16::from_be_bytes([header[2], header[3]]);
    let len = u16::from_be_bytes([header[4], header[5]]);
    if tid != transaction {
        return Err(Error::Failed(format!(
            "modbus: response to transaction {tid}, expected {transaction}"
        )));
    }
    if proto != 0 {
        return Err(Error::Failed(format!("modbus: protocol id {proto}, not 0")));
    }
    if header[6] != unit {
        return Err(Error::Failed(format!(
            "modbus: response from unit {}, expected {unit}",
            header[6]
        )));
    }
    // `len` counts the unit byte too; a PDU is 2..=253 bytes.
    match usize::from(len) {
        n @ 3..=254 => Ok(n - 1),
        n => Err(Error::Failed(format!(
            "modbus: bad length {n} in the header"
        ))),
    }
}

/// The registers of a response PDU to a read of `count` registers with `function`.
pub fn parse_read_pdu(pdu: &[u8], function: u8, count: u16) -> Result<Vec<u16>> {
    let Some((&code, rest)) = pdu.split_first() else {
        return Err(Error::Failed("modbus: empty response".into()));
    };
    if code == function | 0x80 {
        let ex = rest.first().copied().unwrap_or(0);
        return Err(Error::Failed(format!(
            "modbus: exception {ex} ({})",
            exception_name(ex)
        )));
    }
    if code != function {
        return Err(Error::Failed(format!(
            "modbus: response function {code}, expected {function}"
        )));
    }
    let Some((&bytes, data)) = rest.split_first() else {
        return Err(Error::Failed(
            "modbus: response without a byte count".into(),
        ));
    };
    if usize::from(bytes) != data.len() || data.len() != usize::from(count) * 2 {
        return Err(Error::Failed(format!(
            "modbus: {} data bytes (count byte {bytes}), expected {}",
            data.len(),
            usize::from(count) * 2
        )));
    }
    Ok(data
        .chunks_exact(2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .collect())
}

fn exception_name(code: u8) -> &'static str {
    match code {
        1 => "illegal function",
        2 => "illegal data address",
        3 => "illegal data value",
        4 => "server device failure",
        5 => "acknowledge",
        6 => "server device busy",
        10 => "gateway path unavailable",
        11 => "gateway target device failed to respond",
        _ => "unknown",
    }
}

/// Decodes a value from its registers (as read, lowest address first); `None` when there are
/// too few registers.
pub fn decode(regs: &[u16], ty: DataType, bytes: ByteOrder, words: WordOrder) -> Option<f64> {
    let fix = |r: u16| match bytes {
        ByteOrder::Big => r,
        ByteOrder::Little => r.swap_bytes(),
    };
    match ty {
        DataType::U16 => regs.first().map(|&r| f64::from(fix(r))),
        DataType::I16 => regs.first().map(|&r| f64::from(fix(r) as i16)),
        DataType::U32 | DataType::I32 | DataType::F32 => {
            let (a, b) = (fix(*regs.first()?), fix(*regs.get(1)?));
            let (hi, lo) = match words {
                WordOrder::HighFirst => (a, b),
                WordOrder::LowFirst => (b, a),
            };
            let raw = (u32::from(hi) << 16) | u32::from(lo);
            Some(match ty {
                DataType::U32 => f64::from(raw),
                DataType::I32 => f64::from(raw as i32),
                _ => f64::from(f32::from_bits(raw)),
            })
        }
    }
}

/// A Modbus TCP connection to one device.
#[derive(Debug)]
pub struct ModbusTcp {
    stream: TcpStream,
    unit: u8,
    transaction: u16,
}

impl ModbusTcp {
    /// Connects to `addr` (`ip:port`; it must be granted in the instance's `tcp` list) and
    /// talks to `unit` there. `timeout` bounds each read and write where the platform
    /// supports it; the host's run deadline bounds the whole run in any case.
    pub fn connect(addr: &str, unit: u8, timeout: Duration) -> Result<ModbusTcp> {
        let stream = TcpStream::connect(addr)
            .map_err(|e| Error::Failed(format!("modbus: connect to {addr}: {e}")))?;
        // Not every WASI implementation has socket timeouts; the run deadline still holds.
        let _ = stream.set_read_timeout(Some(timeout));
        let _ = stream.set_write_timeout(Some(timeout));
        let _ = stream.set_nodelay(true);
        Ok(ModbusTcp {
            stream,
            unit,
            transaction: 0,
        })
    }

    /// Reads `count` (1..=125) registers from `address` of `table`.
    pub fn read(&mut self, table: Table, address: u16, count: u16) -> Result<Vec<u16>> {
        if !(1..=MAX_REGISTERS).contains(&count) {
            return Err(Error::Failed(format!(
                "modbus: a read is 1 to {MAX_REGISTERS} registers, not {count}"
            )));
        }
        self.transaction = self.transaction.wrapping_add(1);
        let req = read_request(self.transaction, self.unit, table, address, count);
        let io = |e: std::io::Error| Error::Failed(format!("modbus: {e}"));
        self.stream.write_all(&req).map_err(io)?;
        let mut header = [0u8; 7];
        self.stream.read_exact(&mut header).map_err(io)?;
        let len = response_pdu_len(&header, self.transaction, self.unit)?;
        let mut pdu = vec![0u8; len];
        self.stream.read_exact(&mut pdu).map_err(io)?;
        parse_read_pdu(&pdu, table.function_code(), count)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_request_frame() {
        assert_eq!(
            read_request(0x0102, 17, Table::Holding, 0x006B, 3),
            [1, 2, 0, 0, 0, 6, 17, 3, 0, 0x6B, 0, 3]
        );
        assert_eq!(read_request(1, 1, Table::Input, 8, 1)[7], 4);
    }

    #[test]
    fn response_headers() {
        assert_eq!(response_pdu_len(&[0, 7, 0, 0, 0, 9, 1], 7, 1).unwrap(), 8);
        assert!(response_pdu_len(&[0, 8, 0, 0, 0, 9, 1], 7, 1).is_err()); // transaction
        assert!(response_pdu_len(&[0, 7, 0, 1, 0, 9, 1], 7, 1).is_err()); // protocol
        assert!(response_pdu_len(&[0, 7, 0, 0, 0, 9, 2], 7, 1).is_err()); // unit
        assert!(response_pdu_len(&[0, 7, 0, 0, 0, 1, 1], 7, 1).is_err()); // too short
        assert!(response_pdu_len(&[0, 7, 0, 0, 1, 0, 1], 7, 1).is_err()); // too long
    }

    #[test]
    fn response_pdus() {
        assert_eq!(
            parse_read_pdu(&[3, 4, 0x02, 0x2B, 0x00, 0x64], 3, 2).unwrap(),
            [0x022B, 0x0064]
        );
        let ex = parse_read_pdu(&[0x84, 2], 4, 1).unwrap_err().to_string();
        assert!(ex.contains("illegal data address"), "{ex}");
        assert!(parse_read_pdu(&[3, 2, 0, 1], 4, 1).is_err()); // wrong function
        assert!(parse_read_pdu(&[3, 4, 0, 1], 3, 2).is_err()); // short data
        assert!(parse_read_pdu(&[3, 2, 0, 1, 2], 3, 1).is_err()); // count byte disagrees
        assert!(parse_read_pdu(&[], 3, 1).is_err());
        assert!(parse_read_pdu(&[3], 3, 1).is_err());
    }

    #[test]
    fn decoding() {
        use ByteOrder::{Big, Little};
        use DataType::*;
        use WordOrder::{HighFirst, LowFirst};
        assert_eq!(decode(&[0xFFFE], U16, Big, HighFirst), Some(65534.0));
        assert_eq!(decode(&[0xFFFE], I16, Big, HighFirst), Some(-2.0));
        assert_eq!(decode(&[0xFEFF], I16, Little, HighFirst), Some(-2.0));
        assert_eq!(
            decode(&[0x0001, 0x0002], U32, Big, HighFirst),
            Some(65538.0)
        );
        assert_eq!(decode(&[0x0002, 0x0001], U32, Big, LowFirst), Some(65538.0));
        assert_eq!(decode(&[0xFFFF, 0xFFFF], I32, Big, HighFirst), Some(-1.0));
        assert_eq!(
            decode(&[0xFFFF, 0xFFFE], U32, Big, HighFirst),
            Some(4294967294.0)
        );
        assert_eq!(decode(&[0xFFFF, 0xFFFE], I32, Big, HighFirst), Some(-2.0));
        // -1.5f32 = 0xBFC0_0000, in every layout.
        assert_eq!(decode(&[0xBFC0, 0x0000], F32, Big, HighFirst), Some(-1.5));
        assert_eq!(decode(&[0x0000, 0xBFC0], F32, Big, LowFirst), Some(-1.5));
        assert_eq!(
            decode(&[0xC0BF, 0x0000], F32, Little, HighFirst),
            Some(-1.5)
        );
        assert_eq!(decode(&[0x0000, 0xC0BF], F32, Little, LowFirst), Some(-1.5));
        assert_eq!(decode(&[1], F32, Big, HighFirst), None);
        assert_eq!(decode(&[], U16, Big, HighFirst), None);
    }
}
