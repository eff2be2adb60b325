#[ringloop::main(drivr = "epoll")]
async fn main() {}
