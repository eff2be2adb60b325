# Sourced by the ci/ scripts: the cargo features of ringloop, read from
# Cargo.toml's [features] table (no names written here).
#
#   ALL_FEATURES    every feature but `default`, one per line
#   TEST_FEATURES   what the test runs turn on, comma-separated: every feature but
#                   `default` and `fault-injection` (which puts a fault injector in
#                   the driver and has its own step, tests/faults.rs)
ALL_FEATURES=$(awk '
    /^\[features\]/ { in_table = 1; next }
    /^\[/ { in_table = 0 }
    in_table && /^[A-Za-z0-9_-]+ *=/ { sub(/ *=.*/, ""); if ($0 != "default") print }
' Cargo.toml)
TEST_FEATURES=$(printf '%s\n' "$ALL_FEATURES" | grep -vx 'fault-injection' | paste -sd, -)
export ALL_FEATURES TEST_FEATURES
