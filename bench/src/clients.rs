//! The clients under test, each behind the same two small traits so every workload
//! runs the same code for every client.
//!
//! Replies are converted to the types an application would ask for (`Option<Vec<u8>>`
//! for GET, `Vec<String>` for LRANGE, `HashMap<String, String>` for HGETALL), so the
//! conversion cost is part of what is measured.

use std::collections::HashMap;

use respec::{AsyncCommands as _, Commands as _};

pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type Result<T> = std::result::Result<T, Error>;

/// A blocking client with one connection.
pub(crate) trait SyncClient: Sized + Send + 'static {
    fn connect(url: &str) -> Result<Self>;
    fn ping(&mut self) -> Result<()>;
    fn set(&mut self, key: &str, value: &[u8]) -> Result<()>;
    /// Returns the length of the value, so the reply cannot be optimised away.
    fn get(&mut self, key: &str) -> Result<usize>;
    /// Sends `count` SETs as one pipeline.
    fn set_pipeline(&mut self, key: &str, value: &[u8], count: usize) -> Result<()>;
    fn lrange(&mut self, key: &str) -> Result<usize>;
    fn hgetall(&mut self, key: &str) -> Result<usize>;
}

/// An async client whose handle is cheap to clone and shared by many tasks.
#[allow(async_fn_in_trait)] // the workloads run on a single-threaded runtime
pub(crate) trait AsyncClient: Sized + Clone + 'static {
    async fn connect(url: &str) -> Result<Self>;
    async fn ping(&mut self) -> Result<()>;
    async fn set(&mut self, key: &str, value: &[u8]) -> Result<()>;
    async fn get(&mut self, key: &str) -> Result<usize>;
    async fn set_pipeline(&mut self, key: &str, value: &[u8], count: usize) -> Result<()>;
    async fn lrange(&mut self, key: &str) -> Result<usize>;
    async fn hgetall(&mut self, key: &str) -> Result<usize>;
    async fn incr(&mut self, key: &str) -> Result<i64>;
    /// `size` connections, shared round robin by the tasks of the pool workload.
    async fn pool(url: &str, size: usize) -> Result<Vec<Self>> {
        let mut clients = Vec::with_capacity(size);
        for _ in 0..size {
            clients.push(Self::connect(url).await?);
        }
        Ok(clients)
    }
}

pub(crate) struct RespecSync(respec::Connection);

impl SyncClient for RespecSync {
    fn connect(url: &str) -> Result<Self> {
        use respec::IntoConnectionInfo as _;
        Ok(Self(respec::Connection::open(
            &url.into_connection_info()?,
        )?))
    }
    fn ping(&mut self) -> Result<()> {
        self.0.ping()?;
        Ok(())
    }
    fn set(&mut self, key: &str, value: &[u8]) -> Result<()> {
        Ok(self.0.set(key, value)?)
    }
    fn get(&mut self, key: &str) -> Result<usize> {
        let value: Option<Vec<u8>> = self.0.get(key)?;
        Ok(value.map_or(0, |v| v.len()))
    }
    fn set_pipeline(&mut self, key: &str, value: &[u8], count: usize) -> Result<()> {
        let mut pipe = respec::pipe();
        for _ in 0..count {
            pipe.set(key, value).ignore();
        }
        Ok(pipe.query::<()>(&mut self.0)?)
    }
    fn lrange(&mut self, key: &str) -> Result<usize> {
        let items: Vec<String> = self.0.lrange(key, 0, -1)?;
        Ok(items.len())
    }
    fn hgetall(&mut self, key: &str) -> Result<usize> {
        let map: HashMap<String, String> = self.0.hgetall(key)?;
        Ok(map.len())
    }
}

/// How respec's shared async handles open: a multiplexed connection to one server, or
/// a cluster connection (one multiplexed connection per node).
pub(crate) trait RespecOpen: respec::AsyncConnectionLike + Clone + Sync + 'static {
    async fn open(url: &str) -> Result<Self>;
}

impl RespecOpen for respec::aio::MultiplexedConnection {
    async fn open(url: &str) -> Result<Self> {
        let client = respec::Client::open(url)?;
        Ok(client.get_multiplexed_async_connection().await?)
    }
}

impl RespecOpen for respec::aio::ClusterConnection {
    async fn open(url: &str) -> Result<Self> {
        let client = respec::ClusterClient::new([url])?;
        Ok(client.get_async_connection().await?)
    }
}

/// respec's async client on a handle many tasks share.
#[derive(Clone)]
pub(crate) struct RespecShared<C>(C);

/// The multiplexed connection.
pub(crate) type RespecAsync = RespecShared<respec::aio::MultiplexedConnection>;
/// The cluster connection.
pub(crate) type RespecCluster = RespecShared<respec::aio::ClusterConnection>;

impl<C: RespecOpen> AsyncClient for RespecShared<C> {
    async fn connect(url: &str) -> Result<Self> {
        Ok(Self(C::open(url).await?))
    }
    async fn ping(&mut self) -> Result<()> {
        self.0.ping().await?;
        Ok(())
    }
    async fn set(&mut self, key: &str, value: &[u8]) -> Result<()> {
        Ok(self.0.set(key, value).await?)
    }
    async fn get(&mut self, key: &str) -> Result<usize> {
        let value: Option<Vec<u8>> = self.0.get(key).await?;
        Ok(value.map_or(0, |v| v.len()))
    }
    async fn set_pipeline(&mut self, key: &str, value: &[u8], count: usize) -> Result<()> {
        let mut pipe = respec::pipe();
        for _ in 0..count {
            pipe.set(key, value).ignore();
        }
        Ok(pipe.query_async::<()>(&mut self.0).await?)
    }
    async fn lrange(&mut self, key: &str) -> Result<usize> {
        let items: Vec<String> = self.0.lrange(key, 0, -1).await?;
        Ok(items.len())
    }
    async fn hgetall(&mut self, key: &str) -> Result<usize> {
        let map: HashMap<String, String> = self.0.hgetall(key).await?;
        Ok(map.len())
    }
    async fn incr(&mut self, key: &str) -> Result<i64> {
        Ok(self.0.incr(key).await?)
    }
}

/// respec's async client on a connection of its own, shared by handle for the trait's
/// sake; it runs only the workloads with one caller, so the lock is never contended.
#[derive(Clone)]
pub(crate) struct RespecAsyncOwn(std::rc::Rc<tokio::sync::Mutex<respec::aio::Connection>>);

impl AsyncClient for RespecAsyncOwn {
    async fn connect(url: &str) -> Result<Self> {
        use respec::IntoConnectionInfo as _;
        let con = respec::aio::Connection::open(&url.into_connection_info()?).await?;
        Ok(Self(std::rc::Rc::new(tokio::sync::Mutex::new(con))))
    }
    async fn ping(&mut self) -> Result<()> {
        self.0.lock().await.ping().await?;
        Ok(())
    }
    async fn set(&mut self, key: &str, value: &[u8]) -> Result<()> {
        Ok(self.0.lock().await.set(key, value).await?)
    }
    async fn get(&mut self, key: &str) -> Result<usize> {
        let value: Option<Vec<u8>> = self.0.lock().await.get(key).await?;
        Ok(value.map_or(0, |v| v.len()))
    }
    async fn set_pipeline(&mut self, key: &str, value: &[u8], count: usize) -> Result<()> {
        let mut pipe = respec::pipe();
        for _ in 0..count {
            pipe.set(key, value).ignore();
        }
        Ok(pipe.query_async::<()>(&mut *self.0.lock().await).await?)
    }
    async fn lrange(&mut self, key: &str) -> Result<usize> {
        let items: Vec<String> = self.0.lock().await.lrange(key, 0, -1).await?;
        Ok(items.len())
    }
    async fn hgetall(&mut self, key: &str) -> Result<usize> {
        let map: HashMap<String, String> = self.0.lock().await.hgetall(key).await?;
        Ok(map.len())
    }
    async fn incr(&mut self, key: &str) -> Result<i64> {
        Ok(self.0.lock().await.incr(key).await?)
    }
}

fn redis_rs_client(url: &str) -> Result<redis::Client> {
    use redis::IntoConnectionInfo as _;
    let info = url
        .into_connection_info()?
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    Ok(redis::Client::open(info)?)
}

pub(crate) struct RedisRsSync(redis::Connection);

impl SyncClient for RedisRsSync {
    fn connect(url: &str) -> Result<Self> {
        Ok(Self(redis_rs_client(url)?.get_connection()?))
    }
    fn ping(&mut self) -> Result<()> {
        redis::cmd("PING").query::<String>(&mut self.0)?;
        Ok(())
    }
    fn set(&mut self, key: &str, value: &[u8]) -> Result<()> {
        Ok(redis::Commands::set(&mut self.0, key, value)?)
    }
    fn get(&mut self, key: &str) -> Result<usize> {
        let value: Option<Vec<u8>> = redis::Commands::get(&mut self.0, key)?;
        Ok(value.map_or(0, |v| v.len()))
    }
    fn set_pipeline(&mut self, key: &str, value: &[u8], count: usize) -> Result<()> {
        let mut pipe = redis::pipe();
        for _ in 0..count {
            pipe.set(key, value).ignore();
        }
        Ok(pipe.query::<()>(&mut self.0)?)
    }
    fn lrange(&mut self, key: &str) -> Result<usize> {
        let items: Vec<String> = redis::Commands::lrange(&mut self.0, key, 0, -1)?;
        Ok(items.len())
    }
    fn hgetall(&mut self, key: &str) -> Result<usize> {
        let map: HashMap<String, String> = redis::Commands::hgetall(&mut self.0, key)?;
        Ok(map.len())
    }
}

#[derive(Clone)]
pub(crate) struct RedisRsAsync(redis::aio::MultiplexedConnection);

impl AsyncClient for RedisRsAsync {
    async fn connect(url: &str) -> Result<Self> {
        Ok(Self(
            redis_rs_client(url)?
                .get_multiplexed_async_connection()
                .await?,
        ))
    }
    async fn ping(&mut self) -> Result<()> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.0)
            .await?;
        Ok(())
    }
    async fn set(&mut self, key: &str, value: &[u8]) -> Result<()> {
        Ok(redis::AsyncCommands::set(&mut self.0, key, value).await?)
    }
    async fn get(&mut self, key: &str) -> Result<usize> {
        let value: Option<Vec<u8>> = redis::AsyncCommands::get(&mut self.0, key).await?;
        Ok(value.map_or(0, |v| v.len()))
    }
    async fn set_pipeline(&mut self, key: &str, value: &[u8], count: usize) -> Result<()> {
        let mut pipe = redis::pipe();
        for _ in 0..count {
            pipe.set(key, value).ignore();
        }
        Ok(pipe.query_async::<()>(&mut self.0).await?)
    }
    async fn lrange(&mut self, key: &str) -> Result<usize> {
        let items: Vec<String> = redis::AsyncCommands::lrange(&mut self.0, key, 0, -1).await?;
        Ok(items.len())
    }
    async fn hgetall(&mut self, key: &str) -> Result<usize> {
        let map: HashMap<String, String> = redis::AsyncCommands::hgetall(&mut self.0, key).await?;
        Ok(map.len())
    }
    async fn incr(&mut self, key: &str) -> Result<i64> {
        Ok(redis::AsyncCommands::incr(&mut self.0, key, 1).await?)
    }
}

#[derive(Clone)]
pub(crate) struct Fred(fred::prelude::Client);

fn fred_builder(url: &str) -> Result<fred::prelude::Builder> {
    use fred::prelude::{Builder, Config, TcpConfig};
    let mut builder = Builder::from_config(Config::from_url(url)?);
    builder.with_connection_config(|config| {
        config.tcp = TcpConfig {
            nodelay: Some(true),
            ..Default::default()
        };
    });
    Ok(builder)
}

impl AsyncClient for Fred {
    async fn connect(url: &str) -> Result<Self> {
        use fred::prelude::ClientLike as _;
        let client = fred_builder(url)?.build()?;
        client.init().await?;
        Ok(Self(client))
    }
    async fn ping(&mut self) -> Result<()> {
        use fred::prelude::ClientLike as _;
        self.0.ping::<String>(None).await?;
        Ok(())
    }
    async fn set(&mut self, key: &str, value: &[u8]) -> Result<()> {
        use fred::prelude::KeysInterface as _;
        Ok(self
            .0
            .set::<(), _, _>(key, value, None, None, false)
            .await?)
    }
    async fn get(&mut self, key: &str) -> Result<usize> {
        use fred::prelude::KeysInterface as _;
        let value: Option<Vec<u8>> = self.0.get(key).await?;
        Ok(value.map_or(0, |v| v.len()))
    }
    async fn set_pipeline(&mut self, key: &str, value: &[u8], count: usize) -> Result<()> {
        use fred::prelude::KeysInterface as _;
        let pipe = self.0.pipeline();
        for _ in 0..count {
            pipe.set::<(), _, _>(key, value, None, None, false).await?;
        }
        pipe.all::<fred::prelude::Value>().await?;
        Ok(())
    }
    async fn lrange(&mut self, key: &str) -> Result<usize> {
        use fred::prelude::ListInterface as _;
        let items: Vec<String> = self.0.lrange(key, 0, -1).await?;
        Ok(items.len())
    }
    async fn hgetall(&mut self, key: &str) -> Result<usize> {
        use fred::prelude::HashesInterface as _;
        let map: HashMap<String, String> = self.0.hgetall(key).await?;
        Ok(map.len())
    }
    async fn incr(&mut self, key: &str) -> Result<i64> {
        use fred::prelude::KeysInterface as _;
        Ok(self.0.incr(key).await?)
    }
    async fn pool(url: &str, size: usize) -> Result<Vec<Self>> {
        use fred::prelude::ClientLike as _;
        let pool = fred_builder(url)?.build_pool(size)?;
        pool.init().await?;
        Ok(pool.clients().iter().cloned().map(Self).collect())
    }
}

/// redis-rs's async cluster client.
#[derive(Clone)]
pub(crate) struct RedisRsCluster(redis::cluster_async::ClusterConnection);

impl AsyncClient for RedisRsCluster {
    async fn connect(url: &str) -> Result<Self> {
        let client = redis::cluster::ClusterClient::new(vec![url])?;
        Ok(Self(client.get_async_connection().await?))
    }
    async fn ping(&mut self) -> Result<()> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.0)
            .await?;
        Ok(())
    }
    async fn set(&mut self, key: &str, value: &[u8]) -> Result<()> {
        Ok(redis::AsyncCommands::set(&mut self.0, key, value).await?)
    }
    async fn get(&mut self, key: &str) -> Result<usize> {
        let value: Option<Vec<u8>> = redis::AsyncCommands::get(&mut self.0, key).await?;
        Ok(value.map_or(0, |v| v.len()))
    }
    async fn set_pipeline(&mut self, key: &str, value: &[u8], count: usize) -> Result<()> {
        let mut pipe = redis::pipe();
        for _ in 0..count {
            pipe.set(key, value).ignore();
        }
        Ok(pipe.query_async::<()>(&mut self.0).await?)
    }
    async fn lrange(&mut self, key: &str) -> Result<usize> {
        let items: Vec<String> = redis::AsyncCommands::lrange(&mut self.0, key, 0, -1).await?;
        Ok(items.len())
    }
    async fn hgetall(&mut self, key: &str) -> Result<usize> {
        let map: HashMap<String, String> = redis::AsyncCommands::hgetall(&mut self.0, key).await?;
        Ok(map.len())
    }
    async fn incr(&mut self, key: &str) -> Result<i64> {
        Ok(redis::AsyncCommands::incr(&mut self.0, key, 1).await?)
    }
}

/// fred's client in clustered mode (`redis-cluster://`).
#[derive(Clone)]
pub(crate) struct FredCluster(Fred);

impl AsyncClient for FredCluster {
    async fn connect(url: &str) -> Result<Self> {
        let url = url.replacen("redis://", "redis-cluster://", 1);
        Ok(Self(Fred::connect(&url).await?))
    }
    async fn ping(&mut self) -> Result<()> {
        self.0.ping().await
    }
    async fn set(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.0.set(key, value).await
    }
    async fn get(&mut self, key: &str) -> Result<usize> {
        self.0.get(key).await
    }
    async fn set_pipeline(&mut self, key: &str, value: &[u8], count: usize) -> Result<()> {
        self.0.set_pipeline(key, value, count).await
    }
    async fn lrange(&mut self, key: &str) -> Result<usize> {
        self.0.lrange(key).await
    }
    async fn hgetall(&mut self, key: &str) -> Result<usize> {
        self.0.hgetall(key).await
    }
    async fn incr(&mut self, key: &str) -> Result<i64> {
        self.0.incr(key).await
    }
}
