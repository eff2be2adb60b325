//! Owned buffers for I/O operations: buffers that operations own while the kernel
//! uses them.
//!
//! With io_uring the kernel reads or writes a buffer *after* the submission returns,
//! possibly after the future that submitted it was dropped. So an operation takes the
//! buffer by value and gives it back with the result, as a [`BufResult`]; if the
//! future is dropped first, the driver keeps the buffer until the kernel is done.

use std::future::Future;
use std::io;
use std::ops::{Bound, RangeBounds};

/// The result of an owned-buffer operation: the outcome, and the buffer back.
pub type BufResult<T, B> = (io::Result<T>, B);

/// Writes all of `buf`'s initialised bytes through `write`, called with the rest
/// of the buffer and how many bytes went before it, until none is left: the loop
/// behind every `write_all`. A write of 0 bytes is `WriteZero`; `EINTR` retries.
pub(crate) async fn write_all_with<B, F, Fut>(buf: B, mut write: F) -> BufResult<(), B>
where
    B: IoBuf,
    F: FnMut(Slice<B>, usize) -> Fut,
    Fut: Future<Output = BufResult<usize, Slice<B>>>,
{
    let total = buf.bytes_init();
    let mut written = 0;
    let mut slice = buf.slice(..);
    while written < total {
        let (result, s) = write(slice, written).await;
        let buf = s.into_inner();
        match result {
            Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
        slice = buf.slice(written..);
    }
    (Ok(()), slice.into_inner())
}

/// A buffer an operation may read from while the kernel owns it.
///
/// # Safety
///
/// `stable_ptr()` must point to `bytes_total()` bytes, of which the first
/// `bytes_init()` are initialised, and must keep pointing to the same memory, valid
/// and unchanged by anyone else, for as long as the value lives, even when the value
/// itself is moved. Heap-backed buffers (`Vec<u8>`, `Box<[u8]>`) and `'static`
/// slices satisfy this; an inline array does not.
pub unsafe trait IoBuf: Unpin + 'static {
    /// The start of the buffer.
    fn stable_ptr(&self) -> *const u8;
    /// Bytes that hold data (for a `Vec`, its length).
    fn bytes_init(&self) -> usize;
    /// Bytes the buffer can hold (for a `Vec`, its capacity).
    fn bytes_total(&self) -> usize;

    /// A view of `range` of the buffer (within `bytes_total()`), to write part of it
    /// or read into part of it; [`Slice::into_inner`] gives the buffer back.
    ///
    /// ```
    /// use ringloop::buf::IoBuf;
    /// let slice = b"hello world".to_vec().slice(6..);
    /// assert_eq!(slice.bytes_init(), 5);
    /// assert_eq!(slice.into_inner().len(), 11);
    /// ```
    ///
    /// # Panics
    ///
    /// When the range ends past `bytes_total()` or starts after its end.
    fn slice(self, range: impl RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n + 1,
            Bound::Excluded(&n) => n,
            Bound::Unbounded => self.bytes_total(),
        };
        assert!(
            begin <= end && end <= self.bytes_total(),
            "slice {begin}..{end} out of a buffer of {} bytes",
            self.bytes_total()
        );
        Slice {
            buf: self,
            begin,
            end,
        }
    }
}

/// A range of an owned buffer, itself an owned buffer (see [`IoBuf::slice`]).
#[derive(Debug)]
pub struct Slice<B> {
    buf: B,
    begin: usize,
    end: usize,
}

impl<B> Slice<B> {
    /// Where the range starts in the buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }

    /// Where the range ends in the buffer.
    pub fn end(&self) -> usize {
        self.end
    }

    /// The whole buffer.
    pub fn get_ref(&self) -> &B {
        &self.buf
    }

    /// The buffer back.
    pub fn into_inner(self) -> B {
        self.buf
    }
}

// SAFETY: the range lies within the buffer's `bytes_total()` (checked by `slice`), so
// the pointer and lengths describe part of memory that `B` guarantees stable.
unsafe impl<B: IoBuf> IoBuf for Slice<B> {
    fn stable_ptr(&self) -> *const u8 {
        self.buf.stable_ptr().wrapping_add(self.begin)
    }
    fn bytes_init(&self) -> usize {
        self.buf.bytes_init().clamp(self.begin, self.end) - self.begin
    }
    fn bytes_total(&self) -> usize {
        self.end - self.begin
    }
}

// SAFETY: as above, and `B: IoBufMut` makes the memory writable.
unsafe impl<B: IoBufMut> IoBufMut for Slice<B> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.buf.stable_mut_ptr().wrapping_add(self.begin)
    }
    unsafe fn set_init(&mut self, len: usize) {
        // Bytes before the range that were never initialised cannot be marked so
        // (there would be a gap); then the new bytes are simply not recorded.
        if self.begin <= self.buf.bytes_init() {
            // SAFETY: the caller initialised `len` bytes from the range's start, and
            // everything before it is already initialised.
            unsafe { self.buf.set_init(self.begin + len) };
        }
    }
}

/// A buffer an operation may write into while the kernel owns it.
///
/// # Safety
///
/// As for [`IoBuf`], and `stable_mut_ptr()` must allow writes to `bytes_total()` bytes.
pub unsafe trait IoBufMut: IoBuf {
    /// The start of the buffer, for writing.
    fn stable_mut_ptr(&mut self) -> *mut u8;
    /// Records that the first `len` bytes are now initialised (a `Vec` sets its length
    /// to `len` if that is larger than the current length).
    ///
    /// # Safety
    ///
    /// The first `len` bytes must really be initialised, and `len <= bytes_total()`.
    unsafe fn set_init(&mut self, len: usize);
}

// SAFETY: a `Vec`'s heap block does not move when the `Vec` moves, and it is only
// reallocated through `&mut self`, which the op holds exclusively.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: see `IoBuf for Vec<u8>`; the spare capacity is writable.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, len: usize) {
        if len > self.len() {
            // SAFETY: the caller guarantees the bytes are initialised and
            // `len <= capacity`.
            unsafe { self.set_len(len) };
        }
    }
}

// SAFETY: a boxed slice's heap block does not move when the box moves.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: see `IoBuf for Box<[u8]>`; every byte of a boxed slice is initialised.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _len: usize) {}
}

// SAFETY: static data never moves and is never freed.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: static data never moves and is never freed.
unsafe impl<const N: usize> IoBuf for &'static [u8; N] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        N
    }
    fn bytes_total(&self) -> usize {
        N
    }
}

// SAFETY: static data never moves and is never freed.
unsafe impl IoBuf for &'static str {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: a `String`'s heap block does not move when the `String` moves.
unsafe impl IoBuf for String {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}
