#[ringloop::test]
async fn takes_arguments(n: u32, name: &str) {}

fn main() {}
