//! One plain GET before the load, to check that every server sends the same
//! response: the status line, the headers (names and values, `date`'s value
//! aside, which changes every second) and the body.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The request: what wrk sends, give or take its `Host` header's port.
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
/// The most a response may take.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a response read (a hello-world response is a tenth of this).
const LIMIT: usize = 16 * 1024;

/// GETs `/` from `addr` and returns the response, normalised: one line for the
/// status, one per header (lower-cased, sorted, `date: <date>`), then the body.
pub(crate) fn get(addr: SocketAddr) -> io::Result<String> {
    let mut sock = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    sock.set_read_timeout(Some(TIMEOUT))?;
    sock.write_all(REQUEST)?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(text) = complete(&raw) {
            return Ok(text);
        }
        if raw.len() > LIMIT {
            return Err(io::Error::other("a response over 16 KiB"));
        }
        let n = sock.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::other(format!(
                "the server closed the connection after {:?}",
                String::from_utf8_lossy(&raw)
            )));
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

/// The normalised response in `raw`, once its head and `content-length` bytes of
/// body have arrived.
fn complete(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.to_owned();
    let mut headers: Vec<String> = Vec::new();
    let mut length = 0;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "date" => headers.push("date: <date>".into()),
            "content-length" => {
                length = value.parse().ok()?;
                headers.push(format!("{name}: {value}"));
            }
            _ => headers.push(format!("{name}: {value}")),
        }
    }
    if body.len() < length {
        return None;
    }
    headers.sort();
    Some(format!("{status}\n{}\n\n{body}", headers.join("\n")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn normalises() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\ndate: Sun, 06 Dec 2026 04:00:00 GMT\r\n\r\nHello, world!";
        assert_eq!(
            super::complete(raw).unwrap(),
            "HTTP/1.1 200 OK\ncontent-length: 13\ndate: <date>\n\nHello, world!"
        );
        assert!(super::complete(&raw[..raw.len() - 1]).is_none());
        assert!(super::complete(b"HTTP/1.1 200 OK\r\n").is_none());
    }
}
