fn main() {
    let rt = ringloop::Runtime::new().unwrap();
    let mut v = vec![];
    for _ in 0..15 {
        let t = std::time::Instant::now();
        for _ in 0..100 {
            rt.block_on(async {
                let handles: Vec<_> = (0..10_000).map(|_| ringloop::spawn(async {})).collect();
                for h in handles { h.await.unwrap(); }
            });
        }
        v.push(t.elapsed() / 1_000_000);
    }
    v.sort();
    println!("min {:?} median {:?}", v[0], v[7]);
}
