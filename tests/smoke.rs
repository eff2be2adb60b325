//! Smoke test: spawning and joining one task on every driver.

mod support;

matrix_test! {
    fn spawn_and_join(mode) {
        let out = mode.run(async { ringloop::spawn(async { 21 * 2 }).await });
        assert_eq!(out, Ok(42));
    }
}
