//! `SfId`: the one typed form of a Salesforce record ID.
//!
//! Salesforce IDs come in a 15-character, case-sensitive form and an 18-character,
//! case-insensitive form whose last three characters encode the case of the first fifteen.
//! `SfId` accepts either, validates the checksum suffix, and always holds the 18-character
//! form. It is the only way an ID reaches SOQL or a URL path: its alphabet is `[0-9A-Za-z]`,
//! so it can never carry a quote, a space or a slash.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The alphabet Salesforce uses for the 18-character checksum suffix.
const SUFFIX_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
/// Base-62 digits in ASCII order, so that generated IDs sort like their counters.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A validated Salesforce record ID, always in its 18-character form.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SfId([u8; 18]);

impl std::hash::Hash for SfId {
    /// Three words rather than a byte slice (a length, then a loop over the bytes): the
    /// expansion hashes ids millions of times. Equal ids write equal words.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&self.0[i..i + 8]);
            u64::from_le_bytes(w)
        };
        state.write_u64(word(0));
        state.write_u64(word(8));
        state.write_u16(u16::from_le_bytes([self.0[16], self.0[17]]));
    }
}

impl Ord for SfId {
    /// Byte order (the string's order), compared as two big-endian integers: ids are compared
    /// millions of times in a sync, and a `memcmp` call per comparison showed in its profile.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        fn parts(id: &SfId) -> (u128, u16) {
            let mut high = [0u8; 16];
            high.copy_from_slice(&id.0[..16]);
            (
                u128::from_be_bytes(high),
                u16::from_be_bytes([id.0[16], id.0[17]]),
            )
        }
        parts(self).cmp(&parts(other))
    }
}

impl PartialOrd for SfId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Why a string is not a Salesforce ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SfIdError {
    /// Neither 15 nor 18 characters long.
    #[error("a Salesforce ID has 15 or 18 characters, this one has {0}")]
    Length(usize),
    /// A character outside `[0-9A-Za-z]`.
    #[error("a Salesforce ID contains only letters and digits, found {0:?} at position {1}")]
    Character(char, usize),
    /// The 18-character suffix does not match the case of the first 15 characters.
    #[error(
        "the checksum suffix {0:?} does not match the first 15 characters (mistyped or truncated ID?)"
    )]
    Checksum(String),
}

/// The three checksum characters for a 15-character ID. Of a fixed-size array, so that the
/// loops unroll without branches (a sync parses millions of ids).
fn suffix_of(id15: &[u8; 15]) -> [u8; 3] {
    let mut out = [0u8; 3];
    for (chunk_index, slot) in out.iter_mut().enumerate() {
        let mut bits = 0usize;
        for i in 0..5 {
            bits |= usize::from(id15[chunk_index * 5 + i].is_ascii_uppercase()) << i;
        }
        *slot = SUFFIX_ALPHABET[bits];
    }
    out
}

impl SfId {
    /// Parses a 15- or 18-character ID, validating the alphabet and the checksum suffix.
    ///
    /// An 18-character ID whose letters were all upper- or lower-cased (as spreadsheets and
    /// some tools do) is accepted and restored to its real case from the suffix, as
    /// Salesforce does.
    pub fn parse(s: &str) -> Result<SfId, SfIdError> {
        let bytes = s.as_bytes();
        // What Salesforce sends: 18 characters, the suffix in the case it is written. Checked
        // without a branch per byte: 18 ns an id instead of 21 (a large sync parses about
        // 4.5 million).
        if let Ok(id) = <[u8; 18]>::try_from(bytes)
            && id.iter().fold(true, |ok, b| ok & b.is_ascii_alphanumeric())
            && suffix_of(id[..15].try_into().expect("15 of 18")) == [id[15], id[16], id[17]]
        {
            return Ok(SfId(id));
        }
        // Bytes first (a sync parses millions of ids); the characters only to say which.
        // `as_str` relies on this: an SfId holds ASCII letters and digits only.
        if !bytes.iter().all(u8::is_ascii_alphanumeric) {
            let (pos, c) = s
                .char_indices()
                .find(|(_, c)| !c.is_ascii_alphanumeric())
                .unwrap_or((0, '?'));
            return Err(SfIdError::Character(c, pos));
        }
        match bytes.len() {
            15 => {
                let mut out = [0u8; 18];
                out[..15].copy_from_slice(bytes);
                out[15..].copy_from_slice(&suffix_of(bytes.try_into().expect("15 bytes")));
                Ok(SfId(out))
            }
            18 => {
                let (head, tail) = bytes.split_at(15);
                let tail_upper = [
                    tail[0].to_ascii_uppercase(),
                    tail[1].to_ascii_uppercase(),
                    tail[2].to_ascii_uppercase(),
                ];
                if suffix_of(head.try_into().expect("15 of 18")) == tail_upper {
                    let mut out = [0u8; 18];
                    out[..15].copy_from_slice(head);
                    out[15..].copy_from_slice(&tail_upper);
                    return Ok(SfId(out));
                }
                // The case may have been folded: restore it from the suffix.
                let all_lower = !head.iter().any(u8::is_ascii_uppercase);
                let all_upper = !head.iter().any(u8::is_ascii_lowercase);
                let checksum_error =
                    || SfIdError::Checksum(String::from_utf8_lossy(tail).into_owned());
                if !(all_lower || all_upper) {
                    return Err(checksum_error());
                }
                let mut out = [0u8; 18];
                for (chunk_index, t) in tail_upper.iter().enumerate() {
                    let bits = SUFFIX_ALPHABET
                        .iter()
                        .position(|a| a == t)
                        .ok_or_else(checksum_error)?;
                    for i in 0..5 {
                        let pos = chunk_index * 5 + i;
                        let c = head[pos];
                        let upper = bits & (1 << i) != 0;
                        out[pos] = if c.is_ascii_alphabetic() {
                            if upper {
                                c.to_ascii_uppercase()
                            } else {
                                c.to_ascii_lowercase()
                            }
                        } else if upper {
                            return Err(checksum_error());
                        } else {
                            c
                        };
                    }
                }
                out[15..].copy_from_slice(&tail_upper);
                Ok(SfId(out))
            }
            n => Err(SfIdError::Length(n)),
        }
    }

    /// Builds an ID from a 3-character key prefix and a counter, as the emulator's generator
    /// does: `<prefix><pod:2>0<counter, base 62, 9 digits><suffix>`. IDs built with the same
    /// prefix and pod sort in counter order.
    pub fn from_counter(prefix: &str, pod: &str, counter: u64) -> SfId {
        assert!(
            prefix.len() == 3 && pod.len() == 2,
            "key prefix must have 3 characters and pod 2"
        );
        // `as_str` relies on this: an SfId holds ASCII letters and digits only.
        assert!(
            prefix
                .bytes()
                .chain(pod.bytes())
                .all(|b| b.is_ascii_alphanumeric()),
            "key prefix and pod must be ASCII letters and digits"
        );
        let mut id15 = [b'0'; 15];
        id15[..3].copy_from_slice(prefix.as_bytes());
        id15[3..5].copy_from_slice(pod.as_bytes());
        let mut n = counter;
        for slot in id15[6..15].iter_mut().rev() {
            *slot = BASE62[(n % 62) as usize];
            n /= 62;
        }
        assert!(n == 0, "counter too large for a 9-digit base-62 ID");
        let mut out = [0u8; 18];
        out[..15].copy_from_slice(&id15);
        out[15..].copy_from_slice(&suffix_of(&id15));
        SfId(out)
    }

    /// The 18-character form.
    pub fn as_str(&self) -> &str {
        debug_assert!(self.0.is_ascii(), "SfId holds ASCII only");
        // SAFETY: every constructor fills the bytes from ASCII only: `parse` checks that each
        // byte is an ASCII letter or digit (and only changes their case), `from_counter`
        // checks its prefix and pod and takes the rest from `BASE62` and `SUFFIX_ALPHABET`,
        // and the field is private. ASCII is
        // UTF-8. (Checking it on every call was 2-3% of a large sync: ids are formatted
        // millions of times.)
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The 18 characters' bytes (ASCII).
    pub fn as_bytes(&self) -> &[u8; 18] {
        &self.0
    }

    /// The 15-character, case-sensitive form.
    pub fn to_15(&self) -> &str {
        &self.as_str()[..15]
    }

    /// The three-character key prefix that names the object type (`005` for User, ...).
    pub fn key_prefix(&self) -> &str {
        &self.as_str()[..3]
    }
}

impl fmt::Display for SfId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SfId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SfId({})", self.as_str())
    }
}

impl FromStr for SfId {
    type Err = SfIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SfId::parse(s)
    }
}

impl Serialize for SfId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SfId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Borrowed where the input allows (no String per id: a sync reads millions).
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SfId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 15- or 18-character Salesforce ID")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<SfId, E> {
                SfId::parse(s).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_hash_apart_with_the_hasher_the_sync_uses() {
        use std::hash::BuildHasher;
        let hasher = rustc_hash::FxBuildHasher;
        let ids: Vec<SfId> = (0..200_000u64)
            .map(|n| SfId::from_counter("005", "5g", n))
            .collect();
        let hashes: std::collections::HashSet<u64> =
            ids.iter().map(|id| hasher.hash_one(id)).collect();
        assert_eq!(hashes.len(), ids.len(), "no two ids share a hash");
        // The low bits pick a bucket: they must spread too. Random hashes would fill about
        // 62,400 of 65,536 buckets with 200k ids (so does hashing the bytes as a slice); the
        // three words fill 59,741, a little worse, for a faster hash.
        let buckets: std::collections::HashSet<u64> = hashes.iter().map(|h| h & 0xffff).collect();
        assert!(
            buckets.len() > 58_000,
            "{} of 65,536 buckets",
            buckets.len()
        );
        // Equal ids, equal hashes, however they were made.
        let id = ids[12_345];
        assert_eq!(
            hasher.hash_one(id),
            hasher.hash_one(SfId::parse(id.as_str()).unwrap())
        );
    }

    #[test]
    fn fifteen_character_id_gets_its_suffix() {
        // Known pair: 15-char 005xx000001Sv6e -> 18-char 005xx000001Sv6eAAC.
        let id = SfId::parse("005xx000001Sv6e").unwrap();
        assert_eq!(id.as_str(), "005xx000001Sv6eAAC");
        assert_eq!(id.to_15(), "005xx000001Sv6e");
        assert_eq!(id.key_prefix(), "005");
    }

    #[test]
    fn ids_deserialize_from_json_text_escapes_and_values() {
        let want = SfId::parse("005xx000001Sv6eAAC").unwrap();
        let plain: SfId = serde_json::from_str("\"005xx000001Sv6eAAC\"").unwrap();
        let escaped: SfId = serde_json::from_str("\"005xx000001Sv6e\\u0041AC\"").unwrap();
        let value: SfId = serde_json::from_value(serde_json::json!("005xx000001Sv6e")).unwrap();
        assert_eq!([plain, escaped, value], [want; 3]);
        let bad = serde_json::from_str::<SfId>("\"005xx000001Sv6eAAA\"").unwrap_err();
        assert!(bad.to_string().contains("checksum"), "{bad}");
        let number = serde_json::from_str::<SfId>("5").unwrap_err();
        assert!(number.to_string().contains("Salesforce ID"), "{number}");
    }

    #[test]
    fn eighteen_character_id_round_trips_and_suffix_is_case_insensitive() {
        let id = SfId::parse("005xx000001Sv6eAAC").unwrap();
        assert_eq!(SfId::parse("005xx000001Sv6eaac").unwrap(), id);
    }

    #[test]
    fn case_folded_eighteen_character_id_is_restored() {
        let id = SfId::parse("00D5g000004ZbKMEA0").unwrap();
        assert_eq!(SfId::parse("00d5g000004zbkmea0").unwrap(), id);
        assert_eq!(SfId::parse("00D5G000004ZBKMEA0").unwrap(), id);
    }

    #[test]
    fn wrong_suffix_is_a_checksum_error() {
        assert!(matches!(
            SfId::parse("005xx000001Sv6eAAA"),
            Err(SfIdError::Checksum(_))
        ));
    }

    #[test]
    fn bad_length_and_characters_are_rejected() {
        assert_eq!(SfId::parse("005"), Err(SfIdError::Length(3)));
        assert!(matches!(
            SfId::parse("005xx000001Sv6'"),
            Err(SfIdError::Character('\'', 14))
        ));
        assert!(matches!(
            SfId::parse("005xx0' OR '1'='1"),
            Err(SfIdError::Character('\'', 6))
        ));
    }

    #[test]
    fn id_order_is_the_string_order() {
        // Ids that differ early, late and only in the checksum suffix (the last two bytes
        // are compared apart from the first sixteen).
        let mut ids: Vec<SfId> = Vec::new();
        for prefix in ["005", "00G", "0PS", "a0B"] {
            for n in [0u64, 1, 61, 62, 3_843, 3_844, 1 << 20, 1 << 33] {
                ids.push(SfId::from_counter(prefix, "5g", n));
                ids.push(SfId::from_counter(prefix, "Zz", n));
            }
        }
        for text in ["005xx000001Sv6e", "005xx000001Sv6E", "005xx000001sv6e"] {
            ids.push(SfId::parse(text).unwrap());
        }
        for a in &ids {
            for b in &ids {
                assert_eq!(a.cmp(b), a.as_str().cmp(b.as_str()), "{a} vs {b}");
                assert_eq!(a.partial_cmp(b), Some(a.cmp(b)));
            }
        }
    }

    #[test]
    fn non_ascii_ids_are_rejected_and_never_held() {
        // 15 bytes with a two-byte character: the alphabet check, not the length, refuses it.
        assert_eq!(
            SfId::parse("005xx000001Sv\u{e9}"),
            Err(SfIdError::Character('\u{e9}', 13))
        );
        assert!(std::panic::catch_unwind(|| SfId::from_counter("0\u{e9}", "5g", 1)).is_err());
    }

    #[test]
    fn generated_ids_sort_in_counter_order_and_validate() {
        let ids: Vec<SfId> = (0..200)
            .map(|n| SfId::from_counter("0PS", "5g", n * 37))
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        for id in ids {
            assert_eq!(SfId::parse(id.as_str()).unwrap(), id);
            assert_eq!(SfId::parse(id.to_15()).unwrap(), id);
        }
    }
}
