//! The reader's buffer lent to borrowed-buffer traits (`crate::compat`): the
//! `AsyncBufRead` pair (`poll_fill_buf` / `consume`) over the reader's own
//! buffer, and `AsyncRead` as one copy out of it.

use std::io;
use std::task::{ready, Context, Poll};

use super::StreamReader;

impl StreamReader {
    /// The buffered bytes, receiving first if there are none; empty at the end
    /// of the stream. The error that ended the connection, after every byte
    /// received before it.
    pub(crate) fn poll_fill_buf_borrowed(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<&[u8]>> {
        if let Some(e) = self.failed() {
            return Poll::Ready(Err(e));
        }
        self.reclaim();
        while self.buf.len() == self.pos {
            if ready!(self.poll_fill(1, cx))? == 0 {
                break;
            }
        }
        Poll::Ready(Ok(&self.buf[self.pos..]))
    }

    /// Marks `n` buffered bytes read (no more than are buffered).
    pub(crate) fn consume_borrowed(&mut self, n: usize) {
        let n = n.min(self.buf.len() - self.pos);
        if n > 0 {
            self.consume(n);
        }
    }

    /// Copies up to `out.len()` bytes out of the buffer (receiving first if it is
    /// empty); 0 at the end of the stream.
    #[cfg_attr(not(feature = "futures-io"), allow(dead_code))]
    pub(crate) fn poll_read_borrowed(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let buffered = ready!(self.poll_fill_buf_borrowed(cx))?;
        let n = buffered.len().min(out.len());
        out[..n].copy_from_slice(&buffered[..n]);
        self.consume_borrowed(n);
        Poll::Ready(Ok(n))
    }
}
