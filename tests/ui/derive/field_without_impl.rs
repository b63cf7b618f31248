struct NotConvertible;

#[derive(respec::FromRedisValue)]
struct User {
    name: String,
    extra: NotConvertible,
}

fn main() {}
