//! The frames exchanged between a ZeroMQ writer and its readers.
//!
//! Every frame from the writer starts with a 24-byte header; a snapshot frame carries the
//! blob after it. Readers send one-byte requests. Frames come off a socket, so they are
//! parsed as untrusted: a frame that does not parse is dropped.

/// "IPCZ".
const MAGIC: [u8; 4] = *b"IPCZ";
pub const HEADER_LEN: usize = 24;

/// What a writer frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The header, then a complete snapshot.
    Snapshot = 1,
    /// Only the header: the writer's latest version, in answer to [`QUERY_VERSION`].
    Version = 2,
}

/// Reader requests, sent to the writer's ROUTER socket.
pub const QUERY_VERSION: &[u8] = b"V";
pub const QUERY_SNAPSHOT: &[u8] = b"S";
/// A push-mode reader announcing itself, so the writer can wait for all of them.
pub const HELLO: &[u8] = b"H";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    /// Random per writer run: versions of different runs are not comparable.
    pub incarnation: u64,
    /// 0 when the writer has published nothing yet.
    pub version: u64,
}

impl Header {
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&MAGIC);
        out[4] = self.kind as u8;
        out[8..16].copy_from_slice(&self.incarnation.to_le_bytes());
        out[16..24].copy_from_slice(&self.version.to_le_bytes());
        out
    }

    /// The header of `frame`, or None if it is not one of ours.
    pub fn parse(frame: &[u8]) -> Option<Header> {
        if frame.len() < HEADER_LEN || frame[0..4] != MAGIC || frame[5..8] != [0, 0, 0] {
            return None;
        }
        let kind = match frame[4] {
            1 => Kind::Snapshot,
            2 if frame.len() == HEADER_LEN => Kind::Version,
            _ => return None,
        };
        let word = |i: usize| u64::from_le_bytes(frame[i..i + 8].try_into().expect("8 bytes"));
        Some(Header {
            kind,
            incarnation: word(8),
            version: word(16),
        })
    }
}

/// A snapshot frame: header and blob in one buffer, ready to send.
pub fn snapshot_frame(incarnation: u64, version: u64, blob: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(HEADER_LEN + blob.len());
    let header = Header {
        kind: Kind::Snapshot,
        incarnation,
        version,
    };
    frame.extend_from_slice(&header.to_bytes());
    frame.extend_from_slice(blob);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_garbage_is_refused() {
        let frame = snapshot_frame(7, 9, b"blob");
        let h = Header::parse(&frame).unwrap();
        assert_eq!((h.kind, h.incarnation, h.version), (Kind::Snapshot, 7, 9));
        let v = Header {
            kind: Kind::Version,
            incarnation: 1,
            version: 2,
        };
        assert_eq!(Header::parse(&v.to_bytes()), Some(v));
        assert_eq!(Header::parse(&frame[..10]), None);
        assert_eq!(Header::parse(b"XXXXxxxxxxxxxxxxxxxxxxxxxxxx"), None);
        let mut bad_kind = v.to_bytes();
        bad_kind[4] = 9;
        assert_eq!(Header::parse(&bad_kind), None);
    }
}
