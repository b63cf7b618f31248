//! [`Lock`]: a distributed lock on one key, as redis-py's `Lock`.
//!
//! [`LockCore`] holds what a lock is and decides everything: the commands each
//! operation sends and what their replies mean. The blocking [`Lock`] and the tokio
//! [`aio::Lock`](crate::aio::Lock) only send and sleep, so the two behave the same by
//! construction.

/// The constructor and the options of a lock, written once for both drivers: each
/// sets a field of the core.
macro_rules! lock_options {
    () => {
        /// A lock on the key `name`, through `con`.
        pub fn new(con: C, name: impl Into<String>) -> Self {
            Self {
                con,
                core: LockCore::new(name.into()),
            }
        }

        /// How long the lock lives once acquired; `None` lives until released.
        #[must_use]
        pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
            self.core.timeout = timeout;
            self
        }

        /// How long to sleep between tries while waiting for the lock.
        #[must_use]
        pub fn sleep(mut self, sleep: Duration) -> Self {
            self.core.sleep = sleep;
            self
        }

        /// Whether [`acquire`](Self::acquire) waits for the lock or tries once.
        #[must_use]
        pub fn blocking(mut self, blocking: bool) -> Self {
            self.core.blocking = blocking;
            self
        }

        /// How long [`acquire`](Self::acquire) waits at most; `None` waits forever.
        #[must_use]
        pub fn blocking_timeout(mut self, timeout: Option<Duration>) -> Self {
            self.core.blocking_timeout = timeout;
            self
        }

        /// The key of the lock.
        #[must_use]
        pub fn name(&self) -> &str {
            &self.core.name
        }
    };
}

pub(crate) mod blocking;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;

use std::fmt;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

pub use blocking::{Lock, LockGuard};

use crate::cmd::{Cmd, cmd};
use crate::deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::retry::random_u64;
use crate::script::{Script, ScriptInvocation};
use crate::value::Value;

/// Deletes the key if it still holds our token.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end \
         redis.call('del', KEYS[1]) \
         return 1",
    )
});

/// Adds `ARGV[2]` ms to the expiry (or sets it, when `ARGV[3]` is `1`) if the key still
/// holds our token and has an expiry.
static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end \
         local ttl = redis.call('pttl', KEYS[1]) \
         if ttl < 0 then return 0 end \
         local new_ttl = tonumber(ARGV[2]) \
         if ARGV[3] == '0' then new_ttl = new_ttl + ttl end \
         redis.call('pexpire', KEYS[1], new_ttl) \
         return 1",
    )
});

/// Resets the expiry to `ARGV[2]` ms if the key still holds our token.
static REACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end \
         redis.call('pexpire', KEYS[1], ARGV[2]) \
         return 1",
    )
});

/// A random token identifying one holder of a lock.
fn new_token() -> String {
    format!("{:016x}{:016x}", random_u64(), random_u64())
}

/// The error of a refused lock operation.
fn lock_error(name: &str, what: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::Lock,
        format!("cannot {what} the lock {name:?}: {why}"),
    )
}

/// Default wait between tries while blocking for a lock.
pub const DEFAULT_LOCK_SLEEP: Duration = Duration::from_millis(100);

/// What a lock is and what it holds, with the commands each operation sends and how
/// their replies are judged.
#[derive(Clone, Debug)]
pub(crate) struct LockCore {
    pub(crate) name: String,
    token: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) sleep: Duration,
    pub(crate) blocking: bool,
    pub(crate) blocking_timeout: Option<Duration>,
}

/// One run of [`LockCore::acquire`]'s protocol: the token tried and when to give up.
pub(crate) struct Attempt {
    token: String,
    deadline: Option<Instant>,
}

impl LockCore {
    pub(crate) fn new(name: String) -> LockCore {
        LockCore {
            name,
            token: None,
            timeout: None,
            sleep: DEFAULT_LOCK_SLEEP,
            blocking: true,
            blocking_timeout: None,
        }
    }

    pub(crate) fn is_held(&self) -> bool {
        self.token.is_some()
    }

    /// Starts acquiring: a fresh token and the deadline of the wait.
    pub(crate) fn attempt(&self) -> Attempt {
        Attempt {
            token: new_token(),
            // A timeout too long to count to waits forever.
            deadline: self.blocking_timeout.and_then(deadline::after),
        }
    }

    /// `SET name token NX [PX timeout]`.
    pub(crate) fn acquire_cmd(&self, attempt: &Attempt) -> Cmd {
        let mut set = cmd("SET");
        set.key(&self.name).arg(&attempt.token).arg("NX");
        if let Some(timeout) = self.timeout {
            set.arg("PX").arg(deadline::millis(timeout).max(1));
        }
        set
    }

    /// Takes the reply to [`acquire_cmd`](Self::acquire_cmd): `Some(true)` when the
    /// lock is now held, `Some(false)` when it is time to give up, `None` to sleep for
    /// [`sleep`](Self::sleep) and try again.
    pub(crate) fn acquired(&mut self, attempt: &Attempt, reply: &Value) -> Option<bool> {
        if reply.is_ok() {
            self.token = Some(attempt.token.clone());
            return Some(true);
        }
        let out_of_time = attempt
            .deadline
            .is_some_and(|d| deadline::passes_within(d, self.sleep));
        (!self.blocking || out_of_time).then_some(false)
    }

    /// The script call that releases the lock; the lock counts as released from here on.
    pub(crate) fn release_call(&mut self) -> Result<ScriptInvocation<'static>> {
        let token = self
            .token
            .take()
            .ok_or_else(|| self.error("release", "it is not acquired"))?;
        Ok(RELEASE.key(&self.name).arg(token))
    }

    pub(crate) fn extend_call(
        &self,
        additional: Duration,
        replace_ttl: bool,
    ) -> Result<ScriptInvocation<'static>> {
        let token = self.held("extend")?;
        if self.timeout.is_none() {
            return Err(self.error("extend", "it has no timeout"));
        }
        let replace = if replace_ttl { "1" } else { "0" };
        Ok(EXTEND
            .key(&self.name)
            .arg(token)
            .arg(deadline::millis(additional))
            .arg(replace))
    }

    pub(crate) fn reacquire_call(&self) -> Result<ScriptInvocation<'static>> {
        let token = self.held("reacquire")?;
        let timeout = self
            .timeout
            .ok_or_else(|| self.error("reacquire", "it has no timeout"))?;
        Ok(REACQUIRE
            .key(&self.name)
            .arg(token)
            .arg(deadline::millis(timeout)))
    }

    /// Judges a script's reply: 1 when the token still owned the lock.
    pub(crate) fn owned_reply(&self, done: i64, what: &str) -> Result<()> {
        if done == 1 {
            Ok(())
        } else {
            Err(self.error(
                what,
                "it is no longer owned: it expired, and may be held by another owner",
            ))
        }
    }

    /// `EXISTS name`.
    pub(crate) fn locked_cmd(&self) -> Cmd {
        let mut exists = cmd("EXISTS");
        exists.key(&self.name);
        exists
    }

    /// `GET name`, whose reply says whether the lock is still ours; `None` when this
    /// lock holds nothing.
    pub(crate) fn owned_cmd(&self) -> Option<Cmd> {
        self.token.as_ref()?;
        let mut get = cmd("GET");
        get.key(&self.name);
        Some(get)
    }

    pub(crate) fn is_own_token(&self, current: Option<&str>) -> bool {
        current.is_some() && current == self.token.as_deref()
    }

    /// The error of [`acquire_guard`](Lock::acquire_guard) when the lock was not had.
    pub(crate) fn not_acquired(&self) -> Error {
        self.error("acquire", "it is held by another owner")
    }

    /// The `Debug` output of both drivers, named `type_name`.
    pub(crate) fn fmt_as(&self, type_name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(type_name)
            .field("name", &self.name)
            .field("held", &self.is_held())
            .field("timeout", &self.timeout)
            .field("blocking", &self.blocking)
            .field("blocking_timeout", &self.blocking_timeout)
            .finish_non_exhaustive()
    }

    fn held(&self, what: &str) -> Result<&str> {
        self.token
            .as_deref()
            .ok_or_else(|| self.error(what, "it is not acquired"))
    }

    fn error(&self, what: &str, why: &str) -> Error {
        lock_error(&self.name, what, why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &Cmd) -> Vec<String> {
        cmd.args()
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect()
    }

    #[test]
    fn acquiring_sets_a_fresh_token_only_if_absent() {
        let mut core = LockCore::new("job".into());
        core.timeout = Some(Duration::from_micros(1500));
        let attempt = core.attempt();
        let set = args(&core.acquire_cmd(&attempt));
        assert_eq!(set[..2], ["SET", "job"]);
        assert_eq!(set[2].len(), 32, "a 128-bit token in hex");
        // Sub-millisecond timeouts round up to 1 ms, never to "no expiry".
        assert_eq!(set[3..], ["NX", "PX", "1"]);
        assert_ne!(core.attempt().token, attempt.token);

        core.timeout = None;
        assert_eq!(
            args(&core.acquire_cmd(&attempt)).len(),
            4,
            "no PX without a timeout"
        );
    }

    #[test]
    fn replies_decide_between_held_retry_and_giving_up() {
        let mut core = LockCore::new("job".into());
        let attempt = core.attempt();
        assert_eq!(
            core.acquired(&attempt, &Value::Nil),
            None,
            "blocking: try again"
        );
        core.blocking = false;
        assert_eq!(core.acquired(&attempt, &Value::Nil), Some(false));
        assert!(!core.is_held());

        core.blocking = true;
        core.blocking_timeout = Some(Duration::ZERO);
        let expired = core.attempt();
        assert_eq!(
            core.acquired(&expired, &Value::Nil),
            Some(false),
            "out of time"
        );

        let ok = Value::SimpleString("OK".into());
        assert_eq!(core.acquired(&attempt, &ok), Some(true));
        assert!(core.is_held());
        assert!(core.is_own_token(Some(&attempt.token)));
        assert!(!core.is_own_token(Some("someone else")));
        assert!(!core.is_own_token(None));
    }

    #[test]
    fn operations_on_a_lock_not_held_are_refused_without_a_command() {
        let mut core = LockCore::new("job".into());
        for err in [
            core.extend_call(Duration::from_secs(1), false).err(),
            core.reacquire_call().err(),
            core.release_call().err(),
        ] {
            let err = err.expect("refused");
            assert_eq!(err.kind(), ErrorKind::Lock);
            assert!(err.to_string().contains("\"job\""), "{err}");
        }
        assert!(core.owned_cmd().is_none());
    }

    #[test]
    fn script_calls_carry_the_token_and_times() {
        let mut core = LockCore::new("job".into());
        let attempt = core.attempt();
        core.acquired(&attempt, &Value::SimpleString("OK".into()));
        let no_timeout = core.extend_call(Duration::from_secs(1), false).err();
        assert!(no_timeout.is_some_and(|e| e.to_string().contains("no timeout")));

        core.timeout = Some(Duration::from_secs(10));
        let extend = core.extend_call(Duration::from_millis(2500), true).unwrap();
        let cmd = extend.evalsha_cmd();
        let extend = args(&cmd);
        assert_eq!(extend[0], "EVALSHA");
        assert_eq!(extend[2..], ["1", "job", &attempt.token, "2500", "1"]);
        let cmd = core.reacquire_call().unwrap().evalsha_cmd();
        assert_eq!(args(&cmd)[4..], [attempt.token.as_str(), "10000"]);

        assert!(core.owned_reply(1, "extend").is_ok());
        let lost = core.owned_reply(0, "extend").unwrap_err();
        assert!(lost.to_string().contains("no longer owned"), "{lost}");

        let cmd = core.release_call().unwrap().evalsha_cmd();
        assert_eq!(args(&cmd)[3..], ["job", attempt.token.as_str()]);
        assert!(!core.is_held(), "released from the moment the call is made");
        assert!(core.release_call().is_err());
    }
}
