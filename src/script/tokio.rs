//! Script calls over the async seam.

use super::{Script, ScriptInvocation, needs_loading};
use crate::error::Result;
use crate::seam::AsyncConnectionLike;
use crate::types::FromRedisValue;

impl Script {
    /// The async twin of [`Script::invoke`].
    ///
    /// # Errors
    ///
    /// As [`ScriptInvocation::invoke`].
    pub async fn invoke_async<T: FromRedisValue>(
        &self,
        con: &mut (impl AsyncConnectionLike + ?Sized),
    ) -> Result<T> {
        self.prepare_invoke().invoke_async(con).await
    }
}

impl ScriptInvocation<'_> {
    /// The async twin of [`ScriptInvocation::invoke`].
    ///
    /// # Errors
    ///
    /// As [`ScriptInvocation::invoke`].
    pub async fn invoke_async<T: FromRedisValue>(
        &self,
        con: &mut (impl AsyncConnectionLike + ?Sized),
    ) -> Result<T> {
        let call = self.evalsha_cmd();
        match con.req_command(&call).await {
            Err(e) if needs_loading(&e) => {
                con.req_command::<()>(&self.script().load_cmd()).await?;
                con.req_command(&call).await
            }
            res => res,
        }
    }
}
