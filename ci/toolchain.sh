# Sourced by the ci/ scripts: makes sure `cargo`, clippy and rustfmt are available,
# installing a Rust toolchain with rustup when the machine has none.

step() { printf '\n==> %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        step "installing Rust (rustup, minimal profile)"
        if ! command -v curl >/dev/null 2>&1; then
            if command -v apt-get >/dev/null 2>&1; then
                sudo=""
                [ "$(id -u)" -ne 0 ] && sudo="sudo"
                $sudo apt-get update -qq
                $sudo apt-get install -y -qq curl ca-certificates build-essential
            else
                echo "ci/toolchain.sh: need curl (or cargo) to install Rust" >&2
                exit 1
            fi
        fi
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
            | sh -s -- -y --profile minimal --component clippy,rustfmt
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
fi

if ! command -v cc >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    step "installing a C linker (build-essential)"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq build-essential
fi

if command -v rustup >/dev/null 2>&1; then
    for component in clippy rustfmt; do
        if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
            step "installing the $component component"
            rustup component add "$component"
        fi
    done
fi
