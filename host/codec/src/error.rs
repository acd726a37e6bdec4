use clio_storage::{StorageError, Timestamp};

/// Why a chunk could not be encoded or decoded.
///
/// Encoding errors (`Empty` … `StringTooLong`) describe bad input; decoding errors
/// (`Truncated` … `Decompress`) describe damaged or foreign bytes. Decoding never panics: any
/// byte string either decodes or yields one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// `encode_chunk` was given no points; a chunk always holds at least one.
    #[error("a chunk needs at least one point")]
    Empty,
    /// More points than [`crate::MAX_CHUNK_POINTS`] (on encode, or declared by a header).
    #[error("{count} points exceed the chunk limit of {max}")]
    TooManyPoints {
        /// How many points there were (or the header claimed).
        count: u64,
        /// The limit.
        max: usize,
    },
    /// Timestamps must be strictly ascending (no duplicates).
    #[error("timestamps not strictly ascending at index {index}: {ts} follows {prev}")]
    NotAscending {
        /// Index of the offending point.
        index: usize,
        /// The timestamp before it.
        prev: Timestamp,
        /// Its timestamp.
        ts: Timestamp,
    },
    /// A `Value::Num` holding NaN or an infinity, which `Value` forbids.
    #[error("number at index {index} is not finite")]
    NotFinite {
        /// Index of the offending point.
        index: usize,
    },
    /// A string value longer than [`crate::MAX_STRING_BYTES`].
    #[error("string at index {index} is {len} bytes, more than the limit of {max}")]
    StringTooLong {
        /// Index of the offending point.
        index: usize,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes end before the chunk does.
    #[error("chunk truncated while reading {what}")]
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// The version byte names a format this build does not know.
    #[error("unsupported chunk format version {0}")]
    BadVersion(u8),
    /// The bytes are structurally invalid.
    #[error("corrupt chunk: {what}")]
    Corrupt {
        /// What is wrong.
        what: String,
    },
    /// The zstd-compressed body could not be decompressed.
    #[error("chunk decompression failed: {0}")]
    Decompress(String),
}

impl CodecError {
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        CodecError::Corrupt { what: what.into() }
    }

    /// True for errors caused by the points handed to `encode_chunk` rather than by stored bytes.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            CodecError::Empty
                | CodecError::TooManyPoints { .. }
                | CodecError::NotAscending { .. }
                | CodecError::NotFinite { .. }
                | CodecError::StringTooLong { .. }
        )
    }
}

/// Input errors become [`StorageError::InvalidInput`]; everything about stored bytes becomes
/// [`StorageError::Corrupt`] with `what = "chunk"`, so backends can use `?` directly.
impl From<CodecError> for StorageError {
    fn from(e: CodecError) -> Self {
        if e.is_input_error() {
            StorageError::InvalidInput(e.to_string())
        } else {
            StorageError::Corrupt {
                what: "chunk".to_owned(),
                detail: e.to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_error_mapping_distinguishes_input_from_damage() {
        let e: StorageError = CodecError::Empty.into();
        assert!(matches!(e, StorageError::InvalidInput(_)));
        let e: StorageError = CodecError::Truncated { what: "header" }.into();
        match e {
            StorageError::Corrupt { what, detail } => {
                assert_eq!(what, "chunk");
                assert!(detail.contains("header"), "{detail}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
