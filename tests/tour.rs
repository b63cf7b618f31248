//! The tour in `examples/tour.rs` runs, as `cargo xtask demo` runs it.

mod support;

#[allow(dead_code)]
#[path = "../examples/tour.rs"]
mod tour;

#[test]
fn the_tour_runs_against_a_throwaway_server() {
    let server = support::RedisServer::start();
    tour::run(&server.url()).unwrap();
    let mut con = support::connect(&server, respec::ProtocolVersion::Resp2);
    let left: Vec<String> = respec::cmd("KEYS").arg("tour:*").query(&mut con).unwrap();
    assert!(left.is_empty(), "the tour left keys behind: {left:?}");
}
