//! [`StreamReader`]: asyncio's buffered reader over a stream transport, or fed
//! by the program.
//!
//! The reader owns a buffer and at most one receive in flight (on io_uring with
//! multishot receive: one multishot receive at a time, see
//! `driver/op/recv_multi.rs`). Every read method is a `poll_*` state machine over
//! those two: a read whose future is dropped leaves the receive running inside the
//! reader, and its bytes are in the buffer for the next call. So every method is
//! cancel-safe, and nothing is ever cancelled in the kernel except when the reader
//! itself is dropped.
//!
//! How much the reader receives, and the bound on what it holds (flow control),
//! are in `receive.rs`: in short, a receive starts only for a read that needs more
//! bytes than are buffered, and what is buffered stays below what that read asks
//! for plus 64 KiB. While a read waits on a multishot receive, the buffer is lent
//! to the receive's inbox, where the arriving bytes are appended to it; every read
//! starts by taking it back (`reclaim`).
//!
//! The end of the stream: a receive that returns 0, or (multishot) an end that
//! arrived in the inbox, or `feed_eof`; `at_eof` also finds an end that waits in
//! the kernel, without receiving it. If the connection was lost with an error
//! by then, seen by either half (the writer's send met the reset, or failed
//! otherwise and shut the connection down, see `transport.rs`), reads end with
//! that error, after every byte received before it.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::error::{IncompleteReadError, ReadUntilError, SavedError};
use super::feed::Feed;
use super::receive::Inflow;
use super::transport::Transport;

#[cfg(any(feature = "tokio-io", feature = "futures-io", feature = "hyper"))]
mod borrowed;
mod fed;
mod until;

/// The default limit of `readuntil` / `readline`, as asyncio's (64 KiB).
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// An empty buffer larger than this is freed.
const SHRINK_ABOVE: usize = 256 * 1024;

/// The reading half of a stream, like asyncio's `StreamReader`.
///
/// From [`open_connection`](crate::net::open_connection), a server callback of
/// [`start_server`](crate::net::start_server),
/// [`TcpStream::into_streams`](crate::net::TcpStream::into_streams), or a child
/// process's piped stdout or stderr ([`Child`](crate::process::Child)); or
/// [`StreamReader::new`], a reader without a transport that reads what the
/// program feeds it.
///
/// It receives only while a read needs more than it holds, and holds less than
/// what that read asks for plus 64 KiB (asyncio pauses its transport above twice
/// the limit instead): a peer that sends faster than the program reads waits in
/// the kernel's buffers. What a read "asks for": `read(n)` any byte,
/// `readexactly(n)` n bytes, `readuntil`/`readline` the limit plus the separator,
/// `read_to_end` everything.
///
/// A connection reset (or another error that ends the connection), whether this
/// reader or the connection's [`StreamWriter`](crate::net::StreamWriter) met it,
/// ends the stream with that error rather than a clean end: reads return the
/// bytes that came before it, then fail with it, every time. A send of the writer
/// that fails, with any error, ends the connection so: a read waiting for the
/// peer ends then, as asyncio's `connection_lost(exc)` ends it.
///
/// ```
/// use ringloop::net::{TcpListener, TcpStream};
/// # ringloop::run(async {
/// let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let addr = listener.local_addr().unwrap();
/// ringloop::spawn(async move {
///     let stream = TcpStream::connect(addr).await.unwrap();
///     stream.write_all(b"first line\nsecond".to_vec()).await.0.unwrap();
/// });
/// let (stream, _) = listener.accept().await.unwrap();
/// let (mut reader, _writer) = stream.into_streams();
/// assert_eq!(reader.readline().await.unwrap(), b"first line\n");
/// assert_eq!(reader.readexactly(3).await.unwrap(), b"sec");
/// assert_eq!(reader.read(100).await.unwrap(), b"ond");
/// assert_eq!(reader.read(100).await.unwrap(), b""); // end of stream
/// assert!(reader.at_eof());
/// # });
/// ```
pub struct StreamReader {
    /// The transport and its receive in flight; `None` without a transport.
    inflow: Option<Inflow>,
    /// What a `StreamFeeder` (or `feed_data`) handed over and the buffer has
    /// not taken yet; made by the first feed.
    feed: Option<Rc<RefCell<Feed>>>,
    /// Buffered bytes are `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// The end of the stream was reached (received, or fed).
    eof: bool,
    /// The connection was lost with this error before the end was reached: the
    /// end reads as the error.
    lost: Option<SavedError>,
    /// Set by `set_exception`: every read fails with it.
    exception: Option<SavedError>,
    limit: usize,
    /// Where `readuntil` resumes its search for the separators: no separator
    /// starts in `buf[pos..][..searched]` (asyncio's `offset`), so a long wait
    /// does not rescan. Only valid for the separators of the call that set it:
    /// each `readuntil`, `readline` and `lines()` starts again from 0.
    searched: usize,
}

impl std::fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReader")
            .field("transport", &self.inflow.as_ref().map(Inflow::transport))
            .field("buffered", &self.buffered())
            .field("eof", &self.eof)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl Default for StreamReader {
    fn default() -> StreamReader {
        StreamReader::new()
    }
}

impl StreamReader {
    pub(crate) fn from_transport(transport: Transport) -> StreamReader {
        StreamReader {
            inflow: Some(Inflow::new(transport)),
            ..StreamReader::new()
        }
    }

    /// A reader without a transport, like asyncio's `StreamReader()`: it reads
    /// what [`feed_data`](Self::feed_data) (or a [`StreamFeeder`](crate::net::StreamFeeder)) hands it, up to
    /// [`feed_eof`](Self::feed_eof). For protocol tests and parsers.
    ///
    /// ```
    /// use ringloop::net::StreamReader;
    /// # ringloop::run(async {
    /// let mut reader = StreamReader::new();
    /// reader.feed_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    /// reader.feed_eof();
    /// assert_eq!(reader.readuntil(b"\r\n").await.unwrap(), b"GET / HTTP/1.1\r\n");
    /// assert_eq!(reader.readuntil(b"\r\n\r\n").await.unwrap(), b"Host: x\r\n\r\n");
    /// assert!(reader.at_eof());
    /// # });
    /// ```
    pub fn new() -> StreamReader {
        StreamReader {
            inflow: None,
            feed: None,
            buf: Vec::new(),
            pos: 0,
            eof: false,
            lost: None,
            exception: None,
            limit: DEFAULT_LIMIT,
            searched: 0,
        }
    }

    /// [`new`](Self::new) with the limit of `readuntil`/`readline` (at least 1).
    pub fn with_limit(limit: usize) -> StreamReader {
        let mut reader = StreamReader::new();
        reader.set_limit(limit);
        reader
    }

    /// The limit of `readuntil`/`readline` (default [`DEFAULT_LIMIT`]).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Sets the limit of `readuntil`/`readline` (at least 1).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(1);
    }

    /// Bytes received (or fed) and not read yet.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos + self.inflow.as_ref().map_or(0, Inflow::held)
    }

    /// Brings what arrived meanwhile into the buffer (and takes the buffer back
    /// from a multishot receive it was lent to): every read starts with this.
    fn reclaim(&mut self) {
        if let Some(inflow) = &mut self.inflow {
            inflow.reclaim(&mut self.buf);
        }
    }

    /// Whether the stream has ended and every byte was read (asyncio's `at_eof`):
    /// true as soon as the end has arrived and nothing is buffered, without
    /// another read. The end has arrived when a receive returned it, when it came
    /// behind the last bytes of a multishot receive, or when it waits in the
    /// kernel with nothing before it while no receive is in flight (asked with
    /// `poll` and `FIONREAD`, which take nothing, not even an error). False when
    /// the stream ended with an error (see [`exception`](Self::exception)), and
    /// while the writer half has a send in flight whose result is not in yet (it
    /// could be a reset); before answering, the writer takes in a send that
    /// completed, as a read that meets the end does.
    ///
    /// ```
    /// # ringloop::run(async {
    /// let (a, b) = ringloop::net::UnixStream::pair()?;
    /// let (mut reader, _writer) = b.into_streams();
    /// a.write_all(b"last line\n".to_vec()).await.0?;
    /// a.shutdown(std::net::Shutdown::Write)?; // the end follows the line
    /// assert_eq!(reader.readline().await?, b"last line\n");
    /// // A loop turn, for a multishot receive's last completion to come in.
    /// ringloop::sleep(std::time::Duration::from_millis(1)).await;
    /// assert!(reader.at_eof()); // no read needed to know it
    /// # Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    pub fn at_eof(&self) -> bool {
        if self.buffered() > 0 || self.exception.is_some() {
            return false;
        }
        if self.eof {
            return self.lost.is_none();
        }
        if let Some(feed) = &self.feed {
            let feed = feed.borrow();
            if !feed.data.is_empty() || feed.exception.is_some() {
                return false;
            }
            if feed.eof {
                return true;
            }
        }
        let Some(inflow) = &self.inflow else {
            return false;
        };
        if !inflow.end_arrived() {
            return false;
        }
        // As a read that meets the end does: a send that met a reset may have
        // completed unseen, and then the end is not a clean one. A send still in
        // flight may hold such a reset: not known yet, so not an end yet.
        let transport = inflow.transport();
        if crate::runtime::context::is_running() {
            transport.settle_writer();
        }
        transport.lost().is_none() && !transport.send_in_flight()
    }

    /// Up to `n` bytes: what is buffered, or else what the next receive brings.
    /// An empty vector means the end of the stream (or `n == 0`).
    ///
    /// Cancel-safe.
    pub async fn read(&mut self, n: usize) -> io::Result<Vec<u8>> {
        poll_fn(|cx| self.poll_read(n, cx)).await
    }

    /// Everything up to the end of the stream (asyncio's `read(-1)`).
    ///
    /// Cancel-safe: bytes received before the drop stay buffered; so do they
    /// when the stream ends with an error.
    pub async fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        poll_fn(|cx| {
            if let Some(e) = self.failed() {
                return Poll::Ready(Err(e));
            }
            self.reclaim();
            while !self.eof {
                std::task::ready!(self.poll_fill(usize::MAX, cx))?;
            }
            if let Some(e) = &self.lost {
                return Poll::Ready(Err(e.to_error()));
            }
            Poll::Ready(Ok(self.take(usize::MAX)))
        })
        .await
    }

    /// Exactly `n` bytes; if the stream ends (or fails) first, the bytes read so
    /// far are in the error's `partial`.
    ///
    /// Cancel-safe: bytes received before the drop stay buffered.
    pub async fn readexactly(&mut self, n: usize) -> Result<Vec<u8>, IncompleteReadError> {
        poll_fn(|cx| self.poll_readexactly(n, cx)).await
    }

    /// Bytes up to and including `separator`. At the end of the stream before it,
    /// `Incomplete` with every remaining byte; past the limit, `LimitOverrun` with
    /// the data left in the buffer (asyncio's rules: the limit counts the bytes
    /// before the separator).
    ///
    /// Cancel-safe. An empty separator is an `Incomplete` error of kind
    /// `InvalidInput` that consumes nothing.
    pub async fn readuntil(&mut self, separator: &[u8]) -> Result<Vec<u8>, ReadUntilError> {
        self.readuntil_any(&[separator]).await
    }

    /// Bytes up to and including the first of several separators to end
    /// (asyncio 3.13's `readuntil` with a tuple): the shortest possible result
    /// that ends with any of them. For the limit, the match is the shortest
    /// separator that ends there.
    ///
    /// ```
    /// use ringloop::net::StreamReader;
    /// # ringloop::run(async {
    /// let mut reader = StreamReader::new();
    /// reader.feed_data(b"one\r\ntwo\nthree").unwrap();
    /// reader.feed_eof();
    /// assert_eq!(reader.readuntil_any(&[b"\r\n", b"\n"]).await.unwrap(), b"one\r\n");
    /// assert_eq!(reader.readuntil_any(&[b"\r\n", b"\n"]).await.unwrap(), b"two\n");
    /// assert!(reader.readuntil_any(&[b"\r\n", b"\n"]).await.is_err()); // "three", then the end
    /// # });
    /// ```
    ///
    /// Cancel-safe. No separator, or an empty one, is an `Incomplete` error of
    /// kind `InvalidInput` that consumes nothing.
    pub async fn readuntil_any(&mut self, separators: &[&[u8]]) -> Result<Vec<u8>, ReadUntilError> {
        // An earlier, cancelled call may have searched for other separators.
        self.searched = 0;
        poll_fn(|cx| self.poll_readuntil(separators, cx)).await
    }

    /// One line, up to and including `\n`; at the end of the stream, the last
    /// bytes without a newline, then empty vectors. Past the limit, `LimitOverrun`,
    /// and the overlong data is dropped (asyncio's behaviour), so the next call
    /// continues after it.
    ///
    /// Cancel-safe.
    pub async fn readline(&mut self) -> Result<Vec<u8>, ReadUntilError> {
        self.searched = 0;
        poll_fn(|cx| self.poll_readline(cx)).await
    }

    /// The lines of the stream as a [`Stream`], ending at the end of the stream.
    ///
    /// ```
    /// # use ringloop::net::UnixStream;
    /// # ringloop::run(async {
    /// let (a, b) = UnixStream::pair().unwrap();
    /// a.write_all(b"one\ntwo\n".to_vec()).await.0.unwrap();
    /// drop(a);
    /// let (mut reader, _writer) = b.into_streams();
    /// let mut lines = reader.lines();
    /// let mut got = Vec::new();
    /// while let Some(line) = std::future::poll_fn(|cx| {
    ///     futures_core::Stream::poll_next(std::pin::Pin::new(&mut lines), cx)
    /// })
    /// .await
    /// {
    ///     got.push(line.unwrap());
    /// }
    /// assert_eq!(got, [b"one\n".to_vec(), b"two\n".to_vec()]);
    /// # });
    /// ```
    pub fn lines(&mut self) -> Lines<'_> {
        // Then only `\n` is searched for until the `Lines` is dropped.
        self.searched = 0;
        Lines { reader: self }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.buf.len() - self.pos);
        if self.pos == 0 && n == self.buf.len() && n > 0 {
            // All of it: the buffer itself, rather than a copy beside it.
            self.searched = 0;
            return std::mem::take(&mut self.buf);
        }
        let out = self.buf[self.pos..self.pos + n].to_vec();
        self.consume(n);
        out
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.searched = self.searched.saturating_sub(n);
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            if self.buf.capacity() > SHRINK_ABOVE {
                // A burst is over: an idle stream keeps no large block.
                self.buf = Vec::new();
            }
        }
    }

    /// Brings more bytes into the buffer for a read that needs `want` of them
    /// buffered (and has fewer): `Ok(n)` bytes arrived, `Ok(0)` the stream ended.
    /// An end after the connection was lost is that error, every time.
    fn poll_fill(&mut self, want: usize, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if let Some(e) = self.failed() {
            return Poll::Ready(Err(e));
        }
        self.reclaim();
        let before = self.buf.len() - self.pos;
        if self.take_feed() {
            if let Some(e) = self.failed() {
                return Poll::Ready(Err(e));
            }
            let n = self.buf.len() - self.pos - before;
            if n > 0 || self.eof {
                return Poll::Ready(Ok(n));
            }
        }
        if self.eof {
            return match &self.lost {
                Some(e) => Poll::Ready(Err(e.to_error())),
                None => Poll::Ready(Ok(0)),
            };
        }
        if let Some(feed) = &self.feed {
            // Woken by a feeder as well as by the transport.
            let mut feed = feed.borrow_mut();
            if !feed.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                feed.waker = Some(cx.waker().clone());
            }
        }
        let Some(inflow) = &mut self.inflow else {
            return Poll::Pending;
        };
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        match std::task::ready!(inflow.poll_fill(&mut self.buf, want, cx)) {
            Ok(0) => {
                let transport = inflow.transport();
                // A send that met a reset may have completed unseen: see it first.
                transport.settle_writer();
                self.eof = true;
                self.lost = transport.lost().map(|e| SavedError::new(&e));
                match &self.lost {
                    Some(e) => Poll::Ready(Err(e.to_error())),
                    None => Poll::Ready(Ok(0)),
                }
            }
            Ok(n) => Poll::Ready(Ok(n)),
            Err(e) => {
                // The writer half fails with it too.
                inflow.transport().note_error(&e);
                Poll::Ready(Err(e))
            }
        }
    }

    fn poll_read(&mut self, n: usize, cx: &mut Context<'_>) -> Poll<io::Result<Vec<u8>>> {
        if let Some(e) = self.failed() {
            return Poll::Ready(Err(e));
        }
        if n == 0 {
            return Poll::Ready(Ok(Vec::new()));
        }
        self.reclaim();
        while self.buf.len() == self.pos {
            if std::task::ready!(self.poll_fill(1, cx))? == 0 {
                break;
            }
        }
        Poll::Ready(Ok(self.take(n)))
    }

    fn poll_readexactly(
        &mut self,
        n: usize,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Vec<u8>, IncompleteReadError>> {
        if let Some(e) = self.failed() {
            return Poll::Ready(Err(IncompleteReadError {
                partial: Vec::new(),
                expected: Some(n),
                error: Some(e),
            }));
        }
        self.reclaim();
        while self.buf.len() - self.pos < n {
            let error = match std::task::ready!(self.poll_fill(n, cx)) {
                Ok(0) => None,
                Ok(_) => continue,
                Err(e) => Some(e),
            };
            return Poll::Ready(Err(IncompleteReadError {
                partial: self.take(usize::MAX),
                expected: Some(n),
                error,
            }));
        }
        Poll::Ready(Ok(self.take(n)))
    }
}

/// The lines of a [`StreamReader`] (see [`StreamReader::lines`]).
#[derive(Debug)]
pub struct Lines<'a> {
    reader: &'a mut StreamReader,
}

impl Stream for Lines<'_> {
    type Item = Result<Vec<u8>, ReadUntilError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match std::task::ready!(this.reader.poll_readline(cx)) {
            Ok(line) if line.is_empty() => Poll::Ready(None),
            other => Poll::Ready(Some(other)),
        }
    }
}
