#[ringloop::main]
async fn start() {}

fn main() {}
