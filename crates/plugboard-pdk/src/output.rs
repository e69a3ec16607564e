//! [`Output`]: where a plugin writes its result, straight into the host's buffer.

use std::fmt;
use std::io;

use plugboard_native_abi::{Buf, STATUS_OK};

use crate::Host;

/// The result of a call, written in place into a buffer the host allocated and keeps: a result
/// crosses the boundary without a copy or a second allocation.
///
/// Write with [`Output::extend_from_slice`], [`std::io::Write`] or [`std::fmt::Write`]
/// (`write!(out, "{n}")`).
pub struct Output<'a> {
    host: Host,
    buf: &'a mut Buf,
}

impl fmt::Debug for Output<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("len", &self.buf.len)
            .finish_non_exhaustive()
    }
}

impl Output<'_> {
    /// An output over the host's buffer `buf`.
    ///
    /// # Safety
    /// `buf` must be the non-null `out` buffer the host passed to the current call, valid and
    /// used by nothing else until the call returns.
    pub(crate) unsafe fn new(host: Host, buf: *mut Buf) -> Self {
        // SAFETY: per this function's contract.
        Self {
            host,
            buf: unsafe { &mut *buf },
        }
    }

    /// Makes room for `additional` more bytes.
    ///
    /// # Panics
    /// When the host cannot allocate them (the pdk turns the panic into an error result).
    #[inline]
    pub fn reserve(&mut self, additional: usize) {
        if self.buf.cap - self.buf.len < additional {
            self.grow(additional);
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, additional: usize) {
        let table = self.host.table();
        // SAFETY: `buf` is the host's own buffer for this call, which `reserve` may grow.
        let status = unsafe { (table.reserve)(table.ctx, self.buf, additional) };
        assert!(
            status == STATUS_OK && self.buf.cap - self.buf.len >= additional,
            "the host could not allocate {additional} bytes for the result"
        );
    }

    /// Appends `bytes`.
    #[inline]
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.reserve(bytes.len());
        // SAFETY: after `reserve`, `len..len + bytes.len()` lies inside the host's allocation,
        // which cannot overlap `bytes` (the plugin does not own it).
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.buf.ptr.add(self.buf.len),
                bytes.len(),
            );
        }
        self.buf.len += bytes.len();
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        if self.buf.len == 0 {
            return &[];
        }
        // SAFETY: the first `len` bytes of the host's buffer were written through this output.
        unsafe { std::slice::from_raw_parts(self.buf.ptr, self.buf.len) }
    }

    /// How many bytes were written.
    pub fn len(&self) -> usize {
        self.buf.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.len == 0
    }

    /// Forgets what was written (keeping the allocation).
    pub fn clear(&mut self) {
        self.buf.len = 0;
    }
}

impl io::Write for Output<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Write for Output<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
