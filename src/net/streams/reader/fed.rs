//! What the program hands a [`StreamReader`] instead of a transport (asyncio's
//! `feed_data`, `feed_eof`, `set_exception`), and the exception reads fail with.

use std::io;
use std::rc::Rc;

use super::StreamReader;
use crate::net::streams::error::SavedError;
use crate::net::streams::feed::{fed_after_eof, StreamFeeder};

impl StreamReader {
    /// Hands `data` to the reader as if it had been received, after what it
    /// holds (asyncio's `feed_data`). Fails with `InvalidInput` after the end of
    /// the stream.
    pub fn feed_data(&mut self, data: &[u8]) -> io::Result<()> {
        self.take_feed();
        if self.eof {
            return Err(fed_after_eof());
        }
        self.feeder().feed_data(data)?;
        self.take_feed();
        Ok(())
    }

    /// Ends the stream after what the reader holds (asyncio's `feed_eof`): reads
    /// then stop receiving.
    pub fn feed_eof(&mut self) {
        self.feeder().feed_eof();
        self.take_feed();
    }

    /// A handle that feeds this reader from another task (`feed_data`,
    /// `feed_eof`, `set_exception`) while it reads.
    pub fn feeder(&mut self) -> StreamFeeder {
        StreamFeeder::new(self.feed.get_or_insert_with(Rc::default).clone())
    }

    /// Makes every later read fail with `error`, at once (asyncio's
    /// `set_exception`); the buffered bytes stay where they are.
    pub fn set_exception(&mut self, error: io::Error) {
        self.exception = Some(SavedError::new(&error));
    }

    /// The error reads fail with: the one given to
    /// [`set_exception`](Self::set_exception), else the one that ended the
    /// connection (a reset seen by this reader or by the writer of the same
    /// connection). A copy: the same errno, or the same kind and message.
    pub fn exception(&self) -> Option<io::Error> {
        if let Some(e) = &self.exception {
            return Some(e.to_error());
        }
        if let Some(e) = &self.lost {
            return Some(e.to_error());
        }
        self.inflow.as_ref().and_then(|i| i.transport().lost())
    }

    /// The `set_exception` error, which every read starts by checking.
    pub(super) fn failed(&self) -> Option<io::Error> {
        self.exception.as_ref().map(SavedError::to_error)
    }

    /// Moves what was fed into the buffer: whether anything was (bytes, the end,
    /// an exception).
    pub(super) fn take_feed(&mut self) -> bool {
        let Some(feed) = &self.feed else {
            return false;
        };
        if let Some(inflow) = &mut self.inflow {
            inflow.reclaim(&mut self.buf);
        }
        let mut feed = feed.borrow_mut();
        let mut taken = false;
        if !feed.data.is_empty() {
            if self.buf.len() == self.pos {
                self.buf.clear();
                self.pos = 0;
                std::mem::swap(&mut self.buf, &mut feed.data);
            } else {
                self.buf.extend_from_slice(&feed.data);
                feed.data.clear();
            }
            taken = true;
        }
        if let Some(e) = feed.exception.take() {
            self.exception = Some(e);
            taken = true;
        }
        if feed.eof && !self.eof {
            self.eof = true;
            taken = true;
        }
        taken
    }
}
