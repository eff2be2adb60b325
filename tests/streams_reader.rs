//! `StreamReader`: the cancel-safety of `readuntil` and `readline`.

mod common;
#[path = "common/streams.rs"]
mod streams;

use std::time::Duration;

use streams::{fill, stream_pair, Kind};

/// A timeout that cancels a read still waiting for bytes.
const SHORT: Duration = Duration::from_millis(20);

matrix_test! {
    fn a_search_for_one_separator_does_not_hide_another(mode) {
        // A readuntil cancelled after searching the buffer for one separator; the
        // next call looks for another, which is in the part already searched.
        mode.run(async {
            let (peer, mut reader, _writer) = stream_pair(Kind::Unix).await;
            peer.send(b"ab\ncd|ef").await;
            fill(&mut reader, 8).await;
            let r = ringloop::wait_for(SHORT, reader.readuntil(b"||")).await;
            assert!(r.is_err(), "{r:?}");
            let line = ringloop::wait_for(Duration::from_secs(2), reader.readline()).await;
            assert_eq!(line.expect("readline missed the newline").unwrap(), b"ab\n");
            let r = ringloop::wait_for(Duration::from_secs(2), reader.readuntil(b"|")).await;
            assert_eq!(r.expect("readuntil missed the separator").unwrap(), b"cd|");
            // And from a longer separator to a shorter one within a line.
            peer.send(b"<=x\n").await;
            fill(&mut reader, 6).await;
            let r = ringloop::wait_for(SHORT, reader.readuntil(b"<=>")).await;
            assert!(r.is_err(), "{r:?}");
            let r = ringloop::wait_for(Duration::from_secs(2), reader.readuntil(b"=")).await;
            assert_eq!(r.expect("readuntil missed the separator").unwrap(), b"ef<=");
        });
    }
}
