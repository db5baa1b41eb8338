use super::*;

/// `cargo test -p distlog-store --release throughput -- --ignored --nocapture`
#[test]
#[ignore]
fn throughput_on_log_like_json() {
    let mut rng = Rng(19);
    let recs: Vec<Rec> = (0..200_000u64)
        .map(|i| {
            let words: Vec<&str> = (0..4 + rng.below(8))
                .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
                .collect();
            // Ids and numbers, as real messages have, give most distinct tokens.
            let message = format!(
                "{} req={:08x} user=u{} took {}ms",
                words.join(" "),
                rng.next() as u32,
                rng.below(10_000),
                rng.below(2000)
            );
            let payload = format!(
                r#"{{"name":"app.{}","msg":"{message}","args":null,"levelname":"INFO","levelno":20,"pathname":"/srv/app/handlers.py","filename":"handlers.py","module":"handlers","exc_info":null,"exc_text":null,"stack_info":null,"lineno":{},"funcName":"handle","created":{},"msecs":{},"thread":{},"threadName":"MainThread","processName":"MainProcess","process":{},"message":"{message}","hostname":"web-{}","context":{{"key":"{}@e252a11f-d33d-483d-ba08-bc8f642b2f10/{}","user":"u{}"}}}}"#,
                WORDS[rng.below(5) as usize],
                rng.below(900),
                1.7e9 + i as f64 * 0.001,
                rng.below(1000),
                140_000_000 + rng.below(8),
                4000 + rng.below(4),
                rng.below(4),
                i % 50,
                i / 50,
                rng.below(10_000),
            );
            let mut tokens = Vec::new();
            tokenize(&message, &mut tokens);
            tokens.push(crate::tokens::field_token("host", &format!("web-{}", i % 4)));
            crate::tokens::logger_tokens("app.handlers", &mut tokens);
            Rec {
                id: i,
                task: i / 50,
                created: 1.7e9 + i as f64 * 0.001,
                levelno: 20,
                payload: payload.into_bytes(),
                tokens,
            }
        })
        .collect();
    let raw: usize = recs.iter().map(|r| r.payload.len()).sum();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.seg");
    let t = std::time::Instant::now();
    let info = write_segment(&path, items(&recs), &SegmentOptions::default()).expect("write");
    let write_s = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let seg = Segment::open(&path).expect("open");
    let mut read = 0usize;
    let report = seg.for_each_record(|r| read += r.payload.len());
    let read_s = t.elapsed().as_secs_f64();
    assert_eq!(read, raw);
    assert!(report.errors.is_empty());
    let filters: usize = seg.blocks().iter().map(|b| b.filter_bytes()).sum();
    let mb = raw as f64 / 1e6;
    println!(
        "{} records, {mb:.1} MB of payload in {} blocks; file {:.1} MB (ratio {:.1}x); \
         write {:.0} MB/s, read {:.0} MB/s; filters {:.0} KB ({:.2}% of payload)",
        recs.len(),
        info.blocks,
        info.bytes as f64 / 1e6,
        raw as f64 / info.bytes as f64,
        mb / write_s,
        mb / read_s,
        filters as f64 / 1e3,
        filters as f64 * 100.0 / raw as f64,
    );
}
