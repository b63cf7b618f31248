#[derive(respec::FromRedisValue)]
#[redis(rename_all = "camelCase", flatten)]
struct User {
    #[redis(skip)]
    name: String,
    #[redis(rename = "years", json, rename = "age")]
    age: u32,
}

fn main() {}
