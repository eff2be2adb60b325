// Errors in the body are reported in the body, where they are.
#[ringloop::main]
async fn main() -> Result<(), String> {
    let n: u32 = "seven";
    ringloop::sleep(std::time::Duration::from_millis(n.into())).await;
    Ok(())
}
