use super::filter::TokenFilter;
use super::*;
use crate::tokens::tokenize;
use std::path::Path;

mod damage;
mod throughput;

/// splitmix64: deterministic test data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "connection",
    "refused",
    "retrying",
    "user",
    "login",
    "timeout",
    "database",
    "query",
    "KeyError",
    "handler",
    "request",
    "served",
    "cache",
    "miss",
    "hit",
    "worker",
    "started",
    "stopped",
    "upload",
    "chunk",
    "checksum",
    "ok",
    "failed",
    "payment",
    "order",
    "shipped",
];

struct Rec {
    id: u64,
    task: u64,
    created: f64,
    levelno: i64,
    payload: Vec<u8>,
    tokens: Vec<u64>,
}

/// Records sorted by task, with payload sizes from empty to several blocks.
fn records(n: usize, seed: u64) -> Vec<Rec> {
    let mut rng = Rng(seed);
    let mut task = 0;
    (0..n)
        .map(|i| {
            if rng.below(20) == 0 {
                task += 1 + rng.below(3);
            }
            let mut text = String::new();
            for _ in 0..rng.below(12) {
                text.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
                text.push(' ');
            }
            text.push_str(&format!("r{i}"));
            let mut payload = format!(r#"{{"message": "{text}"}}"#).into_bytes();
            match rng.below(50) {
                0 => payload.clear(),
                1 => payload.extend(std::iter::repeat_n(b'x', 10_000)),
                _ => payload.extend((0..rng.below(600)).map(|_| b'a' + rng.below(26) as u8)),
            }
            let mut tokens = Vec::new();
            tokenize(&text, &mut tokens);
            Rec {
                id: 1000 + i as u64 * 3,
                task,
                created: 1.7e9 + i as f64 * 0.25,
                levelno: [10, 20, 30, 40, 50][rng.below(5) as usize],
                payload,
                tokens,
            }
        })
        .collect()
}

fn items(recs: &[Rec]) -> impl Iterator<Item = SegItem<'_>> {
    recs.iter().map(|r| SegItem {
        id: r.id,
        task: r.task,
        created: r.created,
        levelno: r.levelno,
        payload: &r.payload,
        tokens: &r.tokens,
    })
}

fn small_blocks() -> SegmentOptions {
    SegmentOptions {
        block_bytes: 4096,
        zstd_level: 1,
    }
}

fn write(path: &Path, recs: &[Rec]) -> SegmentInfo {
    write_segment(path, items(recs), &small_blocks()).expect("write")
}

fn all_records(seg: &Segment) -> Vec<(u64, u64, f64, i64, Vec<u8>)> {
    let mut out = Vec::new();
    let report =
        seg.for_each_record(|r| out.push((r.id, r.task, r.created, r.levelno, r.payload.to_vec())));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.records, out.len() as u64);
    out
}

fn expected(recs: &[Rec]) -> Vec<(u64, u64, f64, i64, Vec<u8>)> {
    recs.iter()
        .map(|r| (r.id, r.task, r.created, r.levelno, r.payload.clone()))
        .collect()
}

fn is_corrupt(r: &Result<impl std::fmt::Debug, SegmentError>) -> bool {
    matches!(r, Err(SegmentError::Corrupt { .. }))
}

#[test]
fn a_segment_round_trips_every_record_in_order_across_many_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.seg");
    let recs = records(3000, 1);
    let info = write(&path, &recs);
    let seg = Segment::open(&path).expect("open");
    assert_eq!(seg.info(), &info);
    assert!(info.blocks > 50, "{} blocks", info.blocks);
    assert_eq!(info.count, 3000);
    assert_eq!((info.min_id, info.max_id), (1000, 1000 + 2999 * 3));
    assert_eq!(
        (info.min_created, info.max_created),
        (1.7e9, 1.7e9 + 2999.0 * 0.25)
    );
    assert_eq!(info.bytes, std::fs::metadata(&path).expect("stat").len());
    assert_eq!(all_records(&seg), expected(&recs));
    // no temporary file is left beside it
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
}

#[test]
fn blocks_stay_near_the_target_size_and_big_records_get_their_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.seg");
    write(&path, &records(2000, 2));
    let seg = Segment::open(&path).expect("open");
    for (i, b) in seg.blocks().iter().enumerate() {
        let block = seg.read_block(i).expect("read");
        assert!(
            b.raw_len as usize <= 4096 || block.len() == 1,
            "block {i}: {} bytes",
            b.raw_len
        );
    }
}

#[test]
fn block_metadata_describes_its_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.seg");
    write(&path, &records(1500, 3));
    let seg = Segment::open(&path).expect("open");
    for (i, b) in seg.blocks().iter().enumerate() {
        let block = seg.read_block(i).expect("read");
        let rs: Vec<_> = block.records().collect();
        assert_eq!(rs.len(), b.count as usize);
        assert_eq!(block.len(), rs.len());
        let min = |f: fn(&BlockRecord) -> f64| rs.iter().map(f).fold(f64::INFINITY, f64::min);
        let max = |f: fn(&BlockRecord) -> f64| rs.iter().map(f).fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(b.min_id as f64, min(|r| r.id as f64));
        assert_eq!(b.max_id as f64, max(|r| r.id as f64));
        assert_eq!(b.min_task as f64, min(|r| r.task as f64));
        assert_eq!(b.max_task as f64, max(|r| r.task as f64));
        assert_eq!(b.min_level as f64, min(|r| r.levelno as f64));
        assert_eq!(b.max_level as f64, max(|r| r.levelno as f64));
        assert_eq!(b.min_created, min(|r| r.created));
        assert_eq!(b.max_created, max(|r| r.created));
    }
}

#[test]
fn task_blocks_finds_exactly_the_blocks_that_hold_a_present_task() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.seg");
    let recs = records(3000, 4);
    write(&path, &recs);
    let seg = Segment::open(&path).expect("open");
    let last_task = recs.last().expect("records").task;
    let mut tasks_seen = 0;
    for task in 0..=last_task + 2 {
        let want: Vec<usize> = (0..seg.blocks().len())
            .filter(|&i| {
                seg.read_block(i)
                    .expect("read")
                    .records()
                    .any(|r| r.task == task)
            })
            .collect();
        let got: Vec<usize> = seg.task_blocks(task).collect();
        if want.is_empty() {
            // An absent task can only fall inside one block's range, between
            // two of its tasks; the caller's exact check then finds nothing.
            assert!(got.len() <= 1, "task {task}: {got:?}");
            for &i in &got {
                let b = &seg.blocks()[i];
                assert!(b.min_task < task && task < b.max_task, "task {task}");
            }
        } else {
            assert_eq!(got, want, "task {task}");
            tasks_seen += 1;
        }
    }
    assert!(tasks_seen > 100, "{tasks_seen} tasks");
}

#[test]
fn block_filters_pass_every_token_of_their_records_and_reject_most_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.seg");
    let recs = records(3000, 5);
    write(&path, &recs);
    let seg = Segment::open(&path).expect("open");
    let mut at = 0;
    for i in 0..seg.blocks().len() {
        for r in seg.read_block(i).expect("read").records() {
            let rec = &recs[at];
            assert_eq!(r.id, rec.id);
            assert!(
                seg.block_may_contain(i, &rec.tokens),
                "record {} in block {i}",
                rec.id
            );
            at += 1;
        }
    }
    let mut rng = Rng(99);
    let (mut tests, mut passes) = (0, 0);
    for i in 0..seg.blocks().len() {
        for _ in 0..1000 {
            tests += 1;
            passes += usize::from(seg.block_may_contain(i, &[rng.next()]));
        }
    }
    // BinaryFuse8 promises about 1/256; allow five times that.
    assert!(
        passes * 50 < tests,
        "{passes} of {tests} absent tokens passed"
    );
    assert!(seg.block_may_contain(0, &[]));
    assert!(!seg.block_may_contain(seg.blocks().len(), &[]));
}

#[test]
fn filters_build_for_every_small_key_count_and_survive_encoding() {
    let mut rng = Rng(7);
    for n in 1..300 {
        let keys: Vec<u64> = (0..n).map(|_| rng.next()).collect();
        let mut with_dups = keys.clone();
        with_dups.extend_from_slice(&keys[..n / 2]);
        let f = TokenFilter::build(&mut with_dups);
        assert!(matches!(f, TokenFilter::Fuse(_)), "{n} keys");
        let mut bytes = Vec::new();
        f.encode(&mut bytes);
        let g = TokenFilter::decode(&mut format::Cursor::new(&bytes)).expect("decode");
        for k in &keys {
            assert!(f.contains(*k) && g.contains(*k), "{n} keys");
        }
    }
}

#[test]
fn a_block_without_tokens_matches_no_token_but_any_empty_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.seg");
    let item = SegItem {
        id: 1,
        task: 0,
        created: 0.0,
        levelno: 20,
        payload: b"x",
        tokens: &[],
    };
    write_segment(&path, [item], &SegmentOptions::default()).expect("write");
    let seg = Segment::open(&path).expect("open");
    assert!(!seg.block_may_contain(0, &[42]));
    assert!(seg.block_may_contain(0, &[]));
}

#[test]
fn zero_items_make_a_valid_empty_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.seg");
    let info = write_segment(&path, [], &SegmentOptions::default()).expect("write");
    assert_eq!((info.count, info.blocks), (0, 0));
    let seg = Segment::open(&path).expect("open");
    assert_eq!(seg.blocks().len(), 0);
    assert_eq!(seg.task_blocks(0), 0..0);
    assert!(seg.read_block(0).is_err());
    assert_eq!(seg.for_each_record(|_| ()).records, 0);
}

#[test]
fn items_out_of_task_order_are_refused_and_leave_no_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.seg");
    let mut recs = records(100, 8);
    recs[50].task = 10_000;
    let err = write_segment(&path, items(&recs), &small_blocks()).expect_err("unsorted");
    assert!(
        matches!(err, SegmentError::OutOfOrder { task, .. } if task < 10_000),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
}

#[test]
fn writing_replaces_an_existing_segment_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.seg");
    write(&path, &records(500, 9));
    let recs = records(20, 10);
    write(&path, &recs);
    assert_eq!(
        all_records(&Segment::open(&path).expect("open")),
        expected(&recs)
    );
}

#[test]
fn segments_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Segment>();
}
