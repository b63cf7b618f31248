#[derive(respec::ToRedisArgs)]
struct User {
    name: String,
    #[redis(rename = "name")]
    display_name: String,
}

#[derive(respec::FromRedisValue)]
#[redis(rename_all = "lowercase")]
struct Shouting {
    loud: u8,
    #[allow(non_snake_case)]
    LOUD: u8,
}

#[derive(respec::FromRedisValue)]
enum Status {
    Active,
    #[redis(rename = "Active")]
    Enabled,
}

fn main() {}
