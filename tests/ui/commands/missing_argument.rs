use respec::Commands;

fn set_needs_a_value(con: &mut respec::Connection) -> respec::Result<()> {
    con.set("greeting")
}

fn main() {}
