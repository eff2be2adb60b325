//! `readuntil` with one or several separators, by asyncio 3.13's rules: the match
//! that ends first wins (the shortest separator of those ending there), the limit
//! counts the bytes before it, and the search resumes where the last one stopped.

use std::io;
use std::task::{Context, Poll};

use super::StreamReader;
use crate::net::streams::error::{IncompleteReadError, ReadUntilError};

impl StreamReader {
    pub(super) fn poll_readuntil(
        &mut self,
        seps: &[&[u8]],
        cx: &mut Context<'_>,
    ) -> Poll<Result<Vec<u8>, ReadUntilError>> {
        let invalid = |message: &str| {
            Poll::Ready(Err(ReadUntilError::Incomplete(IncompleteReadError {
                partial: Vec::new(),
                expected: None,
                error: Some(io::Error::new(io::ErrorKind::InvalidInput, message)),
            })))
        };
        let (Some(min_len), Some(max_len)) = (
            seps.iter().map(|s| s.len()).min(),
            seps.iter().map(|s| s.len()).max(),
        ) else {
            return invalid("readuntil needs at least one separator");
        };
        if min_len == 0 {
            return invalid("the separator must have at least one byte");
        }
        if let Some(e) = self.failed() {
            return Poll::Ready(Err(ReadUntilError::Incomplete(IncompleteReadError {
                partial: Vec::new(),
                expected: None,
                error: Some(e),
            })));
        }
        self.reclaim();
        loop {
            let data = &self.buf[self.pos..];
            // `searched`: no separator starts before it (asyncio's `offset`).
            if data.len() - self.searched.min(data.len()) >= min_len {
                if let Some((start, end)) = earliest(data, self.searched, seps) {
                    if start > self.limit {
                        return Poll::Ready(Err(ReadUntilError::LimitOverrun { consumed: start }));
                    }
                    return Poll::Ready(Ok(self.take(end)));
                }
                self.searched = (data.len() + 1).saturating_sub(max_len);
                if self.searched > self.limit {
                    return Poll::Ready(Err(ReadUntilError::LimitOverrun {
                        consumed: self.searched,
                    }));
                }
            }
            // Enough bytes to find a separator ending past the limit, or to
            // overrun it: no more are needed.
            let want = self.limit.saturating_add(max_len);
            let error = match std::task::ready!(self.poll_fill(want, cx)) {
                Ok(0) => None,
                Ok(_) => continue,
                Err(e) => Some(e),
            };
            return Poll::Ready(Err(ReadUntilError::Incomplete(IncompleteReadError {
                partial: self.take(usize::MAX),
                expected: None,
                error,
            })));
        }
    }

    pub(super) fn poll_readline(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Vec<u8>, ReadUntilError>> {
        match std::task::ready!(self.poll_readuntil(&[b"\n"], cx)) {
            Ok(line) => Poll::Ready(Ok(line)),
            Err(ReadUntilError::Incomplete(e)) if e.error.is_none() => Poll::Ready(Ok(e.partial)),
            Err(ReadUntilError::LimitOverrun { consumed }) => {
                let data = &self.buf[self.pos..];
                let drop = if data[consumed..].starts_with(b"\n") {
                    consumed + 1
                } else {
                    data.len()
                };
                self.consume(drop);
                Poll::Ready(Err(ReadUntilError::LimitOverrun { consumed }))
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

/// The separator that ends first in `data`, searching from `from`: its start and
/// end. Of separators ending at the same place, the shortest (asyncio sorts the
/// separators by length and keeps the first match with the smallest end).
fn earliest(data: &[u8], from: usize, seps: &[&[u8]]) -> Option<(usize, usize)> {
    let data = &data[from.min(data.len())..];
    seps.iter()
        .filter_map(|sep| find(data, sep).map(|at| (from + at + sep.len(), sep.len())))
        .min()
        .map(|(end, len)| (end - len, end))
}

/// The position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return haystack.iter().position(|&b| b == needle[0]);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}
