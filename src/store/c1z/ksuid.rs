//! KSUIDs, the sync ids of a c1z: 20 bytes (4-byte big-endian seconds since 2014-05-13
//! 16:53:20 UTC, then 16 random bytes) written as 27 base-62 characters (`0-9A-Za-z`),
//! left-padded with `0`, so that they sort by time as strings.
//!
//! v1 readers do not check the format, but converting a file to baton's Pebble engine parses
//! sync ids and fails on anything else, and readers use the order as a tiebreak. The random
//! part only has to make ids unique, not secret, so `fastrand` (seeded from the OS) is enough.

use chrono::{DateTime, Utc};

/// Seconds from the Unix epoch to the KSUID epoch.
const EPOCH: i64 = 1_400_000_000;
/// Base-62 digits in ASCII order.
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Length of the string form.
const LEN: usize = 27;

/// A new KSUID for `time`, with a random payload.
pub fn new(time: DateTime<Utc>) -> String {
    let mut payload = [0u8; 16];
    for b in &mut payload {
        *b = fastrand::u8(..);
    }
    encode(time, payload)
}

/// The KSUID of `time` and `payload`. Times outside the 136 years a KSUID can hold are clamped
/// to its first or last second.
pub fn encode(time: DateTime<Utc>, payload: [u8; 16]) -> String {
    let seconds = (time.timestamp() - EPOCH).clamp(0, i64::from(u32::MAX));
    let seconds = u32::try_from(seconds).unwrap_or(u32::MAX);
    let mut bytes = [0u8; 20];
    bytes[..4].copy_from_slice(&seconds.to_be_bytes());
    bytes[4..].copy_from_slice(&payload);
    // Long division of the 160-bit big-endian number by 62, least significant digit first.
    let mut digits = [b'0'; LEN];
    let mut number = bytes;
    for slot in digits.iter_mut().rev() {
        let mut remainder = 0u32;
        for byte in &mut number {
            let acc = (remainder << 8) | u32::from(*byte);
            *byte = (acc / 62) as u8;
            remainder = acc % 62;
        }
        *slot = ALPHABET[remainder as usize];
    }
    String::from_utf8(digits.to_vec()).expect("the alphabet is ASCII")
}

/// The time of a KSUID string, or `None` when it is not one.
pub fn time_of(ksuid: &str) -> Option<DateTime<Utc>> {
    if ksuid.len() != LEN {
        return None;
    }
    let mut bytes = [0u8; 20];
    for c in ksuid.bytes() {
        let digit = ALPHABET.iter().position(|a| *a == c)? as u32;
        // bytes = bytes * 62 + digit, big-endian.
        let mut carry = digit;
        for byte in bytes.iter_mut().rev() {
            let acc = u32::from(*byte) * 62 + carry;
            *byte = (acc & 0xff) as u8;
            carry = acc >> 8;
        }
        if carry != 0 {
            return None;
        }
    }
    let seconds = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    DateTime::from_timestamp(EPOCH + i64::from(seconds), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector_from_the_ksuid_reference_encodes_exactly() {
        // segmentio/ksuid's documented example: timestamp 107608047, this payload.
        let payload = 0xb5a1cd34b5f99d1154fb6853345c9735u128.to_be_bytes();
        let time = DateTime::from_timestamp(EPOCH + 107_608_047, 0).unwrap();
        assert_eq!(encode(time, payload), "0ujtsYcgvSTl8PAuAdqWYSMnLOv");
        assert_eq!(time_of("0ujtsYcgvSTl8PAuAdqWYSMnLOv"), Some(time));
    }

    #[test]
    fn baton_salesforce_sample_sync_id_decodes_to_its_start_second() {
        let t = time_of("3MTSxymy1XcKjo2FuEa1JMyoPsh").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-22T18:48:34+00:00");
    }

    #[test]
    fn new_ids_are_27_characters_sort_by_time_and_differ() {
        let early = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let late = DateTime::from_timestamp(1_700_000_001, 0).unwrap();
        let (a, b, c) = (new(early), new(early), new(late));
        assert_eq!(a.len(), 27);
        assert_ne!(a, b);
        assert!(a < c && b < c);
        assert_eq!(time_of(&a), Some(early));
    }

    #[test]
    fn extreme_times_clamp_and_bad_strings_are_not_ksuids() {
        let before = DateTime::from_timestamp(0, 0).unwrap();
        assert_eq!(encode(before, [0; 16]), "000000000000000000000000000");
        assert_eq!(encode(before, [0xff; 16]).len(), 27);
        assert_eq!(
            encode(DateTime::<Utc>::MAX_UTC, [0xff; 16]),
            "aWgEPTl1tmebfsQzFP4bxwgy80V"
        );
        assert_eq!(time_of("short"), None);
        assert_eq!(time_of("zzzzzzzzzzzzzzzzzzzzzzzzzzz"), None);
        assert_eq!(time_of("0ujtsYcgvSTl8PAuAdqWYSMnLO!"), None);
    }
}
