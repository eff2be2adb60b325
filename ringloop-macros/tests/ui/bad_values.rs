#[ringloop::test(driver = epoll)]
async fn driver_not_a_string() {}

#[ringloop::test(kernel_compat = "4.19")]
async fn unknown_kernel() {}

#[ringloop::test(entries = 0)]
async fn no_entries() {}

#[ringloop::test(entries = "64")]
async fn entries_a_string() {}

#[ringloop::test(crate = "not a path")]
async fn crate_not_a_path() {}

#[ringloop::test(driver)]
async fn no_value() {}

fn main() {}
