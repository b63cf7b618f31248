#[derive(respec::FromRedisValue)]
struct Marker;

fn main() {}
