//! Damaged files: what still reads, what is refused, and never a panic.

use super::*;

/// Flips one byte inside block `block`'s compressed data.
fn flip_data_byte(path: &Path, seg: &Segment, block: usize) {
    let b = &seg.blocks()[block];
    let at = b.end() - u64::from(b.data_len) / 2 - 1;
    flip(path, at);
}

fn flip(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).expect("read");
    bytes[at as usize] ^= 0x40;
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn a_flipped_byte_in_one_block_corrupts_that_block_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.seg");
    let recs = records(1000, 11);
    write(&path, &recs);
    let n = Segment::open(&path).expect("open").blocks().len();
    flip_data_byte(&path, &Segment::open(&path).expect("open"), 2);
    let seg = Segment::open(&path).expect("the footer is intact");
    for i in 0..n {
        let r = seg.read_block(i);
        if i == 2 {
            assert!(
                matches!(r, Err(SegmentError::Corrupt { block: Some(2), .. })),
                "{r:?}"
            );
        } else {
            assert!(r.is_ok(), "block {i}: {r:?}");
        }
    }
    let mut count = 0;
    let report = seg.for_each_record(|_| count += 1);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(count, 1000 - seg.blocks()[2].count as u64);
    assert_eq!(report.records, count);
}

#[test]
fn a_damaged_footer_fails_open_and_recover_keeps_every_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.seg");
    let recs = records(1000, 12);
    write(&path, &recs);
    let footer_at = {
        let seg = Segment::open(&path).expect("open");
        seg.blocks().last().expect("blocks").end()
    };
    flip(&path, footer_at + 20);
    assert!(is_corrupt(&Segment::open(&path)));
    let (seg, recovery) = Segment::recover(&path).expect("recover");
    assert!(!recovery.footer_intact);
    assert_eq!(recovery.skipped.len(), 1);
    assert_eq!(recovery.skipped[0].start, footer_at);
    assert_eq!(all_records(&seg), expected(&recs));
}

#[test]
fn a_damaged_block_frame_is_skipped_by_recover_and_the_rest_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.seg");
    let recs = records(1000, 13);
    write(&path, &recs);
    let seg = Segment::open(&path).expect("open");
    let lost = seg.blocks()[3].clone();
    let footer_at = seg.blocks().last().expect("blocks").end();
    drop(seg);
    flip(&path, lost.offset + 30); // inside its metadata
    flip(&path, footer_at + 2); // and spoil the footer
    let (seg, recovery) = Segment::recover(&path).expect("recover");
    assert_eq!(recovery.skipped[0], lost.offset..lost.end());
    let want: Vec<_> = expected(&recs)
        .into_iter()
        .filter(|r| r.0 < lost.min_id || r.0 > lost.max_id)
        .collect();
    assert_eq!(all_records(&seg), want);
}

#[test]
fn a_torn_tail_fails_open_and_recover_keeps_every_block_before_the_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.seg");
    let recs = records(600, 14);
    write(&path, &recs);
    let whole = std::fs::read(&path).expect("read");
    let blocks = Segment::open(&path).expect("open").blocks().to_vec();
    let footer_at = blocks.last().expect("blocks").end();
    let mut cuts: Vec<u64> = vec![17, 30, footer_at, footer_at + 3, whole.len() as u64 - 1];
    for b in blocks.iter().take(6) {
        cuts.extend([b.offset, b.offset + 5, b.offset + 40, b.end() - 1, b.end()]);
    }
    for cut in cuts {
        std::fs::write(&path, &whole[..cut as usize]).expect("cut");
        assert!(is_corrupt(&Segment::open(&path)), "cut at {cut}");
        let (seg, recovery) = Segment::recover(&path).expect("recover");
        let kept = blocks.iter().filter(|b| b.end() <= cut).count();
        assert_eq!(seg.blocks().len(), kept, "cut at {cut}");
        let n: usize = blocks[..kept].iter().map(|b| b.count as usize).sum();
        assert_eq!(all_records(&seg), expected(&recs[..n]), "cut at {cut}");
        let tail_start = blocks.get(kept).map_or(footer_at, |b| b.offset);
        if cut > tail_start {
            assert_eq!(recovery.skipped, vec![tail_start..cut], "cut at {cut}");
        }
    }
}

#[test]
fn garbage_short_and_empty_files_are_refused_as_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.seg");
    let mut rng = Rng(15);
    let garbage: Vec<u8> = (0..100_000).map(|_| rng.next() as u8).collect();
    for bytes in [&b""[..], b"DLSEG", &garbage, &format::FILE_MAGIC] {
        std::fs::write(&path, bytes).expect("write");
        assert!(is_corrupt(&Segment::open(&path)), "{} bytes", bytes.len());
        assert!(
            is_corrupt(&Segment::recover(&path)),
            "{} bytes",
            bytes.len()
        );
    }
    // A sound header over garbage opens as nothing under recover.
    let mut bytes = format::file_header().to_vec();
    bytes.extend_from_slice(&garbage);
    std::fs::write(&path, &bytes).expect("write");
    assert!(is_corrupt(&Segment::open(&path)));
    let (seg, recovery) = Segment::recover(&path).expect("recover");
    assert_eq!(seg.blocks().len(), 0);
    assert_eq!(recovery.skipped, vec![16..bytes.len() as u64]);
    assert!(matches!(
        Segment::open(dir.path()),
        Err(SegmentError::Io { .. } | SegmentError::Corrupt { .. })
    ));
}

#[test]
fn a_newer_format_version_is_named_not_called_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.seg");
    write(&path, &records(10, 16));
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[8] = 9;
    std::fs::write(&path, &bytes).expect("write");
    let r = Segment::open(&path);
    assert!(
        matches!(r, Err(SegmentError::UnsupportedVersion { version: 9, .. })),
        "{r:?}"
    );
}

#[test]
fn no_single_flipped_byte_makes_a_reader_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.seg");
    write_segment(
        &path,
        items(&records(40, 17)),
        &SegmentOptions {
            block_bytes: 2048,
            zstd_level: 1,
        },
    )
    .expect("write");
    let whole = std::fs::read(&path).expect("read");
    let mut rng = Rng(18);
    for _ in 0..400 {
        let mut bytes = whole.clone();
        let at = rng.below(bytes.len() as u64) as usize;
        bytes[at] ^= 1 << rng.below(8);
        std::fs::write(&path, &bytes).expect("write");
        for seg in [
            Segment::open(&path).ok(),
            Segment::recover(&path).ok().map(|r| r.0),
        ]
        .into_iter()
        .flatten()
        {
            let _ = seg.for_each_record(|_| ());
        }
    }
}

/// Rewrites the footer with `edit` and re-signs it, as a forger (or a
/// checksum collision) would.
fn forge_footer(path: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let bytes = std::fs::read(path).expect("read");
    let t = bytes.len() - format::TRAILER_LEN;
    let (offset, len, _) = format::parse_trailer(&bytes[t..]).expect("trailer");
    let mut footer = bytes[offset as usize..offset as usize + len as usize].to_vec();
    edit(&mut footer);
    let mut out = bytes[..offset as usize].to_vec();
    out.extend_from_slice(&footer);
    let crc = crc32fast::hash(&footer);
    out.extend_from_slice(&format::trailer(offset, footer.len() as u32, crc));
    std::fs::write(path, out).expect("write");
}

#[test]
fn a_signed_footer_with_impossible_lengths_is_corrupt_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.seg");
    write(&path, &records(200, 20));
    let whole = std::fs::read(&path).expect("read");
    let edits: [fn(&mut Vec<u8>); 4] = [
        |f| f[4..8].copy_from_slice(&u32::MAX.to_le_bytes()), // block count
        |f| f[8..16].copy_from_slice(&(u64::MAX - 30).to_le_bytes()), // first offset
        |f| f[20..24].copy_from_slice(&u32::MAX.to_le_bytes()), // first data_len
        |f| f.truncate(f.len() - 1),
    ];
    for (i, edit) in edits.into_iter().enumerate() {
        std::fs::write(&path, &whole).expect("write");
        forge_footer(&path, edit);
        assert!(is_corrupt(&Segment::open(&path)), "edit {i}");
        let (seg, recovery) = Segment::recover(&path).expect("recover");
        assert!(!recovery.footer_intact);
        assert_eq!(seg.info().count, 200, "edit {i}");
    }
}
