//! The `#[ringloop::main]` and `#[ringloop::test]` attributes. Use them through
//! ringloop (its `macros` feature, on by default), which re-exports them; this
//! crate's expansions name only `::ringloop` (or the `crate = "..."` option's path),
//! so a program needs no other dependency.
//!
//! Both take the same options, all optional, separated by commas:
//!
//! | option | values | what it sets |
//! |---|---|---|
//! | `driver` | `"auto"`, `"uring"` (or `"io_uring"`), `"epoll"` | `Builder::driver` with `Driver::Auto`, `Driver::IoUring`, `Driver::Epoll` |
//! | `kernel_compat` | `"5.10"`, `"native"` | `Builder::kernel_compat` with `KernelCompat::V5_10`, `KernelCompat::Native` (io_uring only: an error with `driver = "epoll"`) |
//! | `entries` | an integer from 1 | `Builder::entries`, the io_uring submission queue size |
//! | `crate` | a path, as a string | how ringloop is reached, for a renamed dependency (`crate = "rl"` after `rl = { package = "ringloop", .. }`) |
//!
//! What an option leaves unset the builder decides as usual: the `RINGLOOP_DRIVER`
//! and `RINGLOOP_KERNEL_COMPAT` environment variables, then the defaults.

mod expand;
mod options;

use proc_macro::TokenStream;

use expand::{expand, Kind};

/// Runs `async fn main()` on a ringloop runtime, like `asyncio.run(main())`.
///
/// The function becomes a plain `fn main()` that builds a runtime with
/// `ringloop::Runtime::builder()` and the options given, and runs the body with
/// `block_on`; the runtime, and every task still alive in it, is dropped when the
/// body returns. The same as `ringloop::run(async { .. })`, with options.
///
/// `main` may return any type, a `Result` included (a returned `Err` ends the
/// program with a failure status, as for any `main`). When the runtime cannot be
/// built (`driver = "uring"` where io_uring is refused, a bad `RINGLOOP_*`
/// variable), `main` panics with the attribute as written and the error, e.g.
/// `#[ringloop::main(driver = "uring")]: cannot build the runtime: Operation not
/// permitted (os error 1)`.
///
/// ```
/// use std::time::Duration;
///
/// #[ringloop::main]
/// async fn main() {
///     let task = ringloop::spawn(async { 6 * 7 });
///     ringloop::sleep(Duration::from_millis(1)).await;
///     assert_eq!(task.await, Ok(42));
/// }
/// ```
///
/// With options, and a `Result`:
///
/// ```
/// #[ringloop::main(driver = "epoll")]
/// async fn main() -> std::io::Result<()> {
///     assert_eq!(ringloop::driver_kind(), ringloop::DriverKind::Epoll);
///     let path = std::env::temp_dir().join(format!("ringloop-doc-main-{}", std::process::id()));
///     ringloop::fs::write(&path, b"hello").await?;
///     ringloop::fs::remove_file(&path).await?;
///     Ok(())
/// }
/// ```
///
/// # Errors at compile time
///
/// The attribute goes on `async fn main()` alone: no arguments, no generics, no
/// other name (for tests use [`macro@test`]). An unknown option, a value it does not
/// take, an option given twice, or `kernel_compat` with `driver = "epoll"` is
/// reported where it is written.
///
/// ```compile_fail
/// #[ringloop::main(driver = "kqueue")] // unknown driver "kqueue": expected ...
/// async fn main() {}
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Main, args.into(), item.into()).into()
}

/// Runs an `async fn` test on a fresh ringloop runtime: the function becomes a
/// `#[test] fn` that builds the runtime the options ask for and runs the body with
/// `block_on`, as [`macro@main`] does.
///
/// The test's other attributes stay: `#[should_panic]`, `#[ignore]`, doc comments,
/// lints. It may return a `Result`, as a `#[test]` may. When the runtime cannot be
/// built the test panics with the attribute as written and the error.
///
/// ```no_run
/// #[ringloop::test(driver = "epoll")]
/// async fn spawned_tasks_run() {
///     assert_eq!(ringloop::driver_kind(), ringloop::DriverKind::Epoll);
///     assert_eq!(ringloop::spawn(async { 1 + 1 }).await, Ok(2));
/// }
///
/// #[ringloop::test]
/// #[should_panic(expected = "boom")]
/// async fn panics_are_the_test_s() {
///     ringloop::yield_now().await;
///     panic!("boom");
/// }
/// ```
///
/// A renamed dependency (`rl = { package = "ringloop", version = ".." }`) says how
/// ringloop is reached:
///
/// ```no_run
/// # extern crate ringloop as rl;
/// #[rl::test(crate = "rl")]
/// async fn renamed() {
///     rl::yield_now().await;
/// }
/// ```
///
/// The mistakes [`macro@main`] reports are reported here too (but any name is
/// fine); so is a `#[test]` of its own, which the attribute already adds.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Test, args.into(), item.into()).into()
}
