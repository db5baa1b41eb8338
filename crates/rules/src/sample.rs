//! Sampling by task: a pure function of the root id, so every process and
//! every daemon that sees a task makes the same choice without talking.

/// Where `root` falls in `[0, 1)`: FNV-1a (64-bit) over its UTF-8 bytes,
/// then MurmurHash3's 64-bit finaliser, whose avalanche spreads roots that
/// differ in one character (FNV-1a alone mixes its last bytes poorly), read
/// as a fraction of 2^64. docs/configuration.md gives the same recipe, for
/// clients that want to sample on their side.
pub fn sample_point(root: &str) -> f64 {
    hash(root) as f64 / 18_446_744_073_709_551_616.0
}

pub(crate) fn hash(root: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in root.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The hash values below which a root is sampled at `ratio`; `None` for
/// 1 (every task), so that no hash escapes it.
pub(crate) fn threshold(ratio: f64) -> Option<u64> {
    if ratio >= 1.0 {
        return None;
    }
    // ratio < 1, so the product is below 2^64 and the cast cannot saturate
    // into "everything".
    Some((ratio * 18_446_744_073_709_551_616.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recipe_is_fixed() {
        // Pinned: changing the hash would change which tasks every
        // deployed daemon keeps.
        // The same recipe in Python gives these (docs/configuration.md).
        assert_eq!(hash("e252a11f"), 0x6201_f027_6560_6edd);
        assert_eq!(hash(""), 0xefd0_1f60_ba99_2926);
        assert!((sample_point("e252a11f") - 0.382_842_073).abs() < 1e-9);
        let a = hash("e252a11f-0000-4000-8000-000000000001");
        let b = hash("e252a11f-0000-4000-8000-000000000002");
        assert_ne!(a, b);
        assert!(
            (a ^ b).count_ones() > 16,
            "one character should flip many bits"
        );
        assert_eq!(threshold(0.0), Some(0));
        assert_eq!(threshold(1.0), None);
        assert_eq!(threshold(0.5), Some(1 << 63));
    }
}
