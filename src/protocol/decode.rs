//! The incremental RESP decoder.
//!
//! Decoding a frame takes one parse and one build. The parse, `Scan`, walks the element
//! headers: it checks that the whole frame is in the buffer, jumping over bulk payloads
//! by their announced length, and records each element as a `Token` (its kind and where
//! its bytes lie) on a tape. It keeps its place between calls, so a large reply arriving
//! in pieces is parsed once. When the frame is complete it is split off the buffer and
//! frozen, and a [`Frame`] reads the tape: it builds a [`Value`], taking every string as
//! a zero-copy slice of the frozen frame, or lets a typed conversion take what it wants,
//! without looking at a header again. A small frame holding one scalar is read where it
//! lies instead, its string (if any) copied. The buffer is advanced only when a whole
//! frame has been decoded.

use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};

use super::{Limits, ProtocolError};
use crate::value::{ServerError, Value};

/// Decodes RESP2 and RESP3 frames from a growing buffer.
///
/// Feed it the connection's read buffer after every read: [`Decoder::decode`] returns
/// `Ok(None)` until a whole frame is there, then removes that frame from the buffer and
/// returns it. The decoder remembers how far it has checked the frame in progress, so it
/// must always be given the same buffer, with new bytes only ever appended.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use respec::Value;
/// use respec::protocol::Decoder;
///
/// let mut decoder = Decoder::new();
/// let mut buf = BytesMut::from(&b"*2\r\n$5\r\nhel"[..]);
/// assert_eq!(decoder.decode(&mut buf)?, None);
/// buf.extend_from_slice(b"lo\r\n:7\r\n");
/// let value = decoder.decode(&mut buf)?;
/// assert_eq!(
///     value,
///     Some(Value::Array(vec![Value::BulkString("hello".into()), Value::Int(7)]))
/// );
/// assert!(buf.is_empty());
/// # Ok::<(), respec::protocol::ProtocolError>(())
/// ```
#[derive(Debug, Default)]
pub struct Decoder {
    limits: Limits,
    scan: Scan,
}

impl Decoder {
    /// A decoder with the default [`Limits`].
    #[must_use]
    pub fn new() -> Self {
        Decoder::default()
    }

    /// A decoder that enforces `limits`.
    #[must_use]
    pub fn with_limits(limits: Limits) -> Self {
        Decoder {
            limits,
            scan: Scan::default(),
        }
    }

    /// How many more bytes a buffer now holding `buffered` bytes should make room for:
    /// what is left of a bulk string whose header the decoder has read, at most
    /// [`MAX_RESERVE_AHEAD`], or `0` when it knows nothing. Reserving this at once keeps
    /// a large value from being copied each time the buffer doubles, while an announced
    /// length that no bytes back yet can claim only a bounded amount of memory.
    #[must_use]
    pub fn wanted(&self, buffered: usize) -> usize {
        self.scan
            .wanted
            .saturating_sub(buffered)
            .min(MAX_RESERVE_AHEAD)
    }

    /// The limits this decoder enforces.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Decodes the next frame from `src`.
    ///
    /// Returns `Ok(None)` when `src` does not hold a whole frame yet; nothing is removed
    /// from `src` then. Otherwise the frame is split off the front of `src`.
    ///
    /// # Errors
    ///
    /// A [`ProtocolError`] when the bytes are not RESP or exceed the limits. The stream
    /// cannot be resynchronised after that.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Value>, ProtocolError> {
        if let Some(value) = self.decode_short_line(src) {
            return Ok(Some(value));
        }
        self.decode_with(src, Frame::build_value)?.transpose()
    }

    /// Decodes the next frame when it is a short status or integer line (`+OK`,
    /// `+QUEUED`, `:1`) and nothing of it has been scanned yet: what most replies to a
    /// pipeline are, read here without the scan and its tape. Any other frame, or one not
    /// whole yet, gives `None` and is left in `src` for [`Decoder::decode_with`].
    pub(crate) fn decode_short_line(&mut self, src: &mut BytesMut) -> Option<Value> {
        if self.is_mid_frame() {
            return None;
        }
        let (value, len) = short_line(src, &self.limits)?;
        src.advance(len);
        Some(value)
    }

    /// Decodes the short lines at the front of `src`, as [`Decoder::decode_short_line`]
    /// does one, onto `out` until it holds `want` values; returns how many it added.
    pub(crate) fn decode_short_lines(
        &mut self,
        src: &mut BytesMut,
        out: &mut Vec<Value>,
        want: usize,
    ) -> usize {
        if self.is_mid_frame() {
            return 0;
        }
        let before = out.len();
        let mut taken = 0;
        while out.len() < want {
            let Some((value, len)) = short_line(src.get(taken..).unwrap_or_default(), &self.limits)
            else {
                break;
            };
            out.push(value);
            taken += len;
        }
        src.advance(taken);
        out.len() - before
    }

    /// `true` when part of a frame has been scanned already.
    fn is_mid_frame(&self) -> bool {
        self.scan.line_from != 0 || !self.scan.tape.is_empty()
    }

    /// Decodes the next frame from `src` and hands it to `read` unbuilt, so a reader
    /// that knows what it wants takes it from the frame's bytes without building a
    /// [`Value`] first.
    ///
    /// Returns `Ok(None)`, leaving `src` as it is, when `src` does not hold a whole
    /// frame yet. Otherwise the frame is split off the front of `src` whatever `read`
    /// does with it.
    ///
    /// # Errors
    ///
    /// As for [`Decoder::decode`].
    #[doc(hidden)]
    pub fn decode_with<R>(
        &mut self,
        src: &mut BytesMut,
        read: impl FnOnce(&mut Frame<'_>) -> R,
    ) -> Result<Option<R>, ProtocolError> {
        let Some(len) = self.scan.run(src, &self.limits)? else {
            return Ok(None);
        };
        Ok(Some(self.take_frame(src, len, read)))
    }

    /// Hands the whole frame of `len` bytes at the front of `src` to `read`, then
    /// removes it. A small lone scalar (`+OK`, `:1`, a short bulk string) is read where
    /// it lies and its strings copied, which is cheaper than splitting the buffer and
    /// counting references; anything else is split off and frozen, so its strings are
    /// zero-copy slices.
    fn take_frame<R>(
        &mut self,
        src: &mut BytesMut,
        len: usize,
        read: impl FnOnce(&mut Frame<'_>) -> R,
    ) -> R {
        let out = if len <= MAX_COPIED_FRAME && self.scan.tape.len() == 1 {
            let out = read(&mut Frame {
                data: src.get(..len).unwrap_or_default(),
                owner: None,
                tokens: self.scan.tape.iter(),
                limits: &self.limits,
                text: TextWindow::default(),
            });
            src.advance(len.min(src.len()));
            out
        } else {
            let bytes = src.split_to(len.min(src.len())).freeze();
            read(&mut Frame {
                data: &bytes,
                owner: Some(&bytes),
                tokens: self.scan.tape.iter(),
                limits: &self.limits,
                text: TextWindow::default(),
            })
        };
        self.scan.reset();
        out
    }
}

/// A short status or integer line at the start of `bytes` (`+OK`, `+QUEUED`, `+PONG`,
/// `:n`) and its length, CRLF included; `None` for anything else, for a line not whole,
/// and for one longer than the limits allow, which the scan then refuses, so that the
/// outcome never depends on which path read the line.
fn short_line(bytes: &[u8], limits: &Limits) -> Option<(Value, usize)> {
    // The reply to most writes, and to every command a pipeline ignores, first.
    if bytes.starts_with(b"+OK\r\n") && limits.max_bulk_len >= 2 {
        return Some((Value::SimpleString(Bytes::from_static(b"OK")), 5));
    }
    let head = bytes.get(..bytes.len().min(SHORT_LINE))?;
    let (&kind, rest) = head.split_first()?;
    let lf = rest.iter().position(|&b| b == b'\n')?;
    let line = rest.get(..lf)?.strip_suffix(b"\r")?;
    if line.len() > limits.max_bulk_len {
        return None;
    }
    let value = match (kind, line) {
        (b'+', b"OK") => Value::SimpleString(Bytes::from_static(b"OK")),
        (b'+', b"QUEUED") => Value::SimpleString(Bytes::from_static(b"QUEUED")),
        (b'+', b"PONG") => Value::SimpleString(Bytes::from_static(b"PONG")),
        (b':', digits) => Value::Int(parse_int(digits)?),
        _ => return None,
    };
    Some((value, lf + 2))
}

/// The largest frame [`Decoder::take_frame`] reads in place when it is one scalar.
const MAX_COPIED_FRAME: usize = 256;
/// How far [`Decoder::decode_short_line`] looks for the end of a line: `:` and the
/// longest `i64` with its CRLF fit.
const SHORT_LINE: usize = 24;

// Only the multiplexed connection's reader hands frames to other tasks.
#[cfg(feature = "tokio")]
impl Decoder {
    /// Decodes the next frame from `src` for reading elsewhere: a lone scalar comes
    /// back built, an aggregate as an [`OwnedFrame`] that keeps the scan's tape, so a
    /// reader on another task can convert it without building a [`Value`] or scanning it
    /// again.
    pub(crate) fn decode_owned(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<Decoded>, ProtocolError> {
        if let Some(value) = self.decode_short_line(src) {
            return Ok(Some(Decoded::Value(value)));
        }
        let Some(len) = self.scan.run(src, &self.limits)? else {
            return Ok(None);
        };
        if self.scan.tape.len() == 1 {
            let value = self.take_frame(src, len, Frame::build_value);
            return value.map(|value| Some(Decoded::Value(value)));
        }
        let bytes = src.split_to(len.min(src.len())).freeze();
        // The next frame is likely the same shape: give it room for as many tokens.
        let next = Vec::with_capacity(self.scan.tape.len().min(MAX_RETAINED_TOKENS / 16));
        let frame = OwnedFrame {
            bytes,
            tokens: std::mem::replace(&mut self.scan.tape, next),
            limits: self.limits,
        };
        self.scan.reset();
        Ok(Some(Decoded::Frame(frame)))
    }
}

/// A frame as [`Decoder::decode_owned`] returns it.
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub(crate) enum Decoded {
    Value(Value),
    Frame(OwnedFrame),
}

/// A whole frame with its tape, to be read with [`OwnedFrame::frame`].
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub(crate) struct OwnedFrame {
    bytes: Bytes,
    tokens: Vec<Token>,
    limits: Limits,
}

#[cfg(feature = "tokio")]
impl Decoded {
    /// The frame built as a [`Value`].
    pub(crate) fn into_value(self) -> Result<Value, ProtocolError> {
        match self {
            Decoded::Value(value) => Ok(value),
            Decoded::Frame(frame) => frame.frame().value(),
        }
    }
}

#[cfg(feature = "tokio")]
impl OwnedFrame {
    /// A reader over the frame, from its first element.
    pub(crate) fn frame(&self) -> Frame<'_> {
        Frame {
            data: &self.bytes,
            owner: Some(&self.bytes),
            tokens: self.tokens.iter(),
            limits: &self.limits,
            text: TextWindow::default(),
        }
    }
}

/// One element header, as parsed from the start of an element.
enum Header {
    /// A value that is all in its header line: `content` is the line's body.
    Line { kind: u8, content: Range<usize> },
    /// A bulk string, blob error or verbatim string of `len` bytes after the header.
    Blob { kind: u8, len: usize },
    /// An aggregate announcing `len` entries (pairs, for maps and attributes).
    Aggregate { kind: u8, len: usize },
    /// A RESP2 null bulk string or null array.
    Null,
}

enum Parsed {
    /// The header and the offset just past its CRLF.
    Header(Header, usize),
    /// The header line is not complete; no LF before `searched_to`.
    Incomplete { searched_to: usize },
}

/// Parses the header of the element that starts at `start`.
///
/// The search for the line's end begins at `line_from` when that is further on, so that
/// a long line arriving in pieces is searched once.
fn parse_header(
    buf: &[u8],
    start: usize,
    line_from: usize,
    limits: &Limits,
) -> Result<Parsed, ProtocolError> {
    let Some(&kind) = buf.get(start) else {
        return Ok(Parsed::Incomplete { searched_to: start });
    };
    // Each check below is made as soon as the bytes it needs are in, and in the same
    // order whether the line arrives whole or in pieces, so that how the bytes arrive
    // never changes the outcome: the type, then the length of the line's body, then its
    // CRLF, then what it says.
    if !is_type_byte(kind) {
        return Err(ProtocolError::InvalidType(kind));
    }
    if kind == b'$'
        && let Some((len, body)) = bulk_header_fast(buf, start, limits)
    {
        return Ok(Parsed::Header(Header::Blob { kind, len }, body));
    }
    let search_from = line_from.max(start + 1);
    let rest = buf.get(search_from..).unwrap_or_default();
    let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
        // A CR at the end of what has come may start the line's CRLF.
        line_within_limit(kind, line_body_len(buf, start, buf.len()), limits)?;
        return Ok(Parsed::Incomplete {
            searched_to: buf.len(),
        });
    };
    let lf = search_from + lf;
    // Most lines are short: the exact body (without a CR before the LF) is worked out
    // only for a line near its limit.
    if lf - start - 1 > line_limit(kind, limits) {
        line_within_limit(kind, line_body_len(buf, start, lf), limits)?;
    }
    if lf < start + 2 || buf.get(lf - 1) != Some(&b'\r') {
        return Err(ProtocolError::MissingCrlf);
    }
    let content = start + 1..lf - 1;
    let line = buf.get(content.clone()).unwrap_or_default();
    let header = match kind {
        b'+' | b'-' | b':' | b',' | b'#' | b'(' | b'_' => Header::Line { kind, content },
        b'$' | b'!' | b'=' => match parse_len(kind, line)? {
            None if kind == b'$' => Header::Null,
            None => return Err(ProtocolError::InvalidLength(char::from(kind))),
            Some(len) if len > limits.max_bulk_len => {
                return Err(ProtocolError::StringTooLong {
                    len,
                    limit: limits.max_bulk_len,
                });
            }
            Some(len) => Header::Blob { kind, len },
        },
        b'*' | b'~' | b'%' | b'|' | b'>' => match parse_len(kind, line)? {
            None if kind == b'*' => Header::Null,
            None => return Err(ProtocolError::InvalidLength(char::from(kind))),
            Some(len) if len > limits.max_aggregate_len => {
                return Err(ProtocolError::AggregateTooLong {
                    len,
                    limit: limits.max_aggregate_len,
                });
            }
            Some(len) => Header::Aggregate { kind, len },
        },
        other => return Err(ProtocolError::InvalidType(other)),
    };
    Ok(Parsed::Header(header, lf + 1))
}

/// `true` for the bytes that start a RESP2 or RESP3 element.
fn is_type_byte(kind: u8) -> bool {
    matches!(
        kind,
        b'+' | b'-'
            | b':'
            | b','
            | b'#'
            | b'('
            | b'_'
            | b'$'
            | b'!'
            | b'='
            | b'*'
            | b'~'
            | b'%'
            | b'|'
            | b'>'
    )
}

/// The length of the body of the line that starts at `start` (its type byte) and whose
/// bytes so far end at `end`: a CR just before `end` is taken for the start of the CRLF.
fn line_body_len(buf: &[u8], start: usize, end: usize) -> usize {
    let cr = end > start + 1 && buf.get(end - 1) == Some(&b'\r');
    end.saturating_sub(start + 1 + usize::from(cr))
}

/// The longest header line of a length (`$`, `*`, `%`...): `-1`, or the digits of a
/// `u64` with room for leading zeros. A longer one is refused whole or in pieces alike.
const MAX_LENGTH_LINE: usize = 24;

/// The longest body a line of type `kind` may have: a length's ([`MAX_LENGTH_LINE`]) or
/// a value's ([`Limits::max_bulk_len`]).
fn line_limit(kind: u8, limits: &Limits) -> usize {
    match kind {
        b'$' | b'!' | b'=' | b'*' | b'~' | b'%' | b'|' | b'>' => MAX_LENGTH_LINE,
        _ => limits.max_bulk_len,
    }
}

/// Checks a line's body of `len` bytes against the limit for lines of type `kind`.
fn line_within_limit(kind: u8, len: usize, limits: &Limits) -> Result<(), ProtocolError> {
    if len <= line_limit(kind, limits) {
        return Ok(());
    }
    Err(match kind {
        b'$' | b'!' | b'=' | b'*' | b'~' | b'%' | b'|' | b'>' => {
            ProtocolError::InvalidLength(char::from(kind))
        }
        _ => ProtocolError::LineTooLong {
            limit: limits.max_bulk_len,
        },
    })
}

/// Parses a well-formed bulk string header, `$<digits>\r\n`, in one pass: most of what
/// large replies hold. Gives the announced length and where the string's bytes start.
/// Anything else (a null, a header cut short, too many digits, a malformed line, a length
/// over the limit) is `None`, for the general path to parse or reject.
#[inline]
fn bulk_header_fast(buf: &[u8], start: usize, limits: &Limits) -> Option<(usize, usize)> {
    // Up to 18 digits cannot overflow; longer lengths go the checked way.
    const MAX_DIGITS: usize = 18;
    let line = buf.get(start + 1..)?;
    let mut len = 0usize;
    let mut digits = 0;
    while let Some(&b) = line.get(digits)
        && b.is_ascii_digit()
    {
        if digits == MAX_DIGITS {
            return None;
        }
        len = len * 10 + usize::from(b - b'0');
        digits += 1;
    }
    if digits == 0 || line.get(digits..digits + 2)? != b"\r\n" || len > limits.max_bulk_len {
        return None;
    }
    Some((len, start + 1 + digits + 2))
}

/// A bulk string that starts at `start` and is whole in `buf`, checked as
/// [`bulk_header_fast`] checks its header: the range of its bytes and where the next
/// element starts. `None` for anything else.
#[inline]
fn whole_bulk(buf: &[u8], start: usize, limits: &Limits) -> Option<(Range<usize>, usize)> {
    if buf.get(start) != Some(&b'$') {
        return None;
    }
    let (len, body) = bulk_header_fast(buf, start, limits)?;
    let end = body.checked_add(len)?;
    let next = end.checked_add(2)?;
    (buf.get(end..next)? == b"\r\n").then_some((body..end, next))
}

/// Parses a length; `-1` (null) is `None`.
fn parse_len(kind: u8, line: &[u8]) -> Result<Option<usize>, ProtocolError> {
    match line {
        b"-1" => Ok(None),
        b"?" => Err(ProtocolError::Streamed),
        _ => parse_digits(line)
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or(ProtocolError::InvalidLength(char::from(kind))),
    }
}

/// Parses one or more ASCII digits as a `u64`, refusing overflow.
fn parse_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// Parses a RESP integer: an optional `-`, then digits, within `i64`.
pub(crate) fn parse_int(text: &[u8]) -> Option<i64> {
    match text {
        [b'-', digits @ ..] => {
            let magnitude = parse_digits(digits)?;
            0i64.checked_sub_unsigned(magnitude)
        }
        digits => i64::try_from(parse_digits(digits)?).ok(),
    }
}

fn invalid(kind: &'static str, text: &[u8]) -> ProtocolError {
    const SHOWN: usize = 32;
    let shown = text.get(..SHOWN).unwrap_or(text);
    ProtocolError::InvalidValue {
        kind,
        text: String::from_utf8_lossy(shown).into_owned(),
    }
}

/// One element of the frame in progress, as the scan found it. Offsets are from the
/// start of the frame, which stays at the front of the buffer until it is complete.
#[derive(Debug)]
enum Token {
    Line { kind: u8, content: Range<usize> },
    Blob { kind: u8, data: Range<usize> },
    Aggregate { kind: u8, len: usize },
    Null,
}

/// The most [`Decoder::wanted`] asks a reader to reserve ahead of the bytes received.
pub const MAX_RESERVE_AHEAD: usize = 4 * 1024 * 1024;

/// A tape that grew past this many tokens for one large reply is released afterwards.
const MAX_RETAINED_TOKENS: usize = 64 * 1024;

/// Progress through the frame in progress, kept between calls to [`Decoder::decode`].
#[derive(Debug, Default)]
struct Scan {
    /// Bytes at the front of the buffer that hold whole elements of this frame.
    done: usize,
    /// Where to continue looking for the end of the current element's header line.
    line_from: usize,
    /// Entries still expected by each open aggregate, innermost last.
    open: Vec<Open>,
    /// The elements of the frame so far, in order.
    tape: Vec<Token>,
    /// The buffer length the blob being waited for needs; see [`Decoder::wanted`].
    wanted: usize,
}

#[derive(Debug)]
struct Open {
    remaining: usize,
    /// An attribute is not an element of its parent: the value it annotates follows it.
    is_attribute: bool,
}

impl Scan {
    fn reset(&mut self) {
        self.done = 0;
        self.line_from = 0;
        self.open.clear();
        self.wanted = 0;
        self.tape.clear();
        if self.tape.capacity() > MAX_RETAINED_TOKENS {
            self.tape.shrink_to(MAX_RETAINED_TOKENS / 16);
        }
    }

    /// Scans on from where the last call stopped; returns the frame's length once the
    /// whole frame is in `buf`.
    fn run(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, ProtocolError> {
        loop {
            self.scan_bulks(buf, limits);
            let start = self.done;
            let (header, body) = match parse_header(buf, start, self.line_from, limits)? {
                Parsed::Header(header, body) => (header, body),
                Parsed::Incomplete { searched_to } => {
                    self.line_from = searched_to;
                    return Ok(None);
                }
            };
            self.line_from = 0;
            let is_element = match header {
                Header::Line { kind, content } => {
                    self.done = body;
                    self.tape.push(Token::Line { kind, content });
                    true
                }
                Header::Null => {
                    self.done = body;
                    self.tape.push(Token::Null);
                    true
                }
                Header::Blob { kind, len } => {
                    let end = body.checked_add(len).and_then(|n| n.checked_add(2)).ok_or(
                        ProtocolError::StringTooLong {
                            len,
                            limit: limits.max_bulk_len,
                        },
                    )?;
                    match buf.get(end - 2..end) {
                        None => {
                            self.wanted = end;
                            return Ok(None);
                        }
                        Some(b"\r\n") => self.done = end,
                        Some(_) => return Err(ProtocolError::MissingCrlf),
                    }
                    self.tape.push(Token::Blob {
                        kind,
                        data: body..end - 2,
                    });
                    true
                }
                Header::Aggregate { kind, len } => {
                    self.done = body;
                    self.tape.push(Token::Aggregate { kind, len });
                    let is_attribute = kind == b'|';
                    let entries = if kind == b'%' || is_attribute {
                        len.checked_mul(2).ok_or(ProtocolError::AggregateTooLong {
                            len,
                            limit: limits.max_aggregate_len,
                        })?
                    } else {
                        len
                    };
                    // Every aggregate counts, empty ones too, as `Frame::build` counts them.
                    if self.open.len() >= limits.max_depth {
                        return Err(ProtocolError::TooDeep {
                            limit: limits.max_depth,
                        });
                    }
                    if entries == 0 {
                        !is_attribute
                    } else {
                        self.open.push(Open {
                            remaining: entries,
                            is_attribute,
                        });
                        false
                    }
                }
            };
            if is_element && self.complete_element() {
                return Ok(Some(self.done));
            }
        }
    }

    /// Takes a run of whole bulk strings inside the innermost open aggregate, short of
    /// its last entry, without the general path's header dispatch and element
    /// bookkeeping: the arrays and maps of strings that large replies are made of. It
    /// stops at anything else, at a string not whole yet, and before the entry that
    /// closes the aggregate, all of which the general path takes.
    #[inline]
    fn scan_bulks(&mut self, buf: &[u8], limits: &Limits) {
        let Some(top) = self.open.last_mut() else {
            return;
        };
        while top.remaining > 1
            && let Some((data, next)) = whole_bulk(buf, self.done, limits)
        {
            self.tape.push(Token::Blob { kind: b'$', data });
            self.done = next;
            self.line_from = 0;
            top.remaining -= 1;
        }
    }

    /// Counts one finished element against the open aggregates; returns `true` when that
    /// finishes the frame.
    fn complete_element(&mut self) -> bool {
        while let Some(top) = self.open.last_mut() {
            top.remaining -= 1;
            if top.remaining > 0 {
                return false;
            }
            let was_attribute = top.is_attribute;
            self.open.pop();
            if was_attribute {
                return false;
            }
        }
        true
    }
}

/// A whole frame the scan has checked, read element by element in wire order.
///
/// [`Frame::value`] builds the next element as a [`Value`]; the other readers take the
/// next element straight from the frame's bytes when it is of the kind they ask for, and
/// otherwise leave it in place. That is how `FromRedisValue` fills a `Vec<String>` or a
/// `HashMap` without an intermediate tree. Reading stops wherever the reader stops: the
/// frame has already left the buffer, so unread elements cost nothing.
///
/// Everything it relies on is still checked, so an inconsistency is an error, never a
/// panic.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct Frame<'a> {
    /// The frame's bytes.
    data: &'a [u8],
    /// The same bytes frozen, when strings may be taken as zero-copy slices of them.
    owner: Option<&'a Bytes>,
    tokens: std::slice::Iter<'a, Token>,
    limits: &'a Limits,
    /// A stretch of `data` already checked to be UTF-8, which
    /// [`Frame::peek_str`] slices text from.
    text: TextWindow<'a>,
}

/// How much of a frame [`Frame::peek_str`] checks for UTF-8 at once, from the string it
/// was asked for on: the strings after it are most likely text too, and one check of a
/// long stretch costs much less than one per short string.
const TEXT_WINDOW: usize = 4096;

/// Bytes `start..start + text.len()` of a frame, known to be UTF-8.
#[derive(Debug, Clone, Default)]
struct TextWindow<'a> {
    start: usize,
    text: &'a str,
}

impl<'a> TextWindow<'a> {
    /// Bytes `range` of the frame as text, when they lie in the window. `None` too when
    /// the range splits a character, so a string that is not UTF-8 on its own is never
    /// returned.
    #[inline]
    fn get(&self, range: Range<usize>) -> Option<&'a str> {
        let from = range.start.checked_sub(self.start)?;
        let to = range.end.checked_sub(self.start)?;
        self.text.get(from..to)
    }
}

impl<'a> Frame<'a> {
    /// Builds the next element as a [`Value`].
    ///
    /// # Errors
    ///
    /// A [`ProtocolError`] when a scalar in it does not parse, or the frame has no
    /// element left.
    pub fn value(&mut self) -> Result<Value, ProtocolError> {
        self.build(0)
    }

    /// Bytes `range` of the frame: a zero-copy slice of the frozen frame, or a copy
    /// when the frame is read in place.
    fn slice(&self, range: Range<usize>) -> Bytes {
        match self.owner {
            Some(owner) if range.start <= range.end && range.end <= owner.len() => {
                owner.slice(range)
            }
            _ => Bytes::copy_from_slice(self.data.get(range).unwrap_or_default()),
        }
    }

    /// [`Frame::value`] as a function of any frame, to pass where a reader of frames is
    /// wanted (the method path names one frame lifetime, this function takes any).
    pub(crate) fn build_value(frame: &mut Frame<'_>) -> Result<Value, ProtocolError> {
        frame.value()
    }

    /// The next element's first token, past any RESP3 attributes before it: they are
    /// dropped here, as [`Frame::value`] drops them, so every reader sees the element they
    /// annotate.
    // Every reader of the frame calls it for every element: the profile shows the call
    // itself when it is not inlined.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn peek(&mut self) -> Option<&'a Token> {
        let first = self.tokens.as_slice().first()?;
        if !matches!(first, Token::Aggregate { kind: b'|', .. }) {
            return Some(first);
        }
        self.skip_attributes();
        self.tokens.as_slice().first()
    }

    /// Passes over the attributes at the front of the frame: each is a header and its
    /// pairs of elements, any of which may be aggregates (or carry attributes) in turn.
    #[inline(never)]
    fn skip_attributes(&mut self) {
        while let Some(&Token::Aggregate { kind: b'|', len }) = self.tokens.as_slice().first() {
            self.tokens.next();
            for _ in 0..len.saturating_mul(2) {
                self.skip_element();
            }
        }
    }

    /// The next element as text, when it is a bulk or simple string of UTF-8.
    ///
    /// A string outside the stretch checked so far starts a new one: from the string on,
    /// [`TEXT_WINDOW`] bytes or the string, whichever is longer, up to the end of the
    /// frame, or as far as the bytes are UTF-8.
    #[inline]
    pub(crate) fn peek_str(&mut self) -> Option<&'a str> {
        let range = match self.peek()? {
            Token::Blob { kind: b'$', data } => data.clone(),
            Token::Line {
                kind: b'+',
                content,
            } => content.clone(),
            _ => return None,
        };
        match self.text.get(range.clone()) {
            Some(text) => Some(text),
            None => self.check_text_from(range),
        }
    }

    /// Checks a new stretch of text, from bytes `range` on, for [`Frame::peek_str`].
    #[inline(never)]
    fn check_text_from(&mut self, range: Range<usize>) -> Option<&'a str> {
        let end = range
            .start
            .saturating_add(TEXT_WINDOW.max(range.len()))
            .min(self.data.len());
        let stretch = self.data.get(range.start..end)?;
        let text = match std::str::from_utf8(stretch) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(stretch.get(..e.valid_up_to())?).ok()?,
        };
        self.text = TextWindow {
            start: range.start,
            text,
        };
        self.text.get(range)
    }

    /// Passes over the element a `peek_` method just returned. It must be a scalar.
    pub(crate) fn skip_scalar(&mut self) {
        self.tokens.next();
    }

    /// Passes over the next element, whatever it is, without reading it: what a reader
    /// that wants nothing of the reply does.
    pub(crate) fn skip_element(&mut self) {
        // Elements still to pass over; an attribute adds its entries and is no element.
        let mut pending = 1usize;
        while pending > 0 {
            let Some(token) = self.tokens.next() else {
                return;
            };
            pending = match *token {
                Token::Aggregate { kind: b'|', len } => {
                    pending.saturating_add(len.saturating_mul(2))
                }
                Token::Aggregate { kind: b'%', len } => {
                    (pending - 1).saturating_add(len.saturating_mul(2))
                }
                Token::Aggregate { len, .. } => (pending - 1).saturating_add(len),
                _ => pending - 1,
            };
        }
    }

    /// The next element as a zero-copy slice, when it is a bulk string: most of what
    /// large replies hold. The builder takes it here too, which skips the general path's
    /// `Result` round trip; the profile showed that costing more than the slice.
    #[inline]
    pub(crate) fn next_bulk(&mut self) -> Option<Bytes> {
        match self.peek()? {
            Token::Blob { kind: b'$', data } if data.end <= self.data.len() => {
                self.tokens.next();
                Some(self.slice(data.clone()))
            }
            _ => None,
        }
    }

    /// The next element, when it is a RESP integer.
    pub(crate) fn next_int(&mut self) -> Option<i64> {
        match self.peek()? {
            Token::Line {
                kind: b':',
                content,
            } => {
                let n = parse_int(self.data.get(content.clone())?)?;
                self.tokens.next();
                Some(n)
            }
            _ => None,
        }
    }

    /// Passes over the next element when it is a null; says whether it was.
    pub(crate) fn next_null(&mut self) -> bool {
        let null = match self.peek() {
            Some(Token::Null) => true,
            Some(Token::Line {
                kind: b'_',
                content,
            }) => content.is_empty(),
            _ => false,
        };
        if null {
            self.tokens.next();
        }
        null
    }

    /// The next element's number of entries, when it is an aggregate whose type byte is
    /// one of `kinds`.
    pub(crate) fn next_aggregate(&mut self, kinds: &[u8]) -> Option<usize> {
        match *self.peek()? {
            Token::Aggregate { kind, len } if kinds.contains(&kind) => {
                self.tokens.next();
                Some(len)
            }
            _ => None,
        }
    }

    /// The number of key/value pairs that follow, when the next element is a map or an
    /// array holding an even number of elements and not starting with an aggregate:
    /// RESP2's flat `k1 v1 k2 v2` form. Arrays of pairs are left to the general path.
    pub(crate) fn next_pairs(&mut self) -> Option<usize> {
        self.peek()?;
        let tokens = self.tokens.as_slice();
        let pairs = match *tokens.first()? {
            Token::Aggregate { kind: b'%', len } => len,
            Token::Aggregate {
                kind: b'*' | b'~' | b'>',
                len,
            } if len % 2 == 0 && !matches!(tokens.get(1), Some(Token::Aggregate { .. })) => len / 2,
            _ => return None,
        };
        self.tokens.next();
        Some(pairs)
    }

    /// The next element, when it is an error reply.
    pub(crate) fn next_error(&mut self) -> Option<ServerError> {
        let range = match self.peek()? {
            Token::Line {
                kind: b'-',
                content: range,
            }
            | Token::Blob {
                kind: b'!',
                data: range,
            } => range.clone(),
            _ => return None,
        };
        self.tokens.next();
        let text = self.data.get(range).unwrap_or_default();
        Some(ServerError::new(String::from_utf8_lossy(text)))
    }

    /// Whether the next element is a RESP3 push.
    pub(crate) fn at_push(&mut self) -> bool {
        matches!(self.peek(), Some(Token::Aggregate { kind: b'>', .. }))
    }

    /// The most elements that can still follow: a bound for reserving room.
    pub(crate) fn remaining(&self) -> usize {
        self.tokens.len()
    }

    fn build(&mut self, depth: usize) -> Result<Value, ProtocolError> {
        // Attributes are dropped unread, as every reader of the frame drops them: the
        // value they annotate follows.
        self.peek();
        match self.tokens.next().ok_or(ProtocolError::MissingCrlf)? {
            Token::Null => Ok(Value::Nil),
            Token::Line { kind, content } => self.line(*kind, content.clone()),
            Token::Blob { kind, data } => self.blob(*kind, data.clone()),
            &Token::Aggregate { kind, len } => {
                if depth >= self.limits.max_depth {
                    return Err(ProtocolError::TooDeep {
                        limit: self.limits.max_depth,
                    });
                }
                self.aggregate(kind, len, depth + 1)
            }
        }
    }

    fn line(&self, kind: u8, content: Range<usize>) -> Result<Value, ProtocolError> {
        let text = self.data.get(content.clone()).unwrap_or_default();
        Ok(match kind {
            b'+' => Value::SimpleString(match text {
                // The status replies most commands give cost no allocation.
                b"OK" => Bytes::from_static(b"OK"),
                b"PONG" => Bytes::from_static(b"PONG"),
                b"QUEUED" => Bytes::from_static(b"QUEUED"),
                _ => self.slice(content),
            }),
            b'-' => Value::ServerError(ServerError::new(String::from_utf8_lossy(text))),
            b':' => Value::Int(parse_int(text).ok_or_else(|| invalid("integer", text))?),
            b',' => Value::Double(
                std::str::from_utf8(text)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| invalid("double", text))?,
            ),
            b'#' => match text {
                b"t" => Value::Boolean(true),
                b"f" => Value::Boolean(false),
                _ => return Err(invalid("boolean", text)),
            },
            b'(' => {
                let digits = text.strip_prefix(b"-").unwrap_or(text);
                if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                    return Err(invalid("big number", text));
                }
                Value::BigNumber(self.slice(content))
            }
            _ if text.is_empty() => Value::Nil,
            _ => return Err(invalid("null", text)),
        })
    }

    fn blob(&self, kind: u8, data: Range<usize>) -> Result<Value, ProtocolError> {
        if data.end > self.data.len() {
            return Err(ProtocolError::MissingCrlf);
        }
        Ok(match kind {
            b'$' => Value::BulkString(self.slice(data)),
            b'!' => {
                let text = self.data.get(data).unwrap_or_default();
                Value::ServerError(ServerError::new(String::from_utf8_lossy(text)))
            }
            _ => match self.data.get(data.clone()).unwrap_or_default() {
                [a, b, c, b':', ..] => Value::VerbatimString {
                    format: [*a, *b, *c],
                    text: self.slice(data.start + 4..data.end),
                },
                text => return Err(invalid("verbatim string", text)),
            },
        })
    }

    fn element(&mut self, depth: usize) -> Result<Value, ProtocolError> {
        match self.next_bulk() {
            Some(bytes) => Ok(Value::BulkString(bytes)),
            None => self.build(depth),
        }
    }

    fn aggregate(&mut self, kind: u8, len: usize, depth: usize) -> Result<Value, ProtocolError> {
        // The scan found every entry on the tape, so the announced length is backed;
        // the bound keeps that true even were the tape inconsistent.
        let capacity = len.min(self.tokens.len());
        if kind == b'%' {
            let mut pairs = Vec::with_capacity(capacity);
            for _ in 0..len {
                let key = self.element(depth)?;
                let value = self.element(depth)?;
                pairs.push((key, value));
            }
            return Ok(Value::Map(pairs));
        }
        let mut items = Vec::with_capacity(capacity);
        for _ in 0..len {
            if let Some(bytes) = self.next_bulk() {
                items.push(Value::BulkString(bytes));
            } else {
                items.push(self.build(depth)?);
            }
        }
        Ok(match kind {
            b'~' => Value::Set(items),
            b'>' => Value::Push(items),
            _ => Value::Array(items),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lines_are_taken_together_up_to_the_first_other_frame() {
        let ok = || Value::SimpleString(Bytes::from_static(b"OK"));
        let mut decoder = Decoder::new();
        let mut buf =
            BytesMut::from(&b"+OK\r\n:7\r\n+QUEUED\r\n$1\r\nx\r\n+OK\r\n:-3\r\n+OK\r"[..]);
        let mut out = Vec::new();
        // No more than asked for.
        assert_eq!(decoder.decode_short_lines(&mut buf, &mut out, 2), 2);
        assert_eq!(out, [ok(), Value::Int(7)]);
        // Up to the bulk string, which is left for the scan.
        assert_eq!(decoder.decode_short_lines(&mut buf, &mut out, 10), 1);
        assert_eq!(decoder.decode_short_lines(&mut buf, &mut out, 10), 0);
        assert_eq!(
            decoder.decode(&mut buf).unwrap(),
            Some(Value::BulkString(Bytes::from_static(b"x")))
        );
        // A line not whole yet stays where it is.
        assert_eq!(decoder.decode_short_lines(&mut buf, &mut out, 10), 2);
        assert_eq!(out[3..], [ok(), Value::Int(-3)]);
        assert_eq!(&buf[..], b"+OK\r");
        // Nor is anything taken while a frame is part scanned.
        let mut buf = BytesMut::from(&b"*2\r\n:1\r\n"[..]);
        assert_eq!(decoder.decode(&mut buf).unwrap(), None);
        assert_eq!(decoder.decode_short_lines(&mut buf, &mut out, 10), 0);
        buf.extend_from_slice(b":2\r\n");
        assert_eq!(
            decoder.decode(&mut buf).unwrap(),
            Some(Value::Array(vec![Value::Int(1), Value::Int(2)]))
        );
    }

    fn decode_all(input: &[u8]) -> Result<Vec<Value>, ProtocolError> {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(v) = decoder.decode(&mut buf)? {
            out.push(v);
        }
        assert!(buf.is_empty(), "left over: {buf:?}");
        Ok(out)
    }

    #[track_caller]
    fn check(input: &str, expected: &Value) {
        // Whole, then one byte at a time: the answer must not depend on the split.
        assert_eq!(
            decode_all(input.as_bytes()).unwrap(),
            vec![expected.clone()]
        );
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in input.bytes() {
            buf.extend_from_slice(&[b]);
            if let Some(v) = decoder.decode(&mut buf).unwrap() {
                got.push(v);
            }
        }
        assert_eq!(got, vec![expected.clone()], "byte by byte");
    }

    #[track_caller]
    fn check_err(input: &str, expected: &ProtocolError) {
        assert_eq!(decode_all(input.as_bytes()).unwrap_err(), *expected);
    }

    fn bulk(s: &str) -> Value {
        Value::BulkString(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn simple(s: &str) -> Value {
        Value::SimpleString(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn scalars() {
        check("+OK\r\n", &simple("OK"));
        check("+\r\n", &simple(""));
        check(
            "-ERR bad\r\n",
            &Value::ServerError(ServerError::new("ERR bad")),
        );
        check(":0\r\n", &Value::Int(0));
        check(":-42\r\n", &Value::Int(-42));
        check(":9223372036854775807\r\n", &Value::Int(i64::MAX));
        check(":-9223372036854775808\r\n", &Value::Int(i64::MIN));
        check("$5\r\nhello\r\n", &bulk("hello"));
        check("$0\r\n\r\n", &bulk(""));
        check("$4\r\na\r\nb\r\n", &bulk("a\r\nb"));
        check("$-1\r\n", &Value::Nil);
        check("*-1\r\n", &Value::Nil);
        check("_\r\n", &Value::Nil);
        check(",1.5\r\n", &Value::Double(1.5));
        check(",-2\r\n", &Value::Double(-2.0));
        check(",1e300\r\n", &Value::Double(1e300));
        check(",inf\r\n", &Value::Double(f64::INFINITY));
        check(",-inf\r\n", &Value::Double(f64::NEG_INFINITY));
        check("#t\r\n", &Value::Boolean(true));
        check("#f\r\n", &Value::Boolean(false));
        check(
            "(3492890328409238509324850943850943825024385\r\n",
            &Value::BigNumber(Bytes::from_static(
                b"3492890328409238509324850943850943825024385",
            )),
        );
        check("(-1\r\n", &Value::BigNumber(Bytes::from_static(b"-1")));
        check(
            "=15\r\ntxt:Some string\r\n",
            &Value::VerbatimString {
                format: *b"txt",
                text: Bytes::from_static(b"Some string"),
            },
        );
        check(
            "!21\r\nSYNTAX invalid syntax\r\n",
            &Value::ServerError(ServerError::new("SYNTAX invalid syntax")),
        );
    }

    #[test]
    fn nan_is_a_double() {
        let values = decode_all(b",nan\r\n").unwrap();
        assert!(matches!(values[..], [Value::Double(d)] if d.is_nan()));
    }

    #[test]
    fn aggregates() {
        check("*0\r\n", &Value::Array(vec![]));
        check(
            "*2\r\n$3\r\nfoo\r\n:1\r\n",
            &Value::Array(vec![bulk("foo"), Value::Int(1)]),
        );
        check(
            "*2\r\n*1\r\n_\r\n*0\r\n",
            &Value::Array(vec![Value::Array(vec![Value::Nil]), Value::Array(vec![])]),
        );
        check(
            "%2\r\n+a\r\n:1\r\n+b\r\n*1\r\n#t\r\n",
            &Value::Map(vec![
                (simple("a"), Value::Int(1)),
                (simple("b"), Value::Array(vec![Value::Boolean(true)])),
            ]),
        );
        check("%0\r\n", &Value::Map(vec![]));
        check(
            "~2\r\n+x\r\n+y\r\n",
            &Value::Set(vec![simple("x"), simple("y")]),
        );
        check(
            ">3\r\n+message\r\n+ch\r\n$2\r\nhi\r\n",
            &Value::Push(vec![simple("message"), simple("ch"), bulk("hi")]),
        );
    }

    #[test]
    fn attributes_are_skipped() {
        check(
            "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n",
            &Value::Array(vec![Value::Int(2_039_123), Value::Int(9_543_892)]),
        );
        check(
            "*2\r\n|1\r\n+ttl\r\n:3600\r\n:1\r\n:2\r\n",
            &Value::Array(vec![Value::Int(1), Value::Int(2)]),
        );
        check("|0\r\n+OK\r\n", &simple("OK"));
        check("|1\r\n+a\r\n+b\r\n|1\r\n+c\r\n+d\r\n:5\r\n", &Value::Int(5));
    }

    #[test]
    fn frames_back_to_back() {
        let values = decode_all(b"+OK\r\n:1\r\n*1\r\n$1\r\nx\r\n").unwrap();
        assert_eq!(
            values,
            vec![simple("OK"), Value::Int(1), Value::Array(vec![bulk("x")])]
        );
    }

    #[test]
    fn incomplete_input_is_not_consumed() {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::from(&b"*2\r\n:1\r\n"[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert_eq!(&buf[..], b"*2\r\n:1\r\n");
        buf.extend_from_slice(b":2\r\n+next");
        assert_eq!(
            decoder.decode(&mut buf),
            Ok(Some(Value::Array(vec![Value::Int(1), Value::Int(2)])))
        );
        assert_eq!(&buf[..], b"+next");
        assert_eq!(decoder.decode(&mut buf), Ok(None));
    }

    #[test]
    fn bulk_strings_share_the_read_buffer() {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nabc\r\n$3\r\ndef\r\n"[..]);
        let Some(Value::Array(items)) = decoder.decode(&mut buf).unwrap() else {
            panic!("expected an array");
        };
        let [Value::BulkString(a), Value::BulkString(b)] = &items[..] else {
            panic!("expected two bulk strings");
        };
        // Both slices point into one allocation, three bytes plus CRLF and header apart.
        assert_eq!(b.as_ptr() as usize - a.as_ptr() as usize, 9);
    }

    #[test]
    fn malformed_input() {
        check_err("?\r\n", &ProtocolError::InvalidType(b'?'));
        check_err("+OK\n", &ProtocolError::MissingCrlf);
        check_err("$3\r\nabcd\r\n", &ProtocolError::MissingCrlf);
        check_err("$x\r\n", &ProtocolError::InvalidLength('$'));
        check_err("$-2\r\n", &ProtocolError::InvalidLength('$'));
        check_err("%-1\r\n", &ProtocolError::InvalidLength('%'));
        check_err("$?\r\n", &ProtocolError::Streamed);
        check_err("*?\r\n", &ProtocolError::Streamed);
        check_err(
            ":12a\r\n",
            &ProtocolError::InvalidValue {
                kind: "integer",
                text: "12a".into(),
            },
        );
        check_err(
            ":9223372036854775808\r\n",
            &ProtocolError::InvalidValue {
                kind: "integer",
                text: "9223372036854775808".into(),
            },
        );
        check_err(
            ",1.2.3\r\n",
            &ProtocolError::InvalidValue {
                kind: "double",
                text: "1.2.3".into(),
            },
        );
        check_err(
            "#x\r\n",
            &ProtocolError::InvalidValue {
                kind: "boolean",
                text: "x".into(),
            },
        );
        check_err(
            "(12-3\r\n",
            &ProtocolError::InvalidValue {
                kind: "big number",
                text: "12-3".into(),
            },
        );
        check_err(
            "=3\r\ntxt\r\n",
            &ProtocolError::InvalidValue {
                kind: "verbatim string",
                text: "txt".into(),
            },
        );
        check_err(
            "_x\r\n",
            &ProtocolError::InvalidValue {
                kind: "null",
                text: "x".into(),
            },
        );
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_bulk_len: 4,
            max_depth: 2,
            max_aggregate_len: 3,
        };
        let run = |input: &[u8]| {
            let mut decoder = Decoder::with_limits(limits);
            decoder.decode(&mut BytesMut::from(input))
        };
        assert_eq!(
            run(b"$5\r\n"),
            Err(ProtocolError::StringTooLong { len: 5, limit: 4 })
        );
        assert!(run(b"$4\r\nabcd\r\n").is_ok());
        assert_eq!(
            run(b"+abcdefgh"),
            Err(ProtocolError::LineTooLong { limit: 4 })
        );
        assert_eq!(
            run(b"*4\r\n"),
            Err(ProtocolError::AggregateTooLong { len: 4, limit: 3 })
        );
        assert_eq!(
            run(b"*1\r\n*1\r\n*1\r\n"),
            Err(ProtocolError::TooDeep { limit: 2 })
        );
        assert!(run(b"*1\r\n*1\r\n:1\r\n").unwrap().is_some());
    }

    /// Decodes `input` fed in pieces of `piece` bytes (whole when 0); the values, or the
    /// first error.
    fn decode_in_pieces(
        input: &[u8],
        piece: usize,
        limits: Limits,
    ) -> Result<Vec<Value>, ProtocolError> {
        let mut decoder = Decoder::with_limits(limits);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let piece = if piece == 0 {
            input.len().max(1)
        } else {
            piece
        };
        for chunk in input.chunks(piece) {
            buf.extend_from_slice(chunk);
            while let Some(v) = decoder.decode(&mut buf)? {
                out.push(v);
            }
        }
        Ok(out)
    }

    // Issue 20, item 9: the short-line fast path ignored the limits, so the outcome
    // depended on how the bytes arrived.
    #[test]
    fn limits_hold_however_the_bytes_arrive() {
        let tiny = |max_bulk_len| Limits {
            max_bulk_len,
            max_depth: 2,
            max_aggregate_len: 3,
        };
        let cases: &[(&[u8], Limits)] = &[
            (b"+OK\r\n", tiny(1)),
            (b"+OK\r\n", tiny(0)),
            (b":123456789\r\n", tiny(4)),
            (b":1234\r\n", tiny(4)),
            (b"+QUEUED\r\n", tiny(5)),
            (b"+abcd\n", tiny(4)),
            (b"+abcde\n", tiny(4)),
            (b"+ab\rcd\n", tiny(4)),
            (b"$000000000000000000000000005\r\nhello\r\n", tiny(8)),
            (b"?\n", tiny(8)),
            (b"*1\r\n*1\r\n*0\r\n", tiny(8)),
            (b"*1\r\n|0\r\n:1\r\n", tiny(8)),
            (b"*1\r\n*1\r\n|0\r\n:1\r\n", tiny(8)),
        ];
        for (input, limits) in cases {
            let whole = decode_in_pieces(input, 0, *limits);
            for piece in 1..input.len() {
                assert_eq!(
                    decode_in_pieces(input, piece, *limits),
                    whole,
                    "{:?} in pieces of {piece} under {limits:?}",
                    String::from_utf8_lossy(input)
                );
            }
        }
        assert_eq!(
            decode_in_pieces(b":123456789\r\n", 0, tiny(4)),
            Err(ProtocolError::LineTooLong { limit: 4 })
        );
        assert_eq!(
            decode_in_pieces(b"+OK\r\n", 0, tiny(1)),
            Err(ProtocolError::LineTooLong { limit: 1 })
        );
        assert_eq!(
            decode_in_pieces(b"*1\r\n*1\r\n*0\r\n", 0, tiny(8)),
            Err(ProtocolError::TooDeep { limit: 2 })
        );
    }

    /// Reads the first frame of `input` with `read`.
    fn read_frame<R>(input: &[u8], read: impl FnOnce(&mut Frame<'_>) -> R) -> R {
        Decoder::new()
            .decode_with(&mut BytesMut::from(input), read)
            .unwrap()
            .unwrap()
    }

    // Issue 20, item 10: typed readers on the frame saw the attribute, not the null it
    // annotates.
    #[test]
    // A method path names one frame lifetime; `read_frame` takes a reader of any.
    #[allow(clippy::redundant_closure_for_method_calls)]
    fn frame_readers_pass_over_attributes() {
        assert!(read_frame(b"|1\r\n+ttl\r\n:10\r\n_\r\n", |frame| frame.next_null()));
        assert_eq!(
            read_frame(
                b"|1\r\n+a\r\n*2\r\n|1\r\n+b\r\n%1\r\n:1\r\n:2\r\n:3\r\n:4\r\n:7\r\n",
                |frame| frame.next_int()
            ),
            Some(7)
        );
        assert_eq!(
            read_frame(b"|1\r\n+a\r\n+b\r\n|0\r\n$2\r\nhi\r\n", |frame| frame
                .next_bulk()),
            Some(Bytes::from_static(b"hi"))
        );
        assert!(read_frame(b"|1\r\n+k\r\n+v\r\n>1\r\n+x\r\n", |frame| frame.at_push()));
        assert_eq!(
            read_frame(b"|1\r\n+k\r\n+v\r\n%1\r\n+a\r\n+b\r\n", |frame| frame
                .next_pairs()),
            Some(1)
        );
        assert_eq!(
            read_frame(
                b"|1\r\n+k\r\n+v\r\n*2\r\n|1\r\n+k\r\n+v\r\n:1\r\n:2\r\n",
                |frame| {
                    let len = frame.next_aggregate(b"*");
                    (len, frame.next_int(), frame.next_int(), frame.remaining())
                }
            ),
            (Some(2), Some(1), Some(2), 0)
        );
    }

    #[test]
    fn wanted_names_the_rest_of_a_bulk_string_within_a_bound() {
        let mut decoder = Decoder::new();
        assert_eq!(decoder.wanted(0), 0);
        let mut buf = BytesMut::from(&b"*2\r\n$10\r\nabc"[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        // 4 + 5 header bytes, 10 of payload and its CRLF.
        assert_eq!(decoder.wanted(buf.len()), 21 - buf.len());
        buf.extend_from_slice(b"defghij\r\n:1\r\n");
        assert!(decoder.decode(&mut buf).unwrap().is_some());
        assert_eq!(decoder.wanted(buf.len()), 0);
        let mut buf = BytesMut::from(&b"$536870912\r\n"[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert_eq!(decoder.wanted(buf.len()), MAX_RESERVE_AHEAD);
    }

    #[test]
    fn huge_announced_lengths_reserve_nothing() {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::from(&b"*2000000000\r\n:1\r\n"[..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        let mut buf = BytesMut::from(&b"$536870912\r\nabc"[..]);
        assert_eq!(Decoder::new().decode(&mut buf), Ok(None));
    }

    #[test]
    fn a_long_line_in_pieces_is_searched_once() {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::from(&b"+"[..]);
        for _ in 0..1000 {
            buf.extend_from_slice(b"abcdefgh");
            assert_eq!(decoder.decode(&mut buf), Ok(None));
            assert_eq!(decoder.scan.line_from, buf.len());
        }
        buf.extend_from_slice(b"\r\n");
        let Some(Value::SimpleString(s)) = decoder.decode(&mut buf).unwrap() else {
            panic!("expected a simple string");
        };
        assert_eq!(s.len(), 8000);
    }

    #[test]
    fn unbounded_limits_cannot_overflow() {
        let limits = Limits {
            max_bulk_len: usize::MAX,
            max_depth: usize::MAX,
            max_aggregate_len: usize::MAX,
        };
        for input in [
            &b"$18446744073709551615\r\n"[..],
            b"%18446744073709551615\r\n",
        ] {
            let mut decoder = Decoder::with_limits(limits);
            assert!(decoder.decode(&mut BytesMut::from(input)).is_err());
        }
    }

    #[test]
    fn integers() {
        assert_eq!(parse_int(b"0"), Some(0));
        assert_eq!(parse_int(b"-0"), Some(0));
        assert_eq!(parse_int(b""), None);
        assert_eq!(parse_int(b"-"), None);
        assert_eq!(parse_int(b"+1"), None);
        assert_eq!(parse_int(b"-9223372036854775809"), None);
        assert_eq!(parse_int(b"18446744073709551616"), None);
    }
}
