use respec::Commands;
use respec::commands::ZaddOptions;

fn set_takes_set_options(con: &mut respec::Connection) -> respec::Result<()> {
    con.set_options("k", "v", ZaddOptions::default().nx())
}

fn main() {}
