//! Hashers for the maps the request path looks up in: keys by digest, models by name.
//!
//! The standard map hashes with SipHash, keyed per process, so that whoever chooses a map's
//! keys cannot make them collide. These maps are built from config; a request only looks
//! names up in them, and a lookup probes no further than the config's own keys collide, so
//! a cheaper hash is as safe. SipHash cost about 270 instructions for the key's digest and
//! 200 for the model name on every request.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map by SHA-256 digest, hashed by the digest's leading bytes.
pub(crate) type DigestMap<V> = HashMap<[u8; 32], V, BuildHasherDefault<DigestPrefix>>;

/// A map by name, hashed with foldhash (seeded per process).
pub(crate) type NameMap<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// A digest's bytes are already uniformly spread: its first eight are hash enough. The array
/// writes its length first, folded in the same way.
#[derive(Default)]
pub(crate) struct DigestPrefix(u64);

impl Hasher for DigestPrefix {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(17) ^ u64::from_le_bytes(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn digests_hash_by_their_leading_bytes() {
        let hash = |d: [u8; 32]| BuildHasherDefault::<DigestPrefix>::default().hash_one(d);
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        a[0] = 1;
        b[0] = 2;
        assert_ne!(hash(a), hash(b));
        // Bytes past the eighth do not move the hash; the map still tells the digests apart.
        let mut c = a;
        c[31] = 9;
        assert_eq!(hash(a), hash(c));
        let map: DigestMap<&str> = [(a, "a"), (b, "b"), (c, "c")].into_iter().collect();
        assert_eq!((map[&a], map[&b], map[&c]), ("a", "b", "c"));
    }
}
