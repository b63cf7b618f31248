//! CPU time from `getrusage(2)`.

use std::time::Duration;

/// Whose CPU time to read.
#[derive(Clone, Copy)]
pub(crate) enum Whose {
    /// This process, every thread of it.
    ThisProcess,
    /// Every child this process has waited for so far.
    Children,
}

/// User plus system CPU time used so far.
#[allow(unsafe_code)] // getrusage(2) has no safe wrapper in std
pub(crate) fn used(whose: Whose) -> Duration {
    let who = match whose {
        Whose::ThisProcess => libc::RUSAGE_SELF,
        Whose::Children => libc::RUSAGE_CHILDREN,
    };
    // SAFETY: `usage` is a plain C struct that getrusage fills in; an all-zero value is
    // a valid `rusage`, and `who` is one of the two values getrusage accepts here.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &raw mut usage);
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}
