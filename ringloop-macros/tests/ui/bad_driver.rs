#[ringloop::main(driver = "kqueue")]
async fn main() {}
