//! The compile errors of `#[ringloop::main]` and `#[ringloop::test]`: each file of
//! `ui/` must fail to compile with the errors of its `.stderr` file (spans
//! included). After a deliberate change, `TRYBUILD=overwrite cargo test -p
//! ringloop-macros --test ui` rewrites them; review the diff.

#[test]
fn ui() {
    // One `TestCases` for all the files: ringloop is compiled once for them.
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
