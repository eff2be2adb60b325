//! Which versions ran: the peers' crates as `Cargo.lock` pins them (read at run
//! time from the crate's directory, so it cannot drift from what was built as long
//! as the binary was built from that checkout), ringloop's own version and commit.

use std::path::Path;
use std::process::Command;

/// The crates whose versions the report names.
const CRATES: [&str; 5] = ["tokio", "monoio", "compio", "tokio-uring", "io-uring"];

/// `name version[, version]` for each crate of `CRATES` found in the lock file
/// text `lock` (a crate locked at two versions lists both).
pub(crate) fn from_lock(lock: &str) -> Vec<(String, Vec<String>)> {
    let mut found: Vec<(String, Vec<String>)> =
        CRATES.iter().map(|c| (c.to_string(), Vec::new())).collect();
    let mut name: Option<&str> = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"'));
        } else if let Some(v) = line.strip_prefix("version = ") {
            if let Some(entry) = found.iter_mut().find(|(c, _)| Some(c.as_str()) == name) {
                entry.1.push(v.trim_matches('"').to_owned());
            }
            name = None;
        }
    }
    found
}

/// The report's "versions" line.
pub(crate) fn line() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap_or_default();
    let commit = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "?".into());
    let mut parts = vec![format!(
        "ringloop {} (commit {commit})",
        env!("CARGO_PKG_VERSION")
    )];
    for (name, versions) in from_lock(&lock) {
        let v = if versions.is_empty() {
            "? (not in Cargo.lock)".to_owned()
        } else {
            versions.join(" and ")
        };
        parts.push(format!("{name} {v}"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_lock_file() {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
            .expect("Cargo.lock");
        for (name, versions) in super::from_lock(&lock) {
            assert!(!versions.is_empty(), "{name} is not in Cargo.lock");
        }
    }
}
