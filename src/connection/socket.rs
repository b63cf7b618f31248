//! What both connections do with a socket itself: set a TCP socket up, look at whether
//! anything waits on it without reading, and say what a read came to. Nothing here
//! keeps state.

use std::io;

use super::info::{ConnectionAddr, ConnectionInfo};
use crate::error::{Error, Result};

/// Sets up a new TCP socket: `TCP_NODELAY`, and keepalive as the options say.
pub(crate) fn configure_tcp(socket: &socket2::SockRef<'_>, info: &ConnectionInfo) -> Result<()> {
    socket
        .set_tcp_nodelay(true)
        .and_then(|()| socket.set_keepalive(info.socket_keepalive))
        .map_err(|e| Error::io(format!("cannot configure the socket to {}", info.addr), e))
}

/// What a read from `addr` came to: some bytes, or an error naming the address; a read
/// of nothing is the server closing the connection.
#[inline]
pub(crate) fn read_outcome(addr: &ConnectionAddr, read: io::Result<usize>) -> Result<()> {
    match read {
        Ok(0) => Err(Error::io(
            format!("reading from {addr} failed"),
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ),
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(Error::io(format!("reading from {addr} failed"), e)),
    }
}

/// `true` when nothing waits to be read on `socket` and the peer has not closed it, by
/// one peek that does not wait. The async connections ask the socket too, as their
/// runtime may not have seen yet what it has.
pub(crate) fn is_quiet(socket: &socket2::SockRef<'_>) -> bool {
    matches!(peek_now(socket), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Peeks at one byte without waiting: `WouldBlock` when nothing has arrived, `Ok(0)` when
/// the peer closed.
#[cfg(unix)]
fn peek_now(socket: &socket2::SockRef<'_>) -> io::Result<usize> {
    let mut byte = [std::mem::MaybeUninit::uninit(); 1];
    socket.recv_with_flags(&mut byte, libc::MSG_PEEK | libc::MSG_DONTWAIT)
}

#[cfg(not(unix))]
fn peek_now(socket: &socket2::SockRef<'_>) -> io::Result<usize> {
    let mut byte = [std::mem::MaybeUninit::uninit(); 1];
    socket.set_nonblocking(true)?;
    let peeked = socket.peek(&mut byte);
    socket.set_nonblocking(false)?;
    peeked
}
