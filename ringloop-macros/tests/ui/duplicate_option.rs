#[ringloop::main(driver = "epoll", entries = 64, driver = "uring")]
async fn main() {}
