#[ringloop::main]
struct Main;
