//! The IO-free core of a connection, which the blocking driver (`Connection`) and the
//! tokio one (`aio::Connection`) each wrap around their socket.
//!
//! It holds what a connection is apart from its socket: the bytes read and not yet
//! decoded, the decoder, what is encoded and not yet written, the database and protocol,
//! and whether the connection broke or a command changed its state. It turns buffered
//! bytes into replies (skipping push messages that are not replies), says which commands
//! set a new connection up and what their replies mean, and follows the commands that
//! change a connection's state. A driver's part is the IO: write what is encoded, read
//! more when a reply is not whole yet, and time it out.

use bytes::BytesMut;

use super::info::{ConnectionAddr, ConnectionInfo, ProtocolVersion};
use crate::cmd::{Cmd, CmdRef, Outgoing, StateChange, cmd};
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::{Decoder, Frame, ProtocolError};
use crate::table::CommandFlags;
use crate::tenure::Tenure;
use crate::value::{ServerErrorKind, Value};

/// How much the read buffer starts with.
const INITIAL_READ_BUF: usize = 16 * 1024;
/// A write buffer that grew past this for one large command is released afterwards.
const MAX_RETAINED_WRITE_BUF: usize = 1024 * 1024;
/// A command longer than this is written in two: its header and first bytes through the
/// write buffer, then the rest straight from the command, so a large value is not copied
/// once more before the kernel copies it, and the server starts reading it while the rest
/// is sent. Both connections split their writes at this size.
pub(crate) const DIRECT_WRITE_MIN: usize = 64 * 1024;

/// A connection's state, without its socket.
#[derive(Debug)]
pub(crate) struct ConnectionCore {
    /// Where the connection goes, for messages.
    pub(crate) addr: ConnectionAddr,
    /// Bytes read and not decoded yet; drivers read onto its end.
    pub(crate) read_buf: BytesMut,
    /// Commands encoded and not written yet.
    pub(crate) write_buf: Vec<u8>,
    decoder: Decoder,
    db: i64,
    protocol: ProtocolVersion,
    broken: bool,
    /// A command changed the connection's state (user, protocol...) behind its setup.
    state_changed: bool,
    /// How long the server keeps the role the connection was opened for, when its
    /// connector says.
    tenure: Option<Tenure>,
}

impl ConnectionCore {
    /// The core of a new connection to `info`, before its setup.
    pub(crate) fn new(info: &ConnectionInfo) -> ConnectionCore {
        ConnectionCore {
            addr: info.addr.clone(),
            read_buf: BytesMut::with_capacity(INITIAL_READ_BUF),
            write_buf: Vec::with_capacity(1024),
            decoder: Decoder::new(),
            db: info.db,
            protocol: info.protocol,
            broken: false,
            state_changed: false,
            tenure: None,
        }
    }

    /// The commands that set a new connection up, sent in one round trip: `HELLO 3`
    /// (with `AUTH` and `SETNAME`) for RESP3; otherwise `AUTH` and `CLIENT SETNAME`; then
    /// `SELECT`.
    pub(crate) fn setup_commands(info: &ConnectionInfo) -> Result<Vec<Cmd>> {
        // A provider is asked anew for each connection, so rotated secrets are picked up.
        let provided = match &info.credential_provider {
            Some(provider) => Some(provider.0.credentials()?),
            None => None,
        };
        let (username, password) = match &provided {
            Some(credentials) => (credentials.username.as_ref(), Some(&credentials.password)),
            None => (info.username.as_ref(), info.password.as_ref()),
        };
        let mut cmds = Vec::new();
        match info.protocol {
            ProtocolVersion::Resp3 => {
                let mut hello = cmd("HELLO");
                hello.arg(3);
                if let Some(password) = password {
                    let user = username.map_or("default", String::as_str);
                    hello.arg("AUTH").arg(user).arg(password.expose());
                }
                if let Some(name) = &info.client_name {
                    hello.arg("SETNAME").arg(name);
                }
                cmds.push(hello);
            }
            ProtocolVersion::Resp2 => {
                if let Some(password) = password {
                    let mut auth = cmd("AUTH");
                    if let Some(user) = username {
                        auth.arg(user);
                    }
                    auth.arg(password.expose());
                    cmds.push(auth);
                }
                if let Some(name) = &info.client_name {
                    cmds.push(cmd("CLIENT SETNAME").arg(name).clone());
                }
            }
        }
        if info.db != 0 {
            cmds.push(cmd("SELECT").arg(info.db).clone());
        }
        Ok(cmds)
    }

    /// Takes the setup's replies: the first error among them fails the setup; otherwise
    /// what the setup commands set is the connection's starting state.
    pub(crate) fn finish_setup(&mut self, replies: Vec<Value>) -> Result<()> {
        for reply in replies {
            if let Value::ServerError(e) = reply {
                return Err(e.into());
            }
        }
        self.state_changed = false;
        Ok(())
    }

    /// Fails when the connection broke before: the rest of a reply may be on its way, so
    /// no later reply could be trusted to be the one its request is waiting for.
    /// Also fails, before anything is sent, once the connection's tenure ended.
    #[inline]
    pub(crate) fn check_usable(&self) -> Result<()> {
        if self.broken {
            return Err(Error::new(
                ErrorKind::Connection,
                "connection is broken by an earlier error and cannot be reused",
            ));
        }
        if let Some(why) = self.tenure.as_ref().and_then(Tenure::ended) {
            return Err(not_sent(&self.addr, why));
        }
        Ok(())
    }

    /// Marks the connection broken when `res` is an error that leaves it out of step
    /// with the server or unsure of it (IO, a timeout, a malformed reply). A `READONLY`
    /// reply ends the connection's tenure, when it has one: its server is a replica now.
    pub(crate) fn track<T>(&mut self, res: Result<T>) -> Result<T> {
        if let Err(e) = &res {
            if e.is_unrecoverable() {
                self.broken = true;
            } else if let Some(tenure) = &self.tenure {
                end_on_readonly(tenure, &self.addr, e);
            }
        }
        res
    }

    /// Opens the connection's tenure: it is refused once that ends.
    pub(crate) fn set_tenure(&mut self, tenure: Tenure) {
        self.tenure = Some(tenure);
    }

    /// The connection's tenure, for a driver that goes on elsewhere.
    #[cfg(feature = "tokio")]
    pub(crate) fn tenure(&self) -> Option<&Tenure> {
        self.tenure.as_ref()
    }

    /// Marks the connection broken for good.
    #[cfg(feature = "tokio")]
    pub(crate) fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// `true` once the connection broke, or its tenure ended.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken || self.tenure.as_ref().is_some_and(|t| t.ended().is_some())
    }

    pub(crate) fn db(&self) -> i64 {
        self.db
    }

    pub(crate) fn protocol(&self) -> ProtocolVersion {
        self.protocol
    }

    /// `true` when the connection is as it was set up: not broken, on database `db`,
    /// with no `AUTH`, `HELLO` or `RESET` since. Pools hand on only such connections.
    pub(crate) fn is_pristine(&self, db: i64) -> bool {
        !self.is_broken() && !self.state_changed && self.db == db
    }

    /// Follows a command that succeeded and may have changed the connection's state.
    #[inline]
    pub(crate) fn note_state(&mut self, cmd: CmdRef<'_>) {
        match cmd.state_change() {
            Some(StateChange::Db(db)) => self.db = db,
            Some(StateChange::Other) => self.state_changed = true,
            None => {}
        }
    }

    /// Follows the commands of `out` that succeeded (their replies in `replies` are not
    /// errors), as [`ConnectionCore::note_state`] does one.
    pub(crate) fn note_states(&mut self, out: Outgoing<'_>, replies: &[Value]) {
        // Most batches hold no such command: their entries said so as they were queued.
        if !out.changes_state() {
            return;
        }
        let mut replies_in_turn = replies.iter();
        out.for_each(|cmd| {
            if replies_in_turn
                .next()
                .is_some_and(|reply| !matches!(reply, Value::ServerError(_)))
            {
                self.note_state(cmd);
            }
        });
    }

    /// Encodes `out` after whatever waits to be written.
    pub(crate) fn encode(&mut self, out: Outgoing<'_>) {
        out.write_packed(&mut self.write_buf);
    }

    /// Forgets what was encoded, once written (or not to be written after all); a
    /// buffer that grew large for one command is released.
    pub(crate) fn written(&mut self) {
        if self.write_buf.capacity() > MAX_RETAINED_WRITE_BUF {
            self.write_buf = Vec::with_capacity(1024);
        } else {
            self.write_buf.clear();
        }
    }

    /// How many more bytes the read buffer should make room for before the next read:
    /// what is left of a large string whose header has arrived.
    pub(crate) fn wanted(&self) -> usize {
        self.decoder.wanted(self.read_buf.len())
    }

    /// The next reply, when it is whole in the read buffer, handed to `read` as its frame;
    /// `Ok(None)` when more bytes are needed. Push messages that are not replies
    /// (invalidations, say) are skipped; the replies to the subscribe family are
    /// themselves pushes and are read. A malformed frame breaks the connection.
    pub(crate) fn decode_reply_with<R>(
        &mut self,
        mut read: impl FnMut(&mut Frame<'_>) -> R,
    ) -> Result<Option<R>> {
        loop {
            let decoded = self
                .decoder
                .decode_with(&mut self.read_buf, |frame| reply_frame(frame, &mut read));
            match self.track(decoded.map_err(Error::from))? {
                Some(Ok(Some(out))) => return Ok(Some(out)),
                // A push that is not a reply; the next frame may be buffered already.
                Some(Ok(None)) => {}
                Some(Err(e)) => return self.track(Err(e.into())),
                None => return Ok(None),
            }
        }
    }

    /// Moves the replies whole in the read buffer onto `replies`, until it holds
    /// `count`: short lines (`+OK`, `:1`) together, other frames one at a time. `Ok(true)`
    /// once all are in; `Ok(false)` when more bytes are needed.
    pub(crate) fn take_replies(&mut self, replies: &mut Vec<Value>, count: usize) -> Result<bool> {
        while replies.len() < count {
            if self
                .decoder
                .decode_short_lines(&mut self.read_buf, replies, count)
                > 0
            {
                continue;
            }
            match self.decode_reply_with(Frame::build_value)? {
                Some(value) => {
                    let value = self.track(value.map_err(Error::from))?;
                    replies.push(value);
                }
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// The next message the server sent, whatever it is (push messages included), when
    /// it is whole in the read buffer: for pub/sub and `MONITOR`, where the server talks
    /// without being asked.
    pub(crate) fn decode_message(&mut self) -> Result<Option<Value>> {
        let decoded = self.decoder.decode(&mut self.read_buf).map_err(Error::from);
        self.track(decoded)
    }

    /// The decoder and what was read past the last whole reply, for a driver that goes
    /// on reading elsewhere (the multiplexed connection's reader task).
    #[cfg(feature = "tokio")]
    pub(crate) fn into_read_state(self) -> (BytesMut, Decoder) {
        (self.read_buf, self.decoder)
    }
}

/// The error of a request refused because the tenure of its connection to `addr` ended
/// for `why`: nothing was sent, so it is safe to send again elsewhere.
pub(crate) fn not_sent(addr: &ConnectionAddr, why: &str) -> Error {
    Error::new(ErrorKind::Connection, format!("not sent to {addr}: {why}"))
}

/// Ends `tenure` when `e` is a `READONLY` reply from `addr`: the server is a replica now.
pub(crate) fn end_on_readonly(tenure: &Tenure, addr: &ConnectionAddr, e: &Error) {
    if e.server_error()
        .is_some_and(|e| e.kind() == ServerErrorKind::ReadOnly)
    {
        tenure.end(format!("{addr} answered READONLY: it is a replica now"));
    }
}

/// Hands a decoded frame to `read`, unless it is a push message that is not a reply (an
/// invalidation, say), which readers of replies skip: then `None`. The replies to the
/// subscribe family are themselves pushes and are read.
pub(crate) fn reply_frame<R>(
    frame: &mut Frame<'_>,
    read: impl FnOnce(&mut Frame<'_>) -> R,
) -> std::result::Result<Option<R>, ProtocolError> {
    if frame.at_push()
        && let Value::Push(items) = frame.clone().value()?
        && !is_subscription_reply(&items)
    {
        return Ok(None);
    }
    Ok(Some(read(frame)))
}

/// `true` for a push that is the reply to a command: the subscribe family answers with
/// pushes named after the command (`subscribe`, `sunsubscribe`...), which the table
/// flags as pub/sub; messages and invalidations name no command.
pub(crate) fn is_subscription_reply(items: &[Value]) -> bool {
    let Some(Value::SimpleString(kind) | Value::BulkString(kind)) = items.first() else {
        return false;
    };
    crate::table::lookup(kind, None).is_some_and(|info| info.flags.contains(CommandFlags::PUBSUB))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::Packed;

    fn core(url: &str) -> ConnectionCore {
        ConnectionCore::new(&url.parse().unwrap())
    }

    fn feed(core: &mut ConnectionCore, bytes: &[u8]) {
        core.read_buf.extend_from_slice(bytes);
    }

    #[test]
    fn setup_commands_follow_the_options() {
        let names = |url: &str| -> Vec<String> {
            ConnectionCore::setup_commands(&url.parse().unwrap())
                .unwrap()
                .iter()
                .map(|c| format!("{c:?}"))
                .collect()
        };
        assert!(names("redis://h/").is_empty());
        assert_eq!(
            names("redis://u:pw@h/2?client_name=app"),
            [
                r#"AUTH "u" "pw""#,
                r#"CLIENT SETNAME "app""#,
                r#"SELECT "2""#
            ]
        );
        assert_eq!(
            names("redis://:pw@h/?protocol=3&client_name=app"),
            [r#"HELLO "3" "AUTH" "default" "pw" "SETNAME" "app""#]
        );
        let mut c = core("redis://h/2");
        let err = c
            .finish_setup(vec![
                Value::SimpleString("OK".into()),
                Value::ServerError(crate::ServerError::new("WRONGPASS no")),
            ])
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Authentication);
    }

    #[test]
    fn replies_are_taken_as_they_become_whole() {
        let mut c = core("redis://h/");
        let mut replies = Vec::new();
        feed(&mut c, b"+OK\r\n:1\r\n$3\r\nab");
        assert!(!c.take_replies(&mut replies, 3).unwrap());
        assert_eq!(replies.len(), 2);
        feed(&mut c, b"c\r\n");
        assert!(c.take_replies(&mut replies, 3).unwrap());
        assert_eq!(replies[2], Value::BulkString("abc".into()));
        // A push that is not a reply is skipped; a subscription reply is one.
        feed(
            &mut c,
            b">2\r\n+invalidate\r\n*0\r\n>3\r\n+subscribe\r\n+ch\r\n:1\r\n",
        );
        // The method path would not be general over the frame's lifetime.
        #[allow(clippy::redundant_closure_for_method_calls)]
        let reply = c
            .decode_reply_with(|frame| frame.value())
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(
            matches!(reply, Value::Push(ref items) if items.len() == 3),
            "{reply:?}"
        );
        assert!(!c.is_broken());
    }

    #[test]
    fn a_malformed_reply_breaks_the_connection() {
        let mut c = core("redis://h/");
        feed(&mut c, b"?garbage\r\n");
        let err = c.take_replies(&mut Vec::new(), 1).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol);
        assert!(c.is_broken());
        assert_eq!(c.check_usable().unwrap_err().kind(), ErrorKind::Connection);
    }

    #[test]
    fn state_changes_are_followed_for_commands_that_succeeded() {
        let mut c = core("redis://h/");
        assert!(c.is_pristine(0));
        let mut batch = Packed::new();
        batch.push(cmd("SELECT").arg(3));
        batch.push(cmd("AUTH").arg("pw"));
        // AUTH failed: only SELECT counts.
        let replies = [
            Value::SimpleString("OK".into()),
            Value::ServerError(crate::ServerError::new("ERR no")),
        ];
        c.note_states(Outgoing::Packed(&batch), &replies);
        assert_eq!(c.db(), 3);
        assert!(c.is_pristine(3), "AUTH failed, so nothing else changed");
        c.note_state(cmd("HELLO").arg(2).view());
        assert!(!c.is_pristine(3));
    }

    #[test]
    fn pushes_naming_a_pub_sub_command_are_its_replies() {
        let push = |kind: &str| [Value::BulkString(kind.to_owned().into()), Value::Int(1)];
        for kind in [
            "subscribe",
            "psubscribe",
            "ssubscribe",
            "unsubscribe",
            "punsubscribe",
            "SUNSUBSCRIBE",
        ] {
            assert!(is_subscription_reply(&push(kind)), "{kind}");
        }
        for kind in ["message", "pmessage", "smessage", "invalidate", "get", ""] {
            assert!(!is_subscription_reply(&push(kind)), "{kind}");
        }
        assert!(!is_subscription_reply(&[]));
        assert!(!is_subscription_reply(&[Value::Int(1)]));
    }
}
