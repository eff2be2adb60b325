#[ringloop::main(driver = "epoll", kernel_compat = "5.10")]
async fn main() {}
