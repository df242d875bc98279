//! How a run's grants are laid out: blocks of consecutive grants, and one list per principal.
//!
//! A large org has millions of grants (5.35M for the `large` preset), most of them expanded
//! group memberships. One SQLite row per grant cost about 40 s of CPU and 1.6 GB a run, in
//! the B-tree of the grants and in a second one for the grants of each principal. So grants
//! are stored in blocks instead:
//!
//! - **`grant_blocks`**: up to [`BLOCK_GRANTS`] grants consecutive in id order, keyed by the
//!   block's last grant id. Within a block each grant id is stored as the length of the prefix
//!   it shares with the one before and the rest (grants of one entitlement share everything
//!   up to the principal's id), and each grant's document tail (`read::full_doc`: what follows
//!   the id fields) as an index into the block's table of distinct tails (members of one
//!   group mostly come through the same groups). The block is then zstd-compressed.
//! - **`grant_entitlements`**: one row per run, the ids of the entitlements its grants name,
//!   sorted (prefix-coded and compressed): their numbers are their places in it.
//! - **`principal_grants`**: for each principal, the numbers of the entitlements it holds,
//!   ascending (`encode_list`). Its grants are `ENTITLEMENT:PRINCIPAL`, each found in one
//!   block. Schema 3 kept the entitlement ids themselves there (`decode_v3_list`); the runs
//!   of a store migrated from it have no `grant_entitlements` row.
//!
//! A page of grants in id order reads the blocks after the page's start; one grant is one
//! block lookup (`last_id >= id`); a principal's grants are its list, then one lookup each.

use rustc_hash::FxHashMap;

/// Grants per block: a lookup decodes one block, a scan reads a block per row.
pub(crate) const BLOCK_GRANTS: usize = 512;

/// zstd level of the blocks: the fastest; the prefix coding already removes most repetition.
const LEVEL: i32 = 1;

/// Appends `value` as an unsigned LEB128 varint.
fn put_varint(out: &mut Vec<u8>, mut value: usize) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a varint at `*pos`, advancing it; `None` when the input ends or overflows.
fn get_varint(data: &[u8], pos: &mut usize) -> Option<usize> {
    let mut value = 0usize;
    let mut shift = 0u32;
    loop {
        let byte = *data.get(*pos)?;
        *pos += 1;
        if shift >= usize::BITS {
            return None;
        }
        value |= ((byte & 0x7f) as usize) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
        shift += 7;
    }
}

fn get_bytes<'a>(data: &'a [u8], pos: &mut usize, len: usize) -> Option<&'a [u8]> {
    let end = pos.checked_add(len)?;
    let bytes = data.get(*pos..end)?;
    *pos = end;
    Some(bytes)
}

fn shared_prefix(a: &[u8], b: &[u8]) -> usize {
    // Eight bytes at a time: grant ids share 40 or more.
    let mut n = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let (x, y) = (
            u64::from_le_bytes(x.try_into().expect("a chunk of 8")),
            u64::from_le_bytes(y.try_into().expect("a chunk of 8")),
        );
        if x != y {
            return n + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + a[n..]
        .iter()
        .zip(&b[n..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// Prefix-codes `text` after `previous` (which then becomes `text`).
fn put_prefixed(out: &mut Vec<u8>, previous: &mut Vec<u8>, text: &str) {
    let shared = shared_prefix(previous, text.as_bytes());
    put_varint(out, shared);
    put_varint(out, text.len() - shared);
    out.extend_from_slice(&text.as_bytes()[shared..]);
    previous.truncate(shared);
    previous.extend_from_slice(&text.as_bytes()[shared..]);
}

/// Reads one prefix-coded string into `current` (which holds the previous one).
fn get_prefixed(data: &[u8], pos: &mut usize, current: &mut Vec<u8>) -> Option<()> {
    let shared = get_varint(data, pos)?;
    let len = get_varint(data, pos)?;
    if shared > current.len() {
        return None;
    }
    current.truncate(shared);
    current.extend_from_slice(get_bytes(data, pos, len)?);
    // Ids are short; a longer one is damage (or crafted input that would make each entry
    // copy a huge id).
    (current.len() <= MAX_ID_LEN).then_some(())
}

/// The longest id a block or list may hold (real ones are under 80 bytes).
const MAX_ID_LEN: usize = 1024;

/// The largest decompressed block or list (a block of 512 grants is about 5 KB).
const MAX_RAW_LEN: usize = 4 * 1024 * 1024;

/// A zstd context with a checksum in every frame, so that a flipped byte is damage, not a
/// different grant.
fn new_compressor(level: i32) -> std::io::Result<zstd::bulk::Compressor<'static>> {
    let mut compressor = zstd::bulk::Compressor::new(level)?;
    compressor.include_checksum(true)?;
    Ok(compressor)
}

/// A block being filled: grants in id order, encoded as they come.
#[derive(Default)]
pub(crate) struct BlockBuilder {
    raw: Vec<u8>,
    previous: Vec<u8>,
    first: String,
    count: usize,
    /// The tails that may come again, by text (`TailKind::Lookup`).
    tails: FxHashMap<Vec<u8>, usize>,
    /// How many tails the block has (those in `tails` and the unique ones).
    tail_count: usize,
    /// The tail index of the last grant added.
    last_tail: usize,
    /// Reused: creating a zstd context per block cost 6% of a large sync.
    compressor: Option<zstd::bulk::Compressor<'static>>,
}

impl std::fmt::Debug for BlockBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockBuilder")
            .field("first", &self.first)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

/// A finished block, ready for `grant_blocks`.
#[derive(Debug)]
pub(crate) struct Block {
    pub first_id: String,
    pub last_id: String,
    pub count: usize,
    pub data: Vec<u8>,
}

/// What the caller of `BlockBuilder::push` knows of a grant's tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TailKind {
    /// The same as the last grant's: not looked up.
    Same,
    /// No other grant of the block has it (it names the grant's own record): written out
    /// without a lookup. About a million grants of the large org are such, and hashing and
    /// keeping each tail was 3% of the writer. A tail given as unique that does repeat is
    /// only written twice.
    Unique,
    /// Looked up among the block's tails, written out when new.
    Lookup,
}

impl BlockBuilder {
    /// Adds a grant; `id` must follow the last one added. Returns the block when it is full.
    pub fn push(&mut self, id: &str, tail: &str, kind: TailKind) -> std::io::Result<Option<Block>> {
        if self.count == 0 {
            self.first.clear();
            self.first.push_str(id);
        }
        put_prefixed(&mut self.raw, &mut self.previous, id);
        let index = match kind {
            TailKind::Same if self.count > 0 => Some(self.last_tail),
            TailKind::Unique => None,
            TailKind::Same | TailKind::Lookup => {
                let index = self.tails.get(tail.as_bytes()).copied();
                if index.is_none() {
                    self.tails.insert(tail.as_bytes().to_vec(), self.tail_count);
                }
                index
            }
        };
        match index {
            Some(index) => {
                put_varint(&mut self.raw, index);
                self.last_tail = index;
            }
            None => {
                // A new tail: its index is the next one, and it follows.
                let next = self.tail_count;
                put_varint(&mut self.raw, next);
                put_varint(&mut self.raw, tail.len());
                self.raw.extend_from_slice(tail.as_bytes());
                self.tail_count += 1;
                self.last_tail = next;
            }
        }
        self.count += 1;
        if self.count >= BLOCK_GRANTS {
            return self.finish();
        }
        Ok(None)
    }

    /// The block of the grants added since the last one, if any.
    pub fn finish(&mut self) -> std::io::Result<Option<Block>> {
        if self.count == 0 {
            return Ok(None);
        }
        let compressor = match &mut self.compressor {
            Some(c) => c,
            None => self.compressor.insert(new_compressor(LEVEL)?),
        };
        let data = compress(compressor, &self.raw)?;
        let block = Block {
            first_id: std::mem::take(&mut self.first),
            last_id: String::from_utf8(self.previous.clone())
                .expect("ids added are strings, and a prefix cut at a shared byte"),
            count: self.count,
            data,
        };
        self.raw.clear();
        self.previous.clear();
        self.tails.clear();
        self.tail_count = 0;
        self.count = 0;
        Ok(Some(block))
    }
}

/// The grants of a stored block, decoded: `(id, tail)` pairs in id order.
#[derive(Debug, Default)]
pub(crate) struct DecodedBlock {
    /// The ids, one after the other (`entries` has their ends).
    ids: String,
    /// Per grant: where its id ends in `ids`, and its tail's index in `tails`.
    entries: Vec<(usize, usize)>,
    tails: Vec<String>,
}

impl DecodedBlock {
    /// Decodes a block's `data`; `None` when it is damaged.
    pub fn decode(data: &[u8]) -> Option<DecodedBlock> {
        let raw = decompress(data)?;
        let mut pos = 0;
        let mut current = Vec::new();
        let mut ids = Vec::with_capacity(raw.len() * 2);
        let mut block = DecodedBlock::default();
        while pos < raw.len() {
            let previous_len = ids.len();
            get_prefixed(&raw, &mut pos, &mut current)?;
            // Ids ascend strictly, and a block holds at most BLOCK_GRANTS of them.
            let last_start = match block.entries.len() {
                0 | 1 => 0,
                n => block.entries[n - 2].0,
            };
            let previous = &ids[last_start..previous_len];
            if (!block.entries.is_empty() && current.as_slice() <= previous)
                || block.entries.len() >= BLOCK_GRANTS
            {
                return None;
            }
            ids.extend_from_slice(&current);
            let index = get_varint(&raw, &mut pos)?;
            if index == block.tails.len() {
                let len = get_varint(&raw, &mut pos)?;
                let tail = std::str::from_utf8(get_bytes(&raw, &mut pos, len)?).ok()?;
                block.tails.push(tail.to_owned());
            } else if index > block.tails.len() {
                return None;
            }
            block.entries.push((ids.len(), index));
        }
        block.ids = String::from_utf8(ids).ok()?;
        // Each id must end on a character boundary (whole ids are valid UTF-8 one by one).
        if !block
            .entries
            .iter()
            .all(|&(end, _)| block.ids.is_char_boundary(end))
        {
            return None;
        }
        Some(block)
    }

    /// The grants, in id order: `(id, tail)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let starts = std::iter::once(0).chain(self.entries.iter().map(|&(end, _)| end));
        starts
            .zip(&self.entries)
            .map(|(start, &(end, tail))| (&self.ids[start..end], self.tails[tail].as_str()))
    }

    /// The tail of grant `id`, if the block has it.
    pub fn find(&self, id: &str) -> Option<&str> {
        self.iter().find(|(i, _)| *i == id).map(|(_, tail)| tail)
    }
}

/// `raw` compressed, behind its length.
fn compress(compressor: &mut zstd::bulk::Compressor<'_>, raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::with_capacity(raw.len() / 3 + 16);
    put_varint(&mut data, raw.len());
    data.extend_from_slice(&compressor.compress(raw)?);
    Ok(data)
}

/// What `compress` compressed; `None` when `data` is damaged.
fn decompress(data: &[u8]) -> Option<Vec<u8>> {
    let mut pos = 0;
    let raw_len = get_varint(data, &mut pos)?;
    // A damaged length must not make us allocate wildly: blocks and lists are small.
    if raw_len > MAX_RAW_LEN {
        return None;
    }
    let raw = zstd::bulk::decompress(&data[pos..], raw_len).ok()?;
    (raw.len() == raw_len).then_some(raw)
}

/// What `compress` compressed, read as a stream: the output grows as the frame yields it,
/// whatever its length says, and must come to that length exactly.
fn decompress_streaming(data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut pos = 0;
    let raw_len = get_varint(data, &mut pos)?;
    let mut raw = Vec::new();
    zstd::stream::read::Decoder::new(&data[pos..])
        .ok()?
        .single_frame()
        .take(u64::try_from(raw_len).ok()?.saturating_add(1))
        .read_to_end(&mut raw)
        .ok()?;
    (raw.len() == raw_len).then_some(raw)
}

/// The `grant_entitlements` data of a run: the ids of the entitlements its grants name, in
/// id order (prefix-coded and compressed, as a block's ids are). A principal's list
/// (`encode_list`) numbers them by their place in it.
pub(crate) fn encode_entitlement_table<'a>(
    ids: impl IntoIterator<Item = &'a str>,
) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut previous = Vec::new();
    for id in ids {
        put_prefixed(&mut raw, &mut previous, id);
    }
    compress(&mut new_compressor(LEVEL)?, &raw)
}

/// A run's `grant_entitlements`, decoded: entitlement ids by number, in one buffer.
#[derive(Debug, Default)]
pub(crate) struct EntitlementTable {
    text: String,
    /// Where each id ends in `text` (it starts where the one before ends).
    ends: Vec<usize>,
}

impl EntitlementTable {
    /// Decodes the table of `count` ids; `None` when it is damaged.
    pub fn decode(data: &[u8], count: usize) -> Option<EntitlementTable> {
        // A table is one blob, as big as the org's entitlements, so no fixed cap fits every
        // org: it is decompressed as a stream, so that memory grows with what the frame
        // really holds, never with a damaged or crafted length or count.
        let raw = decompress_streaming(data)?;
        let mut table = EntitlementTable {
            text: String::with_capacity(raw.len()),
            // Each id takes two bytes at least.
            ends: Vec::with_capacity(count.min(raw.len() / 2)),
        };
        let mut pos = 0;
        let mut current = Vec::new();
        while pos < raw.len() {
            get_prefixed(&raw, &mut pos, &mut current)?;
            let id = std::str::from_utf8(&current).ok()?;
            // Strictly ascending, as the writer numbered them.
            if table.len() > 0 && table.get(table.len() - 1)? >= id {
                return None;
            }
            table.text.push_str(id);
            table.ends.push(table.text.len());
        }
        (table.len() == count).then_some(table)
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Entitlement id number `i`.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.text[start..end])
    }
}

/// Writes a principal's `principal_grants` data into `out`: the numbers of the entitlements it
/// holds (ascending, places in the run's `grant_entitlements`), each as a varint of its
/// difference from the one before, then a CRC-32 of those bytes (little-endian).
///
/// Why numbers, not the ids (schema 3 kept each list's ids prefix-coded and zstd-compressed):
/// the large org's 83k lists were 85 MB of prefix-coded ids before compression, and coding
/// and compressing them was about 0.4 s of a full sync's CPU; as numbers they are about 9 MB
/// and need no compression.
pub(crate) fn encode_list(numbers: impl IntoIterator<Item = u32>, out: &mut Vec<u8>) {
    out.clear();
    let mut previous = 0;
    for (i, n) in numbers.into_iter().enumerate() {
        put_varint(out, (if i == 0 { n } else { n - previous }) as usize);
        previous = n;
    }
    let crc = crc32fast::hash(out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Decodes a principal's list of `count` entitlement numbers, each below `entitlements`;
/// `None` when it is damaged.
pub(crate) fn decode_list(data: &[u8], count: usize, entitlements: usize) -> Option<Vec<u32>> {
    let (body, crc) = data.split_at_checked(data.len().checked_sub(4)?)?;
    if crc32fast::hash(body).to_le_bytes() != crc {
        return None;
    }
    let mut numbers = Vec::with_capacity(count.min(body.len()));
    let mut pos = 0;
    let mut previous = 0usize;
    while pos < body.len() {
        let value = get_varint(body, &mut pos)?;
        let n = if numbers.is_empty() {
            value
        } else if value == 0 {
            // Each entitlement once, ascending.
            return None;
        } else {
            previous.checked_add(value)?
        };
        if n >= entitlements {
            return None;
        }
        numbers.push(n as u32);
        previous = n;
    }
    (numbers.len() == count).then_some(numbers)
}

/// Decodes a principal's list as schema 3 wrote it (the entitlement ids, prefix-coded and
/// compressed): the runs of a store migrated from schema 3 still have them. `None` when it
/// is damaged.
pub(crate) fn decode_v3_list(data: &[u8]) -> Option<Vec<String>> {
    let data = &decompress(data)?[..];
    let mut pos = 0;
    let mut current = Vec::new();
    let mut out = Vec::new();
    while pos < data.len() {
        get_prefixed(data, &mut pos, &mut current)?;
        out.push(String::from_utf8(current.clone()).ok()?);
    }
    Some(out)
}

/// Splits a grant id `type:SfId:slug:principal_type:SfId` into its entitlement and principal.
pub(crate) fn split_grant_id(id: &str) -> Option<(&str, &str)> {
    let mut colons = id.match_indices(':').map(|(i, _)| i);
    let split = colons.nth(2)?;
    Some((&id[..split], &id[split + 1..]))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn build(entries: &[(&str, &str)]) -> Vec<Block> {
        let mut builder = BlockBuilder::default();
        let mut blocks = Vec::new();
        for (id, tail) in entries {
            blocks.extend(builder.push(id, tail, TailKind::Lookup).unwrap());
        }
        blocks.extend(builder.finish().unwrap());
        blocks
    }

    #[test]
    fn blocks_round_trip_ids_and_tails_in_order() {
        let n = 2 * BLOCK_GRANTS + 44;
        let ids: Vec<String> = (0..n)
            .map(|i| format!("group:00G{:015}:member:user:005{:015}", i / 7, i))
            .collect();
        let tails = [
            r#""direct":true}"#,
            r#""direct":false,"sources":[{"entitlement_id":"group:x:member","kind":"group"}]}"#,
            "",
            "ünïcode \"quoted\"",
        ];
        let entries: Vec<(&str, &str)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), tails[i % 3 + (i % 11 == 0) as usize]))
            .collect();
        let blocks = build(&entries);
        assert_eq!(blocks.len(), 3, "{n} grants in blocks of {BLOCK_GRANTS}");
        assert_eq!(blocks[0].count, BLOCK_GRANTS);
        assert_eq!(blocks[2].count, 44);
        let mut decoded = Vec::new();
        for block in &blocks {
            let d = DecodedBlock::decode(&block.data).expect("decodes");
            let got: Vec<(String, String)> = d
                .iter()
                .map(|(i, t)| (i.to_owned(), t.to_owned()))
                .collect();
            assert_eq!(got.first().unwrap().0, block.first_id);
            assert_eq!(got.last().unwrap().0, block.last_id);
            assert_eq!(got.len(), block.count);
            for (id, tail) in &got {
                assert_eq!(d.find(id), Some(tail.as_str()));
            }
            assert_eq!(d.find("group:zzz"), None);
            decoded.extend(got);
        }
        let expected: Vec<(String, String)> = entries
            .iter()
            .map(|(i, t)| (i.to_string(), t.to_string()))
            .collect();
        assert_eq!(decoded, expected);
    }

    /// Tails given as unique, as the last one's, or to look up all read back as given, even
    /// when a "unique" tail repeats or follows a looked-up one with the same text.
    #[test]
    fn every_tail_kind_reads_back_as_given() {
        let kinds = [TailKind::Lookup, TailKind::Unique, TailKind::Same];
        let tails = ["a", "b", "record 1", "record 2", ""];
        let mut rng = fastrand::Rng::with_seed(3);
        let mut builder = BlockBuilder::default();
        let mut blocks = Vec::new();
        let mut expected = Vec::new();
        let mut previous_tail = "";
        for i in 0..(BLOCK_GRANTS * 2 + 17) {
            let id = format!("e:{i:06}");
            let kind = kinds[rng.usize(..kinds.len())];
            // `Same` is a promise the caller keeps: the tail is the previous one.
            let tail = match kind {
                TailKind::Same => previous_tail,
                _ => tails[rng.usize(..tails.len())],
            };
            blocks.extend(builder.push(&id, tail, kind).unwrap());
            expected.push((id, tail.to_owned()));
            previous_tail = tail;
        }
        blocks.extend(builder.finish().unwrap());
        let decoded: Vec<(String, String)> = blocks
            .iter()
            .flat_map(|b| {
                let d = DecodedBlock::decode(&b.data).expect("decodes");
                d.iter()
                    .map(|(i, t)| (i.to_owned(), t.to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(decoded, expected);
    }

    #[test]
    fn damaged_blocks_are_refused_not_misread() {
        let blocks = build(&[("a:1", "x"), ("a:2", "y")]);
        let data = &blocks[0].data;
        assert!(DecodedBlock::decode(&data[..data.len() - 2]).is_none());
        assert!(DecodedBlock::decode(&[]).is_none());
        assert!(DecodedBlock::decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]).is_none());
        let mut wrong_len = Vec::new();
        put_varint(&mut wrong_len, 3);
        wrong_len.extend_from_slice(&data[1..]);
        assert!(DecodedBlock::decode(&wrong_len).is_none());
    }

    #[test]
    fn blocks_out_of_order_too_long_or_with_huge_ids_are_refused() {
        // The builder trusts its caller; the decoder does not.
        assert!(DecodedBlock::decode(&build(&[("a:2", "x"), ("a:1", "y")])[0].data).is_none());
        assert!(DecodedBlock::decode(&build(&[("a:1", "x"), ("a:1", "y")])[0].data).is_none());
        let huge = "a".repeat(MAX_ID_LEN + 1);
        assert!(DecodedBlock::decode(&build(&[(huge.as_str(), "x")])[0].data).is_none());
        let mut builder = BlockBuilder::default();
        let ids: Vec<String> = (0..=BLOCK_GRANTS).map(|i| format!("a:{i:04}")).collect();
        for id in &ids {
            // Bypass the builder's own block cut by finishing only at the end.
            put_prefixed(&mut builder.raw, &mut builder.previous, id);
            put_varint(&mut builder.raw, 0);
            if builder.count == 0 {
                put_varint(&mut builder.raw, 1);
                builder.raw.push(b'x');
                builder.tails.insert(b"x".to_vec(), 0);
                builder.tail_count = 1;
            }
            builder.count += 1;
        }
        let oversized = builder.finish().unwrap().unwrap();
        assert_eq!(oversized.count, BLOCK_GRANTS + 1);
        assert!(DecodedBlock::decode(&oversized.data).is_none());
        // A flipped byte in the compressed frame fails its checksum.
        let mut flipped = build(&[("a:1", "some tail text"), ("a:2", "other")])
            .remove(0)
            .data;
        let last = flipped.len() - 6;
        flipped[last] ^= 0x01;
        assert!(DecodedBlock::decode(&flipped).is_none());
    }

    /// Schema 3's encoding of a principal's list (the runs of a migrated store keep it).
    pub(crate) fn v3_list(ids: &[&str]) -> Vec<u8> {
        let mut raw = Vec::new();
        let mut previous = Vec::new();
        for id in ids {
            put_prefixed(&mut raw, &mut previous, id);
        }
        compress(&mut new_compressor(-1).unwrap(), &raw).unwrap()
    }

    const IDS: [&str; 4] = [
        "group:00G000000000001AAA:member",
        "group:00G000000000002AAA:member",
        "permission_set:0PS000000000001AAA:assigned",
        "role:00E000000000001AAA:assigned",
    ];

    #[test]
    fn entitlement_tables_round_trip_and_refuse_damage() {
        let data = encode_entitlement_table(IDS).unwrap();
        let table = EntitlementTable::decode(&data, IDS.len()).unwrap();
        assert_eq!(table.len(), 4);
        let got: Vec<&str> = (0..4).map(|i| table.get(i).unwrap()).collect();
        assert_eq!(got, IDS);
        assert_eq!(table.get(4), None);
        let empty = encode_entitlement_table([]).unwrap();
        assert_eq!(EntitlementTable::decode(&empty, 0).unwrap().len(), 0);
        // Another count than the row says, a cut or flipped frame, ids out of order.
        assert!(EntitlementTable::decode(&data, 3).is_none());
        assert!(EntitlementTable::decode(&data, 5).is_none());
        assert!(EntitlementTable::decode(&data[..data.len() - 1], 4).is_none());
        let mut flipped = data.clone();
        let last = flipped.len() - 6;
        flipped[last] ^= 0x01;
        assert!(EntitlementTable::decode(&flipped, 4).is_none());
        let unsorted = encode_entitlement_table([IDS[1], IDS[0]]).unwrap();
        assert!(EntitlementTable::decode(&unsorted, 2).is_none());
        // A crafted length or count is refused, not allocated (either would abort the
        // process): the frame holds less than the length says.
        let mut huge = Vec::new();
        put_varint(&mut huge, 1 << 45);
        let mut pos = 0;
        get_varint(&data, &mut pos).unwrap();
        huge.extend_from_slice(&data[pos..]);
        assert!(EntitlementTable::decode(&huge, 4).is_none());
        assert!(EntitlementTable::decode(&huge, 1 << 40).is_none());
        assert!(EntitlementTable::decode(&data, 1 << 40).is_none());
        assert!(EntitlementTable::decode(&data, usize::MAX).is_none());
    }

    #[test]
    fn principal_lists_round_trip_and_refuse_damage() {
        let mut data = Vec::new();
        let numbers = [0u32, 1, 127, 128, 300, 20_849, 1 << 20];
        encode_list(numbers, &mut data);
        assert_eq!(
            decode_list(&data, numbers.len(), (1 << 20) + 1).unwrap(),
            numbers
        );
        // Four bytes of CRC behind one byte per small gap.
        encode_list([5, 6, 7], &mut data);
        assert_eq!(data.len(), 3 + 4);
        assert_eq!(decode_list(&data, 3, 8).unwrap(), [5, 6, 7]);
        // A number beyond the table, another count, any flipped byte, a cut.
        assert!(decode_list(&data, 3, 7).is_none());
        assert!(decode_list(&data, 2, 8).is_none());
        for i in 0..data.len() {
            let mut flipped = data.clone();
            flipped[i] ^= 0x04;
            assert!(decode_list(&flipped, 3, 8).is_none(), "byte {i} flipped");
        }
        assert!(decode_list(&data[..data.len() - 1], 3, 8).is_none());
        assert!(decode_list(&[], 0, 8).is_none());
        // A repeated number (a zero gap) is damage, even under a good checksum.
        let mut repeated = vec![5, 0];
        repeated.extend_from_slice(&crc32fast::hash(&repeated).to_le_bytes());
        assert!(decode_list(&repeated, 2, 8).is_none());
    }

    #[test]
    fn schema_3_lists_still_decode() {
        let data = v3_list(&IDS);
        assert_eq!(decode_v3_list(&data).unwrap(), IDS);
        assert!(decode_v3_list(&data[..data.len() - 1]).is_none());
        assert!(decode_v3_list(&[]).is_none());
    }

    #[test]
    fn shared_prefix_counts_the_bytes_two_strings_begin_with() {
        let base = b"group:00G5g000000000001AAA:member:user:005000000000001AAA";
        for cut in 0..=base.len() {
            for change in [b'#', b'z'] {
                let mut other = base[..cut].to_vec();
                other.push(change);
                other.extend_from_slice(&base[cut..]);
                let naive = base.iter().zip(&other).take_while(|(x, y)| x == y).count();
                assert_eq!(shared_prefix(base, &other), naive, "cut at {cut}");
                assert_eq!(shared_prefix(&other, base), naive, "cut at {cut}");
            }
            assert_eq!(shared_prefix(&base[..cut], base), cut);
            assert_eq!(shared_prefix(base, &base[..cut]), cut);
        }
    }

    #[test]
    fn grant_ids_split_into_entitlement_and_principal() {
        assert_eq!(
            split_grant_id("role:00E000000000001AAA:assigned:user:005000000000001AAA"),
            Some((
                "role:00E000000000001AAA:assigned",
                "user:005000000000001AAA"
            ))
        );
        assert_eq!(split_grant_id("role:00E"), None);
    }
}
