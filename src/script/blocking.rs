//! Script calls over the sync seam.

use super::{Script, ScriptInvocation, needs_loading};
use crate::error::Result;
use crate::seam::ConnectionLike;
use crate::types::FromRedisValue;

impl Script {
    /// Calls the script with no keys or arguments.
    ///
    /// # Errors
    ///
    /// As [`ScriptInvocation::invoke`].
    pub fn invoke<T: FromRedisValue>(&self, con: &mut (impl ConnectionLike + ?Sized)) -> Result<T> {
        self.prepare_invoke().invoke(con)
    }
}

impl ScriptInvocation<'_> {
    /// Calls the script with `EVALSHA`, loading it first if the server answers
    /// `NOSCRIPT`.
    ///
    /// # Errors
    ///
    /// IO errors, the script's error, or a failed conversion of its result.
    pub fn invoke<T: FromRedisValue>(&self, con: &mut (impl ConnectionLike + ?Sized)) -> Result<T> {
        let call = self.evalsha_cmd();
        match con.req_command(&call) {
            Err(e) if needs_loading(&e) => {
                con.req_command::<()>(&self.script().load_cmd())?;
                con.req_command(&call)
            }
            res => res,
        }
    }
}
