//! The stdio transport: framing and messages for plugins that talk over their stdin and stdout.
//!
//! The stdio transport exists so that a plugin can be a short script in any language, with no
//! gRPC library: the host writes JSON messages to the plugin's stdin and reads JSON messages
//! from its stdout. Stderr stays free for the plugin's own logging
//! ([`parse_log_line`](crate::handshake::parse_log_line) classifies it).
//!
//! Two framings carry the messages; the host picks one per plugin (from its manifest) and
//! tells the plugin in the [`ENV_STDIO_FRAMING`] environment variable:
//! - [`FrameKind::NewlineDelimited`] (`ndjson`, the default): one JSON object per line. The
//!   easiest to write from a script (`print(json.dumps(msg), flush=True)`).
//! - [`FrameKind::LengthPrefixed`] (`length-prefixed`): a 4-byte big-endian length, then that
//!   many bytes of JSON. For plugins that would rather not think about line endings.
//!
//! [`FrameDecoder`] cuts a byte stream into frames incrementally; [`encode`] frames one
//! message. The decoder yields bytes; [`StdioMessage::from_json`] turns them into messages, so
//! a framing fault (the stream cannot be trusted any more) and a message fault (one bad
//! message) are different errors.
//!
//! Line endings and odd bytes, decided once here:
//! - In `ndjson`, a `\r` immediately before the `\n` is dropped, so plugins writing Windows
//!   line endings work. Other `\r` bytes are kept (JSON reads them as whitespace between
//!   tokens, and refuses them inside strings). Lines that are empty or only spaces, tabs and
//!   `\r` are skipped, so a stray `print()` does no harm.
//! - NUL and any other byte are passed through untouched in both framings; the JSON parser
//!   refuses them where JSON does, with a message quoting the frame.
//! - The size limit ([`DEFAULT_MAX_FRAME_LEN`] unless set) counts the JSON bytes, without the
//!   length prefix or line ending. It is checked as soon as it can be: on the length prefix,
//!   or as an unfinished line grows, so an endless line never fills memory.
//! - A framing error is final: the decoder returns the same error from then on, because after
//!   a bad length prefix or an oversized line nothing later in the stream can be trusted. The
//!   host should stop the plugin.
//!
//! The full specification, with an example exchange and a complete Python plugin, is
//! `docs/protocol.md` in the repository.

mod host_api;
mod message;

#[cfg(test)]
mod message_tests;
#[cfg(test)]
mod tests;

use std::fmt;

pub use self::host_api::{HostReply, HostRequest, HostRequestError};
pub use self::message::{
    Call, CallResult, Direction, ErrorCode, Event, HealthMessage, HealthStatus, Hello, HostCall,
    HostResult, LogMessage, MessageError, Payload, Ready, RemoteError, StdioMessage, Stop,
    STDIO_PROTOCOL_VERSION,
};

/// The environment variable that tells a stdio plugin which framing the host uses:
/// `ndjson` or `length-prefixed` (see [`FrameKind::env_value`]).
pub const ENV_STDIO_FRAMING: &str = "PLUGBOARD_STDIO_FRAMING";

/// The default limit on one frame's JSON: 16 MiB. Large enough for any reasonable payload,
/// small enough that a runaway plugin cannot exhaust the host's memory through one frame.
pub const DEFAULT_MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// How messages are delimited on the stdio streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FrameKind {
    /// One JSON message per line (`\n`, optionally preceded by `\r`).
    #[default]
    NewlineDelimited,
    /// A 4-byte big-endian length, then that many bytes of JSON.
    LengthPrefixed,
}

impl FrameKind {
    /// The value of [`ENV_STDIO_FRAMING`] for this framing: `ndjson` or `length-prefixed`.
    pub fn env_value(self) -> &'static str {
        match self {
            FrameKind::NewlineDelimited => "ndjson",
            FrameKind::LengthPrefixed => "length-prefixed",
        }
    }

    /// The framing named by a value of [`ENV_STDIO_FRAMING`], if it names one.
    pub fn from_env_value(value: &str) -> Option<FrameKind> {
        match value {
            "ndjson" => Some(FrameKind::NewlineDelimited),
            "length-prefixed" => Some(FrameKind::LengthPrefixed),
            _ => None,
        }
    }
}

impl fmt::Display for FrameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.env_value())
    }
}

/// Why a stream could not be cut into frames, or a message could not be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A length prefix declares more than the limit.
    #[error(
        "a length-prefixed frame declares {declared} bytes, more than the {max}-byte limit; \
         either the plugin sent an oversized message or its output is not length-prefixed \
         (the 4 bytes read as a length were b\"{prefix}\"; a plugin must write nothing else on \
         stdout, and must use the framing named in PLUGBOARD_STDIO_FRAMING)"
    )]
    FrameTooLarge {
        /// The length the prefix declares.
        declared: usize,
        /// The limit.
        max: usize,
        /// The prefix, as text where it is printable, to show what was there instead.
        prefix: String,
    },
    /// A line grew past the limit before its newline arrived.
    #[error(
        "a newline-delimited frame reached {len} bytes without ending, more than the \
         {max}-byte limit; each message must be one line of JSON followed by \\n (a plugin \
         must write nothing else on stdout)"
    )]
    LineTooLong {
        /// How long the line was when it was refused (at least).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The stream ended inside a length-prefixed frame.
    #[error(
        "the stream ended inside a length-prefixed frame: {buffered} byte(s) of an unfinished \
         frame{} were left; the plugin exited or closed stdout mid-message",
        .expected.map(|n| format!(" of {n} declared bytes")).unwrap_or_default()
    )]
    Truncated {
        /// How many bytes of the frame (prefix included) had arrived.
        buffered: usize,
        /// The frame length its prefix declared, when the prefix had arrived.
        expected: Option<usize>,
    },
    /// A message to encode is longer than a length prefix can express.
    #[error("a {len}-byte message cannot be length-prefixed (the limit is 4 GiB - 1)")]
    MessageTooLarge {
        /// The message length.
        len: usize,
    },
    /// A message to encode as one line contains a newline.
    #[error(
        "a message to send as one line contains a newline at byte {position}; serialize it as \
         compact JSON (serde_json::to_vec), which never does"
    )]
    NewlineInMessage {
        /// Where the newline is.
        position: usize,
    },
}

/// Frames one message for the wire.
///
/// # Errors
///
/// [`FrameError::MessageTooLarge`] for a length-prefixed message over `u32::MAX` bytes;
/// [`FrameError::NewlineInMessage`] for a newline-delimited message containing `\n` (compact
/// JSON never does).
pub fn encode(kind: FrameKind, msg: &[u8]) -> Result<Vec<u8>, FrameError> {
    match kind {
        FrameKind::LengthPrefixed => {
            let len = u32::try_from(msg.len())
                .map_err(|_| FrameError::MessageTooLarge { len: msg.len() })?;
            let mut out = Vec::with_capacity(msg.len() + 4);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(msg);
            Ok(out)
        }
        FrameKind::NewlineDelimited => {
            if let Some(position) = msg.iter().position(|&b| b == b'\n') {
                return Err(FrameError::NewlineInMessage { position });
            }
            let mut out = Vec::with_capacity(msg.len() + 1);
            out.extend_from_slice(msg);
            out.push(b'\n');
            Ok(out)
        }
    }
}

/// Cuts a byte stream into frames, however the bytes arrive.
///
/// Feed it whatever the pipe gave ([`push`](Self::push)), then take frames until there are
/// no more ([`next_frame`](Self::next_frame)); at end of stream, [`finish`](Self::finish)
/// takes what is left. It never panics and never holds much more than one frame beyond what
/// was pushed since the last `next_frame` returned `None`.
///
/// ```
/// use plugboard_protocol::frame::{FrameDecoder, FrameKind, DEFAULT_MAX_FRAME_LEN};
///
/// let mut decoder = FrameDecoder::new(FrameKind::NewlineDelimited, DEFAULT_MAX_FRAME_LEN);
/// decoder.push(b"{\"type\":\"ready\",\"protocol_version\":1}\n{\"ty");
/// assert_eq!(decoder.next_frame()?.as_deref(), Some(&b"{\"type\":\"ready\",\"protocol_version\":1}"[..]));
/// assert_eq!(decoder.next_frame()?, None); // the second frame is not complete yet
/// decoder.push(b"pe\":\"stop\"}\r\n");
/// assert_eq!(decoder.next_frame()?.as_deref(), Some(&b"{\"type\":\"stop\"}"[..]));
/// # Ok::<(), plugboard_protocol::frame::FrameError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    kind: FrameKind,
    max_frame_len: usize,
    buf: Vec<u8>,
    /// The first byte of `buf` not yet consumed.
    start: usize,
    /// How many bytes after `start` are known to hold no `\n` (newline framing only), so that
    /// a long line arriving in small pieces is scanned once, not once per piece.
    scanned: usize,
    failed: Option<FrameError>,
}

impl FrameDecoder {
    /// A decoder for `kind` that refuses frames over `max_frame_len` bytes (use
    /// [`DEFAULT_MAX_FRAME_LEN`] unless the plugin's manifest says otherwise).
    pub fn new(kind: FrameKind, max_frame_len: usize) -> FrameDecoder {
        FrameDecoder {
            kind,
            max_frame_len,
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            failed: None,
        }
    }

    /// The framing this decoder reads.
    pub fn kind(&self) -> FrameKind {
        self.kind
    }

    /// Bytes received but not yet returned as frames.
    pub fn buffered_len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends bytes read from the stream. After a framing error they are dropped: the stream
    /// is no longer trusted.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, without its length prefix or line ending; `Ok(None)` when more
    /// bytes are needed.
    ///
    /// # Errors
    ///
    /// [`FrameError::FrameTooLarge`] or [`FrameError::LineTooLong`] when a frame exceeds the
    /// limit. The error is final: every later call returns it again.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = match self.kind {
            FrameKind::LengthPrefixed => self.next_length_prefixed(),
            FrameKind::NewlineDelimited => self.next_line(),
        };
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }

    /// At end of stream: the next frame if one is complete, else what is left. Call it until
    /// it returns `Ok(None)`.
    ///
    /// A last line without its newline is a frame (a script may exit without printing one).
    ///
    /// # Errors
    ///
    /// As [`next_frame`](Self::next_frame), and [`FrameError::Truncated`] when the stream
    /// ended inside a length-prefixed frame.
    pub fn finish(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if let Some(frame) = self.next_frame()? {
            return Ok(Some(frame));
        }
        let rest = &self.buf[self.start..];
        let outcome = match self.kind {
            FrameKind::NewlineDelimited => {
                let line = rest.strip_suffix(b"\r").unwrap_or(rest);
                if is_blank(line) {
                    Ok(None)
                } else if line.len() > self.max_frame_len {
                    Err(FrameError::LineTooLong {
                        len: line.len(),
                        max: self.max_frame_len,
                    })
                } else {
                    Ok(Some(line.to_vec()))
                }
            }
            FrameKind::LengthPrefixed if rest.is_empty() => Ok(None),
            FrameKind::LengthPrefixed => Err(FrameError::Truncated {
                buffered: rest.len(),
                expected: declared_len(rest),
            }),
        };
        self.buf.clear();
        self.start = 0;
        self.scanned = 0;
        if let Err(error) = &outcome {
            self.failed = Some(error.clone());
        }
        outcome
    }

    fn next_length_prefixed(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let available = &self.buf[self.start..];
        let Some(declared) = declared_len(available) else {
            return Ok(None);
        };
        if declared > self.max_frame_len {
            return Err(FrameError::FrameTooLarge {
                declared,
                max: self.max_frame_len,
                prefix: available[..4].escape_ascii().to_string(),
            });
        }
        // `declared` fits in a u32 and is within the limit, but `+ 4` could still overflow a
        // 32-bit usize when the limit is usize::MAX.
        let Some(end) = declared.checked_add(4) else {
            return Err(FrameError::FrameTooLarge {
                declared,
                max: self.max_frame_len,
                prefix: available[..4].escape_ascii().to_string(),
            });
        };
        let Some(frame) = available.get(4..end) else {
            return Ok(None);
        };
        let frame = frame.to_vec();
        self.start += end;
        Ok(Some(frame))
    }

    fn next_line(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        loop {
            let available = &self.buf[self.start..];
            let Some(offset) = available[self.scanned..].iter().position(|&b| b == b'\n') else {
                self.scanned = available.len();
                // One byte of slack for a `\r` that the coming `\n` will make a line ending.
                if available.len() > self.max_frame_len.saturating_add(1) {
                    return Err(FrameError::LineTooLong {
                        len: available.len(),
                        max: self.max_frame_len,
                    });
                }
                return Ok(None);
            };
            let end = self.scanned + offset;
            let line = &available[..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() > self.max_frame_len {
                return Err(FrameError::LineTooLong {
                    len: line.len(),
                    max: self.max_frame_len,
                });
            }
            let frame = (!is_blank(line)).then(|| line.to_vec());
            self.start += end + 1;
            self.scanned = 0;
            if frame.is_some() {
                return Ok(frame);
            }
        }
    }
}

fn declared_len(bytes: &[u8]) -> Option<usize> {
    let prefix: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    usize::try_from(u32::from_be_bytes(prefix)).ok()
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}
