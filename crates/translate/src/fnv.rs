//! FNV-1a hashing, for ids that must be stable across replays of one response.

/// FNV-1a, 64-bit, over `parts` with a separator byte after each, so that moving bytes from
/// one part to the next changes the hash.
pub(crate) fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}
