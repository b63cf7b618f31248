#[derive(respec::ToRedisArgs)]
#[redis(rename_all = "Title Case")]
enum Status {
    Active,
}

fn main() {}
