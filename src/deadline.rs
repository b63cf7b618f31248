//! Deadlines and durations from what a user gives, which may be anything a `Duration` or
//! an `f64` holds: `Duration::MAX` to mean "forever", a timeout of `f64::INFINITY`. None
//! of it may panic, so instants are added to with care here, and only here.

use std::time::{Duration, Instant};

/// The instant `wait` from now; `None` when that is too far off to represent, which
/// callers take to mean "never".
pub(crate) fn after(wait: Duration) -> Option<Instant> {
    Instant::now().checked_add(wait)
}

/// `true` once `deadline` has passed, or would have by `margin` from now.
pub(crate) fn passes_within(deadline: Instant, margin: Duration) -> bool {
    after(margin).is_none_or(|then| then > deadline)
}

/// A number of seconds as a `Duration`; `None` for what no `Duration` holds (negative,
/// not a number, too large).
pub(crate) fn from_secs(secs: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(secs).ok()
}

/// Whole milliseconds, saturating at `u64::MAX` (the server refuses what is too large
/// for it, with an error saying so).
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_user_may_pass_never_panics() {
        assert!(after(Duration::MAX).is_none());
        assert!(after(Duration::from_secs(1)).is_some());
        let soon = Instant::now();
        assert!(passes_within(soon, Duration::MAX));
        assert!(!passes_within(
            soon + Duration::from_secs(60),
            Duration::ZERO
        ));
        for secs in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -1.0, 1e300] {
            assert_eq!(from_secs(secs), None, "{secs}");
        }
        assert_eq!(from_secs(1.5), Some(Duration::from_millis(1500)));
        assert_eq!(millis(Duration::MAX), u64::MAX);
        assert_eq!(millis(Duration::from_secs(2)), 2000);
    }
}
