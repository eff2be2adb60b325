//! [`StreamFeeder`]: bytes, an end or an error handed to a
//! [`StreamReader`](super::StreamReader) by the program rather than received, as
//! an asyncio protocol calls its reader's `feed_data`, `feed_eof` and
//! `set_exception`. For readers without a transport
//! ([`StreamReader::new`](super::StreamReader::new)), in protocol tests and
//! parsers fed from elsewhere.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::task::Waker;

use super::error::SavedError;

/// What was fed and the reader has not taken yet.
#[derive(Default)]
pub(crate) struct Feed {
    pub(crate) data: Vec<u8>,
    pub(crate) eof: bool,
    pub(crate) exception: Option<SavedError>,
    /// The reader waiting for something to be fed.
    pub(crate) waker: Option<Waker>,
}

pub(crate) fn fed_after_eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "data fed to a stream reader after its end (feed_eof)",
    )
}

/// Feeds a [`StreamReader`](super::StreamReader) from another task, while it
/// reads: from [`StreamReader::feeder`](super::StreamReader::feeder). Clones feed
/// the same reader.
///
/// ```
/// use ringloop::net::StreamReader;
/// # ringloop::run(async {
/// let mut reader = StreamReader::new();
/// let feeder = reader.feeder();
/// ringloop::spawn(async move {
///     feeder.feed_data(b"hello ").unwrap();
///     ringloop::sleep(std::time::Duration::from_millis(1)).await;
///     feeder.feed_data(b"world\nrest").unwrap();
///     feeder.feed_eof();
/// });
/// assert_eq!(reader.readline().await.unwrap(), b"hello world\n");
/// assert_eq!(reader.readline().await.unwrap(), b"rest");
/// assert!(reader.at_eof());
/// # });
/// ```
#[derive(Clone)]
pub struct StreamFeeder {
    feed: Rc<RefCell<Feed>>,
}

impl std::fmt::Debug for StreamFeeder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let feed = self.feed.borrow();
        f.debug_struct("StreamFeeder")
            .field("pending", &feed.data.len())
            .field("eof", &feed.eof)
            .finish_non_exhaustive()
    }
}

impl StreamFeeder {
    pub(crate) fn new(feed: Rc<RefCell<Feed>>) -> StreamFeeder {
        StreamFeeder { feed }
    }

    /// Hands `data` to the reader, after what it holds (asyncio's `feed_data`);
    /// a reader waiting for data wakes up. Fails with `InvalidInput` after
    /// [`feed_eof`](Self::feed_eof).
    pub fn feed_data(&self, data: &[u8]) -> io::Result<()> {
        let mut feed = self.feed.borrow_mut();
        if feed.eof {
            return Err(fed_after_eof());
        }
        if data.is_empty() {
            return Ok(());
        }
        feed.data.extend_from_slice(data);
        wake(feed);
        Ok(())
    }

    /// Ends the stream after the data fed so far (asyncio's `feed_eof`).
    pub fn feed_eof(&self) {
        let mut feed = self.feed.borrow_mut();
        feed.eof = true;
        wake(feed);
    }

    /// Makes every later read of the reader fail with `error` (asyncio's
    /// `set_exception`), including one waiting now.
    pub fn set_exception(&self, error: io::Error) {
        let mut feed = self.feed.borrow_mut();
        feed.exception = Some(SavedError::new(&error));
        wake(feed);
    }
}

fn wake(mut feed: std::cell::RefMut<'_, Feed>) {
    let waker = feed.waker.take();
    drop(feed);
    if let Some(waker) = waker {
        waker.wake();
    }
}
