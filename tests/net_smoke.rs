//! Networking smoke tests: one round trip through each socket type and the streams.

mod support;

use std::time::Duration;

use ringloop::net::{open_connection, start_server, TcpListener, TcpStream, UdpSocket, UnixStream};

matrix_test! {
    fn tcp_round_trip(mode) {
        mode.run(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = ringloop::spawn(async move {
                let (stream, peer) = listener.accept().await.unwrap();
                let (n, buf) = stream.read(Vec::with_capacity(64)).await;
                stream.write_all(buf).await.0.unwrap();
                (n.unwrap(), peer)
            });
            let stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(b"hello".to_vec()).await.0.unwrap();
            let (n, buf) = stream.read(Vec::with_capacity(64)).await;
            assert_eq!(&buf[..n.unwrap()], b"hello");
            let (n, peer) = server.await.unwrap();
            assert_eq!(n, 5);
            assert_eq!(peer, stream.local_addr().unwrap());
        });
    }
}

matrix_test! {
    fn udp_round_trip(mode) {
        mode.run(async {
            let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let (n, _) = a.send_to(b"dgram".to_vec(), b.local_addr().unwrap()).await;
            assert_eq!(n.unwrap(), 5);
            let (res, buf) = b.recv_from(Vec::with_capacity(64)).await;
            let (n, from) = res.unwrap();
            assert_eq!((&buf[..n], from), (&b"dgram"[..], a.local_addr().unwrap()));
        });
    }
}

matrix_test! {
    fn unix_pair_and_vectored(mode) {
        mode.run(async {
            let (a, b) = UnixStream::pair().unwrap();
            let (n, _) = a.writev(vec![b"ab".to_vec(), b"cd".to_vec()]).await;
            assert_eq!(n.unwrap(), 4);
            let (n, bufs) = b.readv(vec![Vec::with_capacity(3), Vec::with_capacity(8)]).await;
            assert_eq!(n.unwrap(), 4);
            assert_eq!((bufs[0].as_slice(), bufs[1].as_slice()), (&b"abc"[..], &b"d"[..]));
        });
    }
}

matrix_test! {
    fn stream_echo(mode) {
        mode.run(async {
            let server = start_server(
                |mut reader, writer| async move {
                    while let Ok(data) = reader.read(1024).await {
                        if data.is_empty() || writer.write(&data).is_err() {
                            break;
                        }
                        let _ = writer.drain().await;
                    }
                },
                "127.0.0.1:0",
            )
            .await
            .unwrap();
            let (mut reader, writer) = open_connection(server.local_addr().unwrap()).await.unwrap();
            for i in 0..100 {
                let msg = format!("line {i}\n");
                writer.write(msg.as_bytes()).unwrap();
                writer.drain().await.unwrap();
                assert_eq!(reader.readline().await.unwrap(), msg.as_bytes());
            }
            writer.close();
            writer.wait_closed().await.unwrap();
            assert_eq!(reader.read(10).await.unwrap(), b"");
            server.close();
            ringloop::wait_for(Duration::from_secs(5), server.wait_closed()).await.unwrap();
        });
    }
}
