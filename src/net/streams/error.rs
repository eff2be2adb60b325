//! The errors of [`StreamReader`](super::StreamReader)'s exact and delimited reads,
//! and [`SavedError`], an error kept to be reported again.

use std::fmt;
use std::io;

/// The stream ended (or failed) before a read could complete, like asyncio's
/// `IncompleteReadError`. No byte is lost: the bytes read so far are in `partial`,
/// and they are no longer in the reader's buffer.
#[derive(Debug)]
pub struct IncompleteReadError {
    /// The bytes read before the end of the stream or the error.
    pub partial: Vec<u8>,
    /// How many bytes were wanted (`None` for a read up to a separator).
    pub expected: Option<usize>,
    /// The I/O error that ended the read; `None` when it was the end of the stream.
    pub error: Option<io::Error>,
}

impl fmt::Display for IncompleteReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let got = self.partial.len();
        match (&self.error, self.expected) {
            (Some(e), Some(n)) => write!(f, "{got} bytes read of {n} expected, then: {e}"),
            (Some(e), None) => write!(f, "{got} bytes read, then: {e}"),
            (None, Some(n)) => write!(f, "{got} bytes read on {n} expected bytes"),
            (None, None) => write!(f, "{got} bytes read before the end of the stream"),
        }
    }
}

impl std::error::Error for IncompleteReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.as_ref().map(|e| e as _)
    }
}

impl From<IncompleteReadError> for io::Error {
    /// The I/O error, or `UnexpectedEof` (with the partial bytes inside) at the end
    /// of the stream.
    fn from(e: IncompleteReadError) -> io::Error {
        match e.error {
            Some(error) => error,
            None => io::Error::new(io::ErrorKind::UnexpectedEof, e),
        }
    }
}

/// Why [`readuntil`](super::StreamReader::readuntil) or
/// [`readline`](super::StreamReader::readline) failed.
#[derive(Debug)]
pub enum ReadUntilError {
    /// The stream ended or failed before the separator.
    Incomplete(IncompleteReadError),
    /// The separator is further than the reader's limit (found past it, or not
    /// found within it), like asyncio's `LimitOverrunError`. `consumed` counts the
    /// bytes before the separator, or, when it was not found, the buffered bytes
    /// where no separator starts (all but the last `longest separator - 1`).
    /// `readuntil` leaves the data in the buffer; `readline` drops it (up to and
    /// including the separator if it was found), as asyncio does.
    LimitOverrun {
        /// Bytes to consume to get past the data that overran the limit.
        consumed: usize,
    },
}

impl fmt::Display for ReadUntilError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadUntilError::Incomplete(e) => e.fmt(f),
            ReadUntilError::LimitOverrun { consumed } => {
                write!(f, "separator not within the limit ({consumed} bytes)")
            }
        }
    }
}

impl std::error::Error for ReadUntilError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadUntilError::Incomplete(e) => Some(e),
            ReadUntilError::LimitOverrun { .. } => None,
        }
    }
}

impl From<ReadUntilError> for io::Error {
    /// `Incomplete` as for [`IncompleteReadError`]; `LimitOverrun` as
    /// `InvalidData`.
    fn from(e: ReadUntilError) -> io::Error {
        match e {
            ReadUntilError::Incomplete(e) => e.into(),
            overrun => io::Error::new(io::ErrorKind::InvalidData, overrun),
        }
    }
}

/// An error kept to report it to every later call (`io::Error` is not `Clone`).
#[derive(Debug)]
pub(crate) struct SavedError {
    kind: io::ErrorKind,
    raw: Option<i32>,
    message: String,
}

impl SavedError {
    pub(crate) fn new(e: &io::Error) -> SavedError {
        SavedError {
            kind: e.kind(),
            raw: e.raw_os_error(),
            message: e.to_string(),
        }
    }

    /// A new error like the saved one: the same errno, or the same kind and text.
    pub(crate) fn to_error(&self) -> io::Error {
        match self.raw {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(self.kind, self.message.clone()),
        }
    }
}
