//! The c1z container: a 5-byte magic, then one zstd stream whose content is a whole SQLite
//! database file. Format detection, capped decompression into a temporary file, and
//! compression of a finished database.
//!
//! Reading is where untrusted input enters, so every limit is enforced here: the decompressed
//! size (checked against the frame's declared content size before anything is written, and
//! again while writing, since a frame need not declare it), and the zstd window (the memory
//! the decoder allocates). Checksums in the frame are verified by zstd.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use super::C1zError;

/// The magic of a v1 (SQLite) c1z: `C1ZF` and a NUL.
pub const MAGIC_V1: &[u8; 5] = b"C1ZF\0";
/// The magic of a v3 (Pebble) c1z: `C1Z3` and a NUL.
pub const MAGIC_V3: &[u8; 5] = b"C1Z3\0";

/// Default cap on the decompressed database: 3 GiB, what the `baton` CLI allows (baton-sdk
/// allows 10 GiB). A Salesforce org with a million grants is a few hundred MiB.
pub const DEFAULT_MAX_DECODED_BYTES: u64 = 3 << 30;
/// Largest zstd window accepted, as a power of two: 2^27 = 128 MiB, baton's decoder memory
/// cap. Our writer's windows are far smaller (level 3: at most 8 MiB).
pub const MAX_WINDOW_LOG: u32 = 27;
/// zstd level of the writer: level 3, baton's "default speed" class.
const LEVEL: i32 = 3;

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The file is missing or has no bytes: baton treats it as a new, empty c1z.
    Empty,
    /// A v1 (SQLite) c1z.
    V1,
    /// A v3 (Pebble) c1z, which this build cannot read.
    V3,
    /// Anything else (including fewer than 5 bytes).
    Other,
}

/// Reads the magic of `path`.
pub fn detect(path: &Path) -> Result<Format, C1zError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Format::Empty),
        Err(source) => return Err(C1zError::io("cannot open", path, source)),
    };
    let mut head = [0u8; 5];
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => return Err(C1zError::io("cannot read", path, source)),
        }
    }
    Ok(match (filled, &head) {
        (0, _) => Format::Empty,
        (5, h) if h == MAGIC_V1 => Format::V1,
        (5, h) if h == MAGIC_V3 => Format::V3,
        _ => Format::Other,
    })
}

/// Checks the magic of `path` and says why a file that is not a v1 c1z cannot be read.
pub fn require_v1(path: &Path) -> Result<(), C1zError> {
    match detect(path)? {
        Format::V1 => Ok(()),
        Format::V3 => Err(C1zError::PebbleFormat {
            path: path.to_path_buf(),
        }),
        Format::Empty if !path.exists() => Err(C1zError::io(
            "cannot open",
            path,
            io::Error::from(io::ErrorKind::NotFound),
        )),
        Format::Empty => Err(C1zError::Truncated {
            path: path.to_path_buf(),
            detail: "the file is empty".to_owned(),
        }),
        Format::Other => Err(C1zError::NotC1z {
            path: path.to_path_buf(),
        }),
    }
}

/// Decompresses the v1 c1z `path` into the new file `out`, refusing more than `max_decoded`
/// bytes. Returns the size of the database.
pub fn decompress(path: &Path, out: &Path, max_decoded: u64) -> Result<u64, C1zError> {
    require_v1(path)?;
    let file = File::open(path).map_err(|e| C1zError::io("cannot open", path, e))?;
    let mut input = BufReader::with_capacity(64 * 1024, file);
    let mut magic = [0u8; 5];
    input
        .read_exact(&mut magic)
        .map_err(|e| C1zError::io("cannot read", path, e))?;
    // Fail fast on a declared size over the cap, before writing a byte (the frame header is
    // at most 18 bytes and fits in the first buffer fill).
    let header = input
        .fill_buf()
        .map_err(|e| C1zError::io("cannot read", path, e))?;
    if header.is_empty() {
        return Err(C1zError::Truncated {
            path: path.to_path_buf(),
            detail: "there is no compressed data after the header".to_owned(),
        });
    }
    if let Ok(Some(declared)) = zstd::zstd_safe::get_frame_content_size(header)
        && declared > max_decoded
    {
        return Err(C1zError::TooLarge {
            path: path.to_path_buf(),
            limit: max_decoded,
            declared: Some(declared),
        });
    }
    let mut decoder =
        zstd::stream::read::Decoder::with_buffer(input).map_err(|e| decode_error(path, e))?;
    decoder
        .window_log_max(MAX_WINDOW_LOG)
        .map_err(|e| decode_error(path, e))?;
    let mut output = File::create_new(out).map_err(|e| C1zError::io("cannot create", out, e))?;
    // A loop rather than io::copy, so that a read error (the untrusted stream) and a write
    // error (our disk) are told apart.
    let mut buf = vec![0u8; 128 * 1024];
    let mut written: u64 = 0;
    loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(decode_error(path, e)),
        };
        written = written.saturating_add(n as u64);
        if written > max_decoded {
            return Err(C1zError::TooLarge {
                path: path.to_path_buf(),
                limit: max_decoded,
                declared: None,
            });
        }
        output
            .write_all(&buf[..n])
            .map_err(|e| C1zError::io("cannot write", out, e))?;
    }
    output
        .sync_all()
        .map_err(|e| C1zError::io("cannot write", out, e))?;
    Ok(written)
}

/// Classifies a zstd error: a stream that ends early is truncated; a window over the cap is
/// named; anything else (bad checksum, bad block, trailing garbage) is corruption.
fn decode_error(path: &Path, e: io::Error) -> C1zError {
    let message = e.to_string();
    let path = path.to_path_buf();
    if e.kind() == io::ErrorKind::UnexpectedEof || message.contains("incomplete frame") {
        C1zError::Truncated {
            path,
            detail: "the compressed data ends in the middle of a frame".to_owned(),
        }
    } else if message.contains("too much memory") || message.contains("window") {
        C1zError::WindowTooLarge {
            path,
            max_mib: (1u64 << MAX_WINDOW_LOG) >> 20,
        }
    } else {
        C1zError::Corrupt {
            path,
            detail: format!("zstd: {message}"),
        }
    }
}

/// Writes the magic and the zstd frame of the database file `db` to `out`: level 3, content
/// checksum and content size on, one frame, as baton-sdk writes it.
pub fn compress(db: &Path, out: &mut dyn Write) -> Result<(), C1zError> {
    let mut input = File::open(db).map_err(|e| C1zError::io("cannot open", db, e))?;
    let size = input
        .metadata()
        .map_err(|e| C1zError::io("cannot read", db, e))?
        .len();
    let output_name = PathBuf::from("the c1z output");
    let write_err = |e: io::Error| C1zError::io("cannot write", &output_name, e);
    out.write_all(MAGIC_V1).map_err(write_err)?;
    let mut encoder = zstd::stream::write::Encoder::new(out, LEVEL).map_err(write_err)?;
    encoder.include_checksum(true).map_err(write_err)?;
    encoder.include_contentsize(true).map_err(write_err)?;
    encoder
        .set_pledged_src_size(Some(size))
        .map_err(write_err)?;
    io::copy(&mut input, &mut encoder).map_err(write_err)?;
    encoder.finish().map_err(write_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compressed(content: &[u8]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        std::fs::write(&db, content).unwrap();
        let mut out = Vec::new();
        compress(&db, &mut out).unwrap();
        out
    }

    #[test]
    fn compressed_file_has_the_magic_one_frame_with_content_size_and_checksum() {
        let bytes = compressed(b"hello hello hello hello");
        assert_eq!(&bytes[..5], MAGIC_V1);
        let frame = &bytes[5..];
        assert_eq!(&frame[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd frame magic");
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(frame).unwrap(),
            Some(23)
        );
        // Frame header descriptor bit 2: content checksum flag.
        assert_ne!(frame[4] & 0b100, 0);
        assert_eq!(
            zstd::zstd_safe::find_frame_compressed_size(frame).unwrap(),
            frame.len()
        );
    }

    #[test]
    fn decompress_round_trips_and_detects_formats() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.c1z");
        std::fs::write(&path, compressed(b"some database bytes")).unwrap();
        assert_eq!(detect(&path).unwrap(), Format::V1);
        let out = dir.path().join("db");
        assert_eq!(decompress(&path, &out, 1000).unwrap(), 19);
        assert_eq!(std::fs::read(&out).unwrap(), b"some database bytes");
        assert_eq!(detect(&dir.path().join("missing")).unwrap(), Format::Empty);
        std::fs::write(&path, b"C1Z").unwrap();
        assert_eq!(detect(&path).unwrap(), Format::Other);
    }

    #[test]
    fn size_cap_applies_with_and_without_a_declared_content_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.c1z");
        let content = vec![7u8; 10_000];
        std::fs::write(&path, compressed(&content)).unwrap();
        let err = decompress(&path, &dir.path().join("db1"), 9_999).unwrap_err();
        assert!(
            matches!(
                err,
                C1zError::TooLarge {
                    declared: Some(10_000),
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            !dir.path().join("db1").exists(),
            "nothing written on fail-fast"
        );
        // The same data in a frame without a content size: caught while copying.
        let mut raw = MAGIC_V1.to_vec();
        let mut enc = zstd::stream::write::Encoder::new(&mut raw, 3).unwrap();
        enc.include_contentsize(false).unwrap();
        enc.write_all(&content).unwrap();
        enc.finish().unwrap();
        std::fs::write(&path, &raw).unwrap();
        let err = decompress(&path, &dir.path().join("db2"), 9_999).unwrap_err();
        assert!(
            matches!(err, C1zError::TooLarge { declared: None, .. }),
            "{err:?}"
        );
        assert_eq!(
            decompress(&path, &dir.path().join("db3"), 10_000).unwrap(),
            10_000
        );
    }
}
