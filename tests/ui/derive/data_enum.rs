#[derive(respec::ToRedisArgs)]
enum Shape {
    Circle { radius: f64 },
    Point,
}

fn main() {}
