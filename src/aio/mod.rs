//! The async client, on tokio (the `tokio` feature).
//!
//! - [`MultiplexedConnection`]: many tasks on one socket, their writes coalesced.
//! - [`ConnectionManager`]: a multiplexed connection that reconnects by itself.
//! - [`Connection`] and [`Pool`]: single connections, for what cannot share a socket
//!   (`WATCH` transactions, pub/sub, monitor).
//! - The toolkit, async: pipelines, transactions, scripts, scan and pub/sub streams,
//!   monitor, and the lock.
//!
//! Every backend implements [`AsyncConnectionLike`](crate::AsyncConnectionLike), so
//! [`AsyncCommands`](crate::AsyncCommands) works on each.

mod connection;
mod manager;
mod multiplexed;
mod pool;
mod pubsub;
mod stream;
mod toolkit;

pub use connection::{Connection, DEFAULT_RESPONSE_TIMEOUT};
pub use manager::ConnectionManager;
pub use multiplexed::{MultiplexedConnection, MultiplexedStats};
pub use pool::{Pool, PooledConnection};
pub use pubsub::{Monitor, PubSub};
pub use toolkit::{AsyncScanCommands, Lock};
