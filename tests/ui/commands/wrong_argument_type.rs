use respec::Commands;

fn expire_takes_seconds_as_a_number(con: &mut respec::Connection) -> respec::Result<bool> {
    con.expire("session", "ten")
}

fn main() {}
