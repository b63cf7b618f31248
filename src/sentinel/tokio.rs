//! The tokio driver of Sentinel discovery: what `blocking.rs` does, on async
//! connections, for the connections of async backends.

use super::{Attempts, NODE_TIMEOUT, NodeAddr, Role, Service, check_role, healthy_replicas};
use crate::aio::Connection;
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;
use crate::seam::AsyncConnectionLike;
use crate::value::Value;

/// Asks each Sentinel in turn, as [`blocking::ask`](super::blocking::ask) does.
pub(crate) async fn ask<T>(
    service: &Service,
    request: &Pipeline,
    what: &str,
    mut read: impl FnMut(Vec<Value>) -> Result<T>,
) -> Result<T> {
    let mut attempts = Attempts::default();
    for sentinel in service.sentinels() {
        let answer = match Connection::open(&service.sentinel_info(&sentinel)).await {
            Ok(mut con) => request
                .query_async::<Vec<Value>>(&mut con)
                .await
                .and_then(&mut read),
            Err(e) => Err(e),
        };
        match answer {
            Ok(answer) => {
                service.answered(&sentinel);
                return Ok(answer);
            }
            Err(e) => attempts.failed(&sentinel, e),
        }
    }
    Err(attempts.into_error(&service.name, what))
}

async fn ask_master(service: &Service) -> Result<NodeAddr> {
    ask(
        service,
        &service.master_request(),
        "a usable master",
        |replies| service.master_from(replies),
    )
    .await
}

/// Connects to the node at `addr` and asks its `ROLE`, within the node's socket
/// timeout (or [`NODE_TIMEOUT`]).
async fn open_node(service: &Service, addr: &NodeAddr) -> Result<(Connection, Value)> {
    let info = service.node_info(addr);
    let limit = info.socket_timeout.unwrap_or(NODE_TIMEOUT);
    let open = async {
        let mut con = Connection::open(&info).await?;
        let role: Value = con.req_command(&crate::commands::role()).await?;
        Ok((con, role))
    };
    tokio::time::timeout(limit, open).await.unwrap_or_else(|_| {
        Err(Error::io(
            format!("confirming the role of {addr}"),
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer to ROLE within {limit:?}"),
            ),
        ))
    })
}

/// As [`blocking::connect_master`](super::blocking::connect_master).
pub(crate) async fn connect_master(service: &Service) -> Result<Connection> {
    let addr = match ask_master(service).await {
        Ok(addr) => addr,
        Err(e) => service.current().map(|c| c.addr).ok_or(e)?,
    };
    let tenure = service.follow(&addr);
    let (mut con, role) = open_node(service, &addr).await?;
    if let Err(e) = check_role(role, Role::Master, &addr) {
        // Not the master the Sentinel named, or no longer: ask again next time.
        service.drop_master(&addr, &e.to_string());
        return Err(e);
    }
    con.set_tenure(tenure);
    Ok(con)
}

/// As [`blocking::connect_replica`](super::blocking::connect_replica).
pub(crate) async fn connect_replica(service: &Service) -> Result<Connection> {
    let replicas = ask(
        service,
        &service.replicas_request(),
        "replicas",
        healthy_replicas,
    )
    .await?;
    for addr in service.replica_order(replicas) {
        if let Ok((con, role)) = open_node(service, &addr).await
            && check_role(role, Role::Replica, &addr).is_ok()
        {
            return Ok(con);
        }
    }
    connect_master(service).await
}
