//! Running shell commands with their output captured: the subprocess example of
//! the Python asyncio documentation.
//!
//! ```python
//! async def run(cmd):
//!     proc = await asyncio.create_subprocess_shell(
//!         cmd,
//!         stdout=asyncio.subprocess.PIPE,
//!         stderr=asyncio.subprocess.PIPE)
//!
//!     stdout, stderr = await proc.communicate()
//!
//!     print(f'[{cmd!r} exited with {proc.returncode}]')
//!     if stdout:
//!         print(f'[stdout]\n{stdout.decode()}')
//!     if stderr:
//!         print(f'[stderr]\n{stderr.decode()}')
//!
//! asyncio.run(run('ls -l'))
//! ```
//!
//! With several commands as arguments they run at once, gathered, as in the
//! documentation's second example (`asyncio.gather(run('ls /zzz'), run('sleep 1;
//! echo "hello"'))`): each prints when it is done.
//!
//! Run: `cargo run --release --example subprocess [CMD...]` (default `ls -l`).

use ringloop::process::{create_subprocess_shell, Stdio};

/// Python's `repr` of a string: single quotes unless it holds a single quote and
/// no double quote, with backslash escapes.
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

async fn run(cmd: String) -> std::io::Result<()> {
    let mut proc = create_subprocess_shell(&cmd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;

    let output = proc.communicate(None).await?;

    let returncode = proc.returncode().expect("communicate waited for the exit");
    println!("[{} exited with {returncode}]", py_repr(&cmd));
    if !output.stdout.is_empty() {
        println!("[stdout]\n{}", String::from_utf8_lossy(&output.stdout));
    }
    if !output.stderr.is_empty() {
        println!("[stderr]\n{}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

fn main() {
    let mut commands: Vec<String> = std::env::args().skip(1).collect();
    if commands.is_empty() {
        commands.push("ls -l".to_owned());
    }
    let results = ringloop::run(ringloop::gather_all(commands.into_iter().map(run)));
    for result in results {
        if let Err(e) = result {
            eprintln!("subprocess: {e}");
            std::process::exit(1);
        }
    }
}
