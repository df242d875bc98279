//! An external sort of grants by principal: what the access-review grid (grants to users,
//! by user) reads, in one pass over the blocks instead of one pass per slice of users.
//!
//! Grants are stored in id order (`ENTITLEMENT:PRINCIPAL`), so by principal is another
//! order. The grants are read once, sorted in memory a bounded chunk at a time, each chunk
//! written to one temporary file as a sorted run (zstd-compressed in frames of about
//! [`FRAME_RAW`] bytes, so that reading a run back holds one frame of it), and the runs are
//! merged. Reading every block once per slice of users made a large org's grid take about
//! 20 passes and 45 s of CPU.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;

use super::blocks::split_grant_id;

/// Raw bytes of a run's frame: small, so that a merge of many runs holds little.
const FRAME_RAW: usize = 64 * 1024;

/// The largest frame a run may have: one grant beyond [`FRAME_RAW`] can make a frame bigger,
/// but not this much (a bound on what a damaged length may allocate).
const MAX_FRAME_RAW: usize = 64 * 1024 * 1024;

/// zstd level of the runs: read back once, so the fastest.
const LEVEL: i32 = 1;

/// Where the principal starts in a grant id (`ENTITLEMENT:PRINCIPAL`); the end when it has
/// none. Found once per grant: the sort compares principals millions of times.
fn principal_start(id: &str) -> usize {
    split_grant_id(id).map_or(id.len(), |(entitlement, _)| entitlement.len() + 1)
}

/// The order of the grid: by principal, then by id; each id with its `principal_start`.
fn by_principal(a: &str, a_start: usize, b: &str, b_start: usize) -> Ordering {
    a[a_start..].cmp(&b[b_start..]).then_with(|| a.cmp(b))
}

/// Grants (id and stored document tail) given in any order, handed back by principal then id.
pub(crate) struct Sorter {
    chunk: usize,
    /// The grants held: their ids and tails one after the other in `text`, and per grant
    /// where its id starts, where its principal starts and where its tail starts and ends.
    /// One buffer rather than two Strings a grant: allocating was a fifth of the sort.
    text: String,
    pending: Vec<Pending>,
    /// The runs written so far: their byte ranges in `file`.
    runs: Vec<(u64, u64)>,
    file: Option<File>,
    written: u64,
    compressor: Option<zstd::bulk::Compressor<'static>>,
    raw: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    id: usize,
    principal: usize,
    tail: usize,
    end: usize,
}

impl Pending {
    fn id<'a>(&self, text: &'a str) -> &'a str {
        &text[self.id..self.tail]
    }

    fn tail<'a>(&self, text: &'a str) -> &'a str {
        &text[self.tail..self.end]
    }
}

impl Sorter {
    /// A sorter that holds up to `chunk` grants in memory (at least one) before it writes a run.
    pub fn new(chunk: usize) -> Sorter {
        Sorter {
            chunk: chunk.max(1),
            text: String::new(),
            pending: Vec::new(),
            runs: Vec::new(),
            file: None,
            written: 0,
            compressor: None,
            raw: Vec::new(),
        }
    }

    pub fn push(&mut self, id: &str, tail: &str) -> std::io::Result<()> {
        let start = self.text.len();
        self.text.push_str(id);
        self.text.push_str(tail);
        self.pending.push(Pending {
            id: start,
            principal: start + principal_start(id),
            tail: start + id.len(),
            end: self.text.len(),
        });
        if self.pending.len() >= self.chunk {
            self.write_run()?;
        }
        Ok(())
    }

    fn sort_pending(&mut self) {
        let text = self.text.as_str();
        self.pending.sort_unstable_by(|a, b| {
            by_principal(
                a.id(text),
                a.principal - a.id,
                b.id(text),
                b.principal - b.id,
            )
        });
    }

    /// Sorts the grants held and writes them as a run.
    fn write_run(&mut self) -> std::io::Result<()> {
        self.sort_pending();
        let start = self.written;
        let pending = std::mem::take(&mut self.pending);
        let text = std::mem::take(&mut self.text);
        self.raw.clear();
        for grant in &pending {
            let (id, tail) = (grant.id(&text), grant.tail(&text));
            put_len(&mut self.raw, id.len());
            self.raw.extend_from_slice(id.as_bytes());
            put_len(&mut self.raw, tail.len());
            self.raw.extend_from_slice(tail.as_bytes());
            if self.raw.len() >= FRAME_RAW {
                self.write_frame()?;
            }
        }
        if !self.raw.is_empty() {
            self.write_frame()?;
        }
        self.runs.push((start, self.written));
        // The chunk's memory is reused for the next one.
        self.pending = pending;
        self.pending.clear();
        self.text = text;
        self.text.clear();
        Ok(())
    }

    /// Appends `raw` as one frame: its compressed and raw lengths (u32, little-endian), then
    /// the zstd frame.
    fn write_frame(&mut self) -> std::io::Result<()> {
        let compressor = match &mut self.compressor {
            Some(c) => c,
            None => self.compressor.insert(zstd::bulk::Compressor::new(LEVEL)?),
        };
        if self.raw.len() > MAX_FRAME_RAW {
            return Err(damaged("a grant too big to sort"));
        }
        let data = compressor.compress(&self.raw)?;
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(tempfile::tempfile()?),
        };
        let mut head = [0u8; 8];
        head[..4].copy_from_slice(&len_u32(data.len())?.to_le_bytes());
        head[4..].copy_from_slice(&len_u32(self.raw.len())?.to_le_bytes());
        file.write_all(&head)?;
        file.write_all(&data)?;
        self.written += (head.len() + data.len()) as u64;
        self.raw.clear();
        Ok(())
    }

    /// Calls `f` with every grant pushed, by principal then id; `io_error` makes a failure of
    /// the temporary file one of `f`'s errors.
    pub fn finish<E>(
        mut self,
        io_error: impl Fn(std::io::Error) -> E,
        mut f: impl FnMut(&str, &str) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.runs.is_empty() {
            // Everything fitted in memory: no file.
            self.sort_pending();
            for grant in &self.pending {
                f(grant.id(&self.text), grant.tail(&self.text))?;
            }
            return Ok(());
        }
        if !self.pending.is_empty() {
            self.write_run().map_err(&io_error)?;
        }
        self.pending = Vec::new();
        self.text = String::new();
        let file = self
            .file
            .take()
            .ok_or_else(|| io_error(damaged("runs without a file")))?;
        let mut readers: Vec<RunReader> = self
            .runs
            .iter()
            .map(|&(start, end)| RunReader::new(start, end))
            .collect();
        let mut decompressor = zstd::bulk::Decompressor::new().map_err(&io_error)?;
        let mut heads = BinaryHeap::with_capacity(readers.len());
        for (run, reader) in readers.iter_mut().enumerate() {
            if let Some((id, tail)) = reader.next(&file, &mut decompressor).map_err(&io_error)? {
                heads.push(Head::new(id, tail, run));
            }
        }
        while let Some(head) = heads.pop() {
            f(&head.id, &head.tail)?;
            let next = readers[head.run].next(&file, &mut decompressor);
            if let Some((id, tail)) = next.map_err(&io_error)? {
                heads.push(Head::new(id, tail, head.run));
            }
        }
        Ok(())
    }
}

fn len_u32(len: usize) -> std::io::Result<u32> {
    u32::try_from(len).map_err(|_| damaged("a frame over 4 GB"))
}

fn damaged(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("the temporary sort file is damaged: {what}"),
    )
}

fn put_len(out: &mut Vec<u8>, mut value: usize) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_len(data: &[u8], pos: &mut usize) -> Option<usize> {
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

/// The next grant of one run, in the merge's heap: the lowest comes out first.
struct Head {
    id: String,
    principal: usize,
    tail: String,
    run: usize,
}

impl Head {
    fn new(id: String, tail: String, run: usize) -> Head {
        Head {
            principal: principal_start(&id),
            id,
            tail,
            run,
        }
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap pops its greatest.
        by_principal(&other.id, other.principal, &self.id, self.principal)
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

/// Reads one run back, a frame at a time.
struct RunReader {
    next_frame: u64,
    end: u64,
    frame: Vec<u8>,
    pos: usize,
}

impl RunReader {
    fn new(start: u64, end: u64) -> RunReader {
        RunReader {
            next_frame: start,
            end,
            frame: Vec::new(),
            pos: 0,
        }
    }

    fn next(
        &mut self,
        file: &File,
        decompressor: &mut zstd::bulk::Decompressor<'_>,
    ) -> std::io::Result<Option<(String, String)>> {
        if self.pos >= self.frame.len() {
            if self.next_frame >= self.end {
                return Ok(None);
            }
            let mut head = [0u8; 8];
            file.read_exact_at(&mut head, self.next_frame)?;
            let compressed = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
            let raw = u32::from_le_bytes(head[4..].try_into().expect("4 bytes")) as usize;
            if raw > MAX_FRAME_RAW {
                return Err(damaged("a frame too big"));
            }
            let mut data = vec![0u8; compressed];
            file.read_exact_at(&mut data, self.next_frame + 8)?;
            self.next_frame += 8 + compressed as u64;
            self.frame = decompressor.decompress(&data, raw)?;
            if self.frame.len() != raw {
                return Err(damaged("a frame shorter than its length"));
            }
            self.pos = 0;
        }
        let mut text = || -> std::io::Result<String> {
            let len = get_len(&self.frame, &mut self.pos).ok_or_else(|| damaged("a length"))?;
            let bytes = self
                .frame
                .get(self.pos..self.pos + len)
                .ok_or_else(|| damaged("a record past its frame"))?;
            self.pos += len;
            String::from_utf8(bytes.to_vec()).map_err(|_| damaged("a record that is not UTF-8"))
        };
        let id = text()?;
        let tail = text()?;
        Ok(Some((id, tail)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(grants: &[(String, String)], chunk: usize) -> Vec<(String, String)> {
        let mut sorter = Sorter::new(chunk);
        for (id, tail) in grants {
            sorter.push(id, tail).unwrap();
        }
        let mut out = Vec::new();
        sorter
            .finish(
                |e| e,
                |id, tail| {
                    out.push((id.to_owned(), tail.to_owned()));
                    Ok(())
                },
            )
            .unwrap();
        out
    }

    #[test]
    fn runs_merge_into_principal_order_whatever_the_chunk() {
        // Ids in id order (by entitlement), with tails long enough to fill several frames.
        let mut grants = Vec::new();
        for e in 0..40 {
            for u in (0..300).filter(|u| (u + e) % 3 != 0) {
                let id = format!("group:00G{e:015}:member:user:005{u:015}");
                let tail = format!("\"direct\":true,\"n\":\"{}\"}}", "x".repeat(u % 97));
                grants.push((id, tail));
            }
        }
        let mut expected = grants.clone();
        expected.sort_by(|a, b| {
            let (_, pa) = split_grant_id(&a.0).unwrap();
            let (_, pb) = split_grant_id(&b.0).unwrap();
            (pa, &a.0).cmp(&(pb, &b.0))
        });
        assert_ne!(expected, grants, "the orders differ");
        for chunk in [1, 7, 1000, 1_000_000] {
            assert_eq!(sorted(&grants, chunk), expected, "chunks of {chunk}");
        }
        assert!(sorted(&[], 3).is_empty());
    }

    #[test]
    fn a_damaged_run_is_an_error_not_a_panic() {
        let mut sorter = Sorter::new(2);
        for u in 0..5 {
            sorter
                .push(
                    &format!("group:00G1:member:user:005{u}"),
                    "\"direct\":true}",
                )
                .unwrap();
        }
        // Overwrite the first frame's raw length with a lie.
        let file = sorter.file.as_ref().unwrap();
        file.write_all_at(&u32::MAX.to_le_bytes(), 4).unwrap();
        let result = sorter.finish(|e| e, |_, _| Ok(()));
        let error = result.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData, "{error}");
        assert!(error.to_string().contains("temporary sort file"), "{error}");
    }
}
