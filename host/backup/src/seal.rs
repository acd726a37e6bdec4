//! One file of a backup as stored: zstd-compressed and, with a key, encrypted.
//!
//! Encrypted files are ChaCha20-Poly1305 in the STREAM construction (each 64 KiB of
//! compressed data sealed on its own, with a counter and a last-chunk flag in the nonce), so
//! that a file of any size is written and checked in constant memory, a changed byte fails
//! its chunk's tag, and a file cut short or with chunks moved fails too:
//!
//! ```text
//! "CLIOENC1" | 7-byte nonce prefix | frames: (1 byte: 0 = more, 1 = last) (u32 LE length) sealed chunk
//! ```

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{BackupError, Result};
use crate::key::Key;

const MAGIC: &[u8; 8] = b"CLIOENC1";
const NONCE_PREFIX: usize = 7;
const CHUNK: usize = 64 << 10;
const TAG: usize = 16;

/// Sizes and checksums of one file, as the manifest records them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    /// Bytes of the original.
    pub bytes: u64,
    /// SHA-256 of the original, hex.
    pub sha256: String,
    /// Bytes as stored.
    pub stored_bytes: u64,
    /// SHA-256 of the stored file, hex.
    pub stored_sha256: String,
}

/// A writer that hashes and counts what passes through.
struct Tally<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Tally<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts what passes through.
pub(crate) struct TallyRead<R> {
    inner: R,
    hash: Sha256,
    bytes: u64,
}

impl<R: Read> Read for TallyRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<R> TallyRead<R> {
    pub(crate) fn new(inner: R) -> Self {
        TallyRead {
            inner,
            hash: Sha256::new(),
            bytes: 0,
        }
    }
    pub(crate) fn finish(self) -> (u64, String) {
        (self.bytes, hex(&self.hash.finalize()))
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Encrypts everything written to it, a chunk at a time.
struct Encrypting<W: Write> {
    out: W,
    enc: Option<EncryptorBE32<ChaCha20Poly1305>>,
    buf: Vec<u8>,
}

impl<W: Write> Encrypting<W> {
    fn new(mut out: W, key: &Key) -> io::Result<Self> {
        let mut prefix = [0u8; NONCE_PREFIX];
        rand::rng().fill_bytes(&mut prefix);
        out.write_all(MAGIC)?;
        out.write_all(&prefix)?;
        let cipher = ChaCha20Poly1305::new(key.bytes().into());
        Ok(Encrypting {
            out,
            enc: Some(EncryptorBE32::from_aead(cipher, (&prefix).into())),
            buf: Vec::with_capacity(CHUNK),
        })
    }

    fn frame(&mut self, last: bool) -> io::Result<()> {
        let Some(enc) = self.enc.as_mut() else {
            return Err(io::Error::other("encrypted stream already finished"));
        };
        let sealed = if last {
            let Some(enc) = self.enc.take() else {
                return Err(io::Error::other("encrypted stream already finished"));
            };
            enc.encrypt_last(self.buf.as_slice())
        } else {
            enc.encrypt_next(self.buf.as_slice())
        }
        .map_err(|_| io::Error::other("encryption failed"))?;
        self.out.write_all(&[u8::from(last)])?;
        self.out.write_all(&(sealed.len() as u32).to_le_bytes())?;
        self.out.write_all(&sealed)?;
        self.buf.clear();
        Ok(())
    }

    fn finish(mut self) -> io::Result<W> {
        self.frame(true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for Encrypting<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.frame(false)?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Decrypts a stream written by [`Encrypting`].
pub(crate) struct Decrypting<R: Read> {
    input: R,
    dec: Option<DecryptorBE32<ChaCha20Poly1305>>,
    plain: Vec<u8>,
    at: usize,
    done: bool,
    file: String,
}

impl<R: Read> Decrypting<R> {
    fn new(mut input: R, key: &Key, file: &str) -> Result<Self> {
        let mut head = [0u8; 8 + NONCE_PREFIX];
        input
            .read_exact(&mut head)
            .map_err(|_| BackupError::corrupt(file, "too short for an encrypted file"))?;
        if &head[..8] != MAGIC {
            return Err(BackupError::corrupt(file, "not an encrypted backup file"));
        }
        let prefix: [u8; NONCE_PREFIX] = head[8..]
            .try_into()
            .map_err(|_| BackupError::corrupt(file, "bad header"))?;
        let cipher = ChaCha20Poly1305::new(key.bytes().into());
        Ok(Decrypting {
            input,
            dec: Some(DecryptorBE32::from_aead(cipher, (&prefix).into())),
            plain: Vec::new(),
            at: 0,
            done: false,
            file: file.to_owned(),
        })
    }

    fn next_frame(&mut self) -> io::Result<()> {
        let mut head = [0u8; 5];
        if let Err(e) = self.input.read_exact(&mut head) {
            return Err(if e.kind() == io::ErrorKind::UnexpectedEof {
                invalid(&self.file, "cut short: its last chunk is missing")
            } else {
                e
            });
        }
        let last = match head[0] {
            0 => false,
            1 => true,
            _ => return Err(invalid(&self.file, "bad chunk header")),
        };
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if !(TAG..=CHUNK + TAG).contains(&len) {
            return Err(invalid(&self.file, "bad chunk length"));
        }
        let mut sealed = vec![0u8; len];
        self.input
            .read_exact(&mut sealed)
            .map_err(|_| invalid(&self.file, "cut short inside a chunk"))?;
        let failed = || {
            invalid(
                &self.file,
                "a chunk fails its authentication tag: the file was changed, or the key is wrong",
            )
        };
        self.plain = if last {
            let dec = self.dec.take().ok_or_else(failed)?;
            self.done = true;
            dec.decrypt_last(sealed.as_slice()).map_err(|_| failed())?
        } else {
            let dec = self.dec.as_mut().ok_or_else(failed)?;
            dec.decrypt_next(sealed.as_slice()).map_err(|_| failed())?
        };
        self.at = 0;
        Ok(())
    }
}

fn invalid(file: &str, what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{file}: {what}"))
}

impl<R: Read> Read for Decrypting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.plain.len() {
            if self.done {
                return Ok(0);
            }
            self.next_frame()?;
        }
        let n = buf.len().min(self.plain.len() - self.at);
        buf[..n].copy_from_slice(&self.plain[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Compresses (and with a key encrypts) `from` into `to`.
pub(crate) fn seal(from: &Path, to: &Path, key: Option<&Key>, level: i32) -> Result<Sealed> {
    let io_err = |what: &str, p: &Path| {
        let p = p.display().to_string();
        let what = what.to_owned();
        move |e: io::Error| BackupError::Io {
            what: format!("{what} {p}"),
            source: e,
        }
    };
    let mut input = TallyRead::new(BufReader::new(
        File::open(from).map_err(io_err("opening", from))?,
    ));
    let out = Tally {
        inner: BufWriter::new(File::create(to).map_err(io_err("creating", to))?),
        hash: Sha256::new(),
        bytes: 0,
    };
    let tally = match key {
        Some(key) => {
            let enc = Encrypting::new(out, key).map_err(io_err("writing", to))?;
            let mut z = zstd::Encoder::new(enc, level).map_err(io_err("compressing", from))?;
            io::copy(&mut input, &mut z).map_err(io_err("compressing", from))?;
            let enc = z.finish().map_err(io_err("compressing", from))?;
            enc.finish().map_err(io_err("writing", to))?
        }
        None => {
            let mut z = zstd::Encoder::new(out, level).map_err(io_err("compressing", from))?;
            io::copy(&mut input, &mut z).map_err(io_err("compressing", from))?;
            let mut out = z.finish().map_err(io_err("compressing", from))?;
            out.flush().map_err(io_err("writing", to))?;
            out
        }
    };
    let file = tally.inner.into_inner().map_err(|e| BackupError::Io {
        what: format!("writing {}", to.display()),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io_err("syncing", to))?;
    let (bytes, sha256) = input.finish();
    Ok(Sealed {
        bytes,
        sha256,
        stored_bytes: tally.bytes,
        stored_sha256: hex(&tally.hash.finalize()),
    })
}

/// A reader of a stored file's original bytes (decrypting and decompressing).
pub(crate) fn open(stored: &Path, key: Option<&Key>, name: &str) -> Result<Box<dyn Read>> {
    let file = File::open(stored).map_err(|e| BackupError::Io {
        what: format!("opening {}", stored.display()),
        source: e,
    })?;
    let raw = BufReader::new(file);
    let compressed: Box<dyn Read> = match key {
        Some(key) => Box::new(Decrypting::new(raw, key, name)?),
        None => Box::new(raw),
    };
    let z = zstd::Decoder::new(compressed).map_err(|e| BackupError::Io {
        what: format!("decompressing {name}"),
        source: e,
    })?;
    Ok(Box::new(z))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(
        data: &[u8],
        key: Option<&Key>,
    ) -> (Sealed, Vec<u8>, std::path::PathBuf, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, data).unwrap();
        let s = seal(&a, &b, key, 3).unwrap();
        let mut back = Vec::new();
        open(&b, key, "a").unwrap().read_to_end(&mut back).unwrap();
        (s, back, b, dir)
    }

    #[test]
    fn files_come_back_whole_with_and_without_a_key() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let key = Key::from_bytes([7; 32]);
        for k in [None, Some(&key)] {
            let (s, back, _, _d) = roundtrip(&data, k);
            assert_eq!(back, data);
            assert_eq!(s.bytes, data.len() as u64);
            assert!(s.stored_bytes < s.bytes);
        }
        let (_, back, _, _d) = roundtrip(b"", Some(&key));
        assert!(back.is_empty());
    }

    #[test]
    fn a_wrong_key_a_changed_byte_and_a_cut_file_are_named() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let key = Key::from_bytes([1; 32]);
        let (_, _, stored, _d) = roundtrip(&data, Some(&key));
        let read_all = |k: &Key| -> std::result::Result<Vec<u8>, String> {
            let mut out = Vec::new();
            open(&stored, Some(k), "a")
                .map_err(|e| e.to_string())?
                .read_to_end(&mut out)
                .map_err(|e| e.to_string())?;
            Ok(out)
        };
        let e = read_all(&Key::from_bytes([2; 32])).unwrap_err();
        assert!(e.contains("authentication tag"), "{e}");
        let good = std::fs::read(&stored).unwrap();
        let mut bad = good.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 1;
        std::fs::write(&stored, &bad).unwrap();
        assert!(read_all(&key).unwrap_err().contains("a:"));
        std::fs::write(&stored, &good[..good.len() - 20]).unwrap();
        let e = read_all(&key).unwrap_err();
        assert!(e.contains("cut short"), "{e}");
    }
}
