//! The async client, on tokio (the `tokio` feature).
//!
//! - [`MultiplexedConnection`]: many tasks on one socket, their writes coalesced.
//! - [`ConnectionManager`]: a multiplexed connection that reconnects by itself.
//! - [`Connection`] and [`Pool`]: single connections, for what cannot share a socket
//!   (`WATCH` transactions, pub/sub, monitor).
//! - The toolkit, async: [`transaction`], scan streams ([`AsyncScanCommands`]),
//!   [`PubSub`], [`Monitor`] and the [`Lock`]. Each is the same tool as its blocking
//!   twin at the crate root, with the same options and errors: the two share one core
//!   and differ only in how they wait.
//!
//! Every backend implements [`AsyncConnectionLike`](crate::AsyncConnectionLike), so
//! [`AsyncCommands`](crate::AsyncCommands) works on each.

mod connection;
mod manager;
mod multiplexed;
pub(crate) mod stream;

pub use connection::{Connection, DEFAULT_RESPONSE_TIMEOUT};
pub use manager::ConnectionManager;
pub use multiplexed::{MultiplexedConnection, MultiplexedStats};

pub use crate::cluster::tokio::ClusterConnection;
pub use crate::connector::ConnectFuture;
pub use crate::lock::tokio::{Lock, LockGuard};
pub use crate::monitor::tokio::Monitor;
pub use crate::pool::tokio::{Pool, PooledConnection};
pub use crate::pubsub::tokio::{PubSub, PubSubTask};
pub use crate::scan::tokio::AsyncScanCommands;
pub use crate::transaction::tokio::transaction;
