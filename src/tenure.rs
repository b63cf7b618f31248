//! [`Tenure`]: how long a connection's server keeps the role it was chosen for.

use std::fmt;
use std::sync::{Arc, OnceLock};

/// The time a server holds the role its connections were opened for: the master a
/// Sentinel named, say. Connections opened under one tenure share it; once it ends, each
/// of them refuses its next request before sending anything, with an
/// [`ErrorKind::Connection`](crate::ErrorKind::Connection) error giving the reason, and
/// pools discard them.
///
/// A connector ends a tenure when it learns the role moved (a Sentinel announced a new
/// master); a connection ends its own when the server answers `READONLY`, as a master
/// turned replica does.
///
/// Cheap to clone; clones are the same tenure.
///
/// ```
/// use respec::Tenure;
///
/// let tenure = Tenure::new();
/// assert!(tenure.ended().is_none());
/// assert!(tenure.clone().end("the master moved to 10.0.0.2:6379"));
/// assert_eq!(tenure.ended(), Some("the master moved to 10.0.0.2:6379"));
/// assert!(!tenure.end("ended twice")); // the first reason stays
/// ```
#[derive(Clone, Default)]
pub struct Tenure(Arc<OnceLock<String>>);

impl Tenure {
    /// A tenure that has not ended.
    #[must_use]
    pub fn new() -> Tenure {
        Tenure::default()
    }

    /// Ends the tenure for `why`, which the connections' errors will give; `false` when
    /// it had ended already (the first reason stays).
    pub fn end(&self, why: impl Into<String>) -> bool {
        self.0.set(why.into()).is_ok()
    }

    /// Why the tenure ended, once it has.
    #[inline]
    #[must_use]
    pub fn ended(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }

    /// `true` when `self` and `other` are the same tenure.
    #[cfg(test)]
    pub(crate) fn same_as(&self, other: &Tenure) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for Tenure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ended() {
            None => f.write_str("Tenure(held)"),
            Some(why) => write!(f, "Tenure(ended: {why})"),
        }
    }
}
