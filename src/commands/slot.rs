//! Cluster key slots: which of the 16,384 slots a key belongs to.
//!
//! As the cluster specification defines it: the CRC16 (XMODEM: polynomial `0x1021`,
//! initial value 0) of the key, modulo 16,384. When the key holds a hash tag (a `{`, then
//! a `}` later with at least one byte between them), only the bytes between the first
//! `{` and the first `}` after it are hashed, so `{user1000}.following` and
//! `{user1000}.followers` share a slot. Pure functions: no IO, no state.

/// How many slots a cluster has.
pub const SLOT_COUNT: u16 = 16_384;

/// The slot of `key`.
///
/// # Examples
///
/// ```
/// use respec::commands::slot::key_slot;
///
/// assert_eq!(key_slot(b"foo"), 12182);
/// assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"{user1000}.followers"));
/// ```
#[must_use]
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key).unwrap_or(key)) % SLOT_COUNT
}

/// The part of `key` that is hashed for its slot when it has a hash tag: the bytes
/// between its first `{` and the first `}` after it, when there are any.
#[must_use]
pub fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let rest = key.get(open + 1..)?;
    let close = rest.iter().position(|&b| b == b'}')?;
    rest.get(..close).filter(|tag| !tag.is_empty())
}

/// CRC16/XMODEM, a byte at a time through a table worked out when compiling.
#[must_use]
pub fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &byte| {
        let idx = usize::from((crc >> 8) as u8 ^ byte);
        (crc << 8) ^ CRC16_TABLE.get(idx).copied().unwrap_or(0)
    })
}

/// The CRC16/XMODEM of every byte value.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = (byte as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        // Indexing in a constant is checked when compiling: it cannot panic at run time.
        #[allow(clippy::indexing_slicing)]
        {
            table[byte] = crc;
        }
        byte += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    /// The cluster specification's test vector: "123456789" gives 0x31C3.
    #[test]
    fn crc16_matches_the_specification() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(crc16(b""), 0);
    }

    /// The hash tag examples of the cluster specification.
    #[test]
    fn hash_tags_follow_the_specification() {
        // The two keys hash "user1000" alone.
        assert_eq!(hash_tag(b"{user1000}.following"), Some(&b"user1000"[..]));
        assert_eq!(hash_tag(b"{user1000}.followers"), Some(&b"user1000"[..]));
        // The first { and the first } after it: "user1000", not "user1000}".
        assert_eq!(hash_tag(b"foo{user1000}}.bar"), Some(&b"user1000"[..]));
        // "foo{}{bar}": the first {} is empty, so the whole key is hashed.
        assert_eq!(hash_tag(b"foo{}{bar}"), None);
        // "foo{{bar}}zap": the tag is "{bar".
        assert_eq!(hash_tag(b"foo{{bar}}zap"), Some(&b"{bar"[..]));
        // "foo{bar}{zap}": the tag is "bar".
        assert_eq!(hash_tag(b"foo{bar}{zap}"), Some(&b"bar"[..]));
        // No closing brace, or none at all: the whole key.
        assert_eq!(hash_tag(b"foo{bar"), None);
        assert_eq!(hash_tag(b"foobar"), None);
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % SLOT_COUNT);
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
    }

    /// Slots a server computes (`CLUSTER KEYSLOT`) for a few keys.
    #[test]
    fn known_slots() {
        for (key, slot) in [
            (&b"foo"[..], 12182),
            (b"bar", 5061),
            (b"hello", 866),
            (b"somekey", 11058),
            (b"{user1000}.following", 3443),
            (b"", 0),
        ] {
            assert_eq!(key_slot(key), slot, "{:?}", String::from_utf8_lossy(key));
        }
        assert!((0..10_000).all(|i: u32| key_slot(i.to_string().as_bytes()) < SLOT_COUNT));
    }
}
