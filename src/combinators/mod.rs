//! Combinators over futures and tasks, like asyncio's `wait`, `as_completed`,
//! `shield`, `gather(..., return_exceptions=False)` and `TaskGroup`.
