//! Names of the operating-system objects this project creates.

use crate::error::{Error, Result};

/// Every shared-memory segment, LMDB temp dir and socket file this project creates starts
/// with this prefix, so `python -m ipc_benchmark clean` can remove leftovers and nothing else.
pub const PREFIX: &str = "ipcb_";

/// Longest store name: leaves room for the prefix, a kind tag and a version suffix within
/// the 255-byte file-name limit.
pub const MAX_NAME_LEN: usize = 200;

/// Store names are 1 to 200 characters of `A-Z a-z 0-9 _ -`: safe as a file name, free of
/// `/` and `..`, and without `.`, which separates a shared-memory store from its versions.
pub fn validate(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "it is empty".to_owned()
    } else if name.len() > MAX_NAME_LEN {
        format!(
            "it is {} bytes long; the limit is {MAX_NAME_LEN}",
            name.len()
        )
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        format!("{c:?} is not allowed (use letters, digits, '_' and '-')")
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

/// A random 64-bit identifier for one run of a writer (never 0). Uniqueness, not secrecy,
/// is what matters, so the clock is mixed in should getrandom fail.
pub fn random_id() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (u64::from_le_bytes(bytes) ^ nanos) | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        for ok in ["a", "trainer_state", "run-42", &"x".repeat(MAX_NAME_LEN)] {
            validate(ok).unwrap();
        }
    }

    #[test]
    fn rejects_paths_dots_and_oversize() {
        for bad in [
            "",
            "a/b",
            "..",
            "a.b",
            "é",
            "a b",
            &"x".repeat(MAX_NAME_LEN + 1),
        ] {
            let e = validate(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid store name"), "{e}");
        }
    }
}
