//! Who may touch a store: the one ownership check of every file, segment, directory and
//! socket the stores open.
//!
//! Another local user must not be able to feed a reader its data or make a writer use
//! (or overwrite) its objects. So every object is opened without following symbolic
//! links and then checked, on the open descriptor where there is one: it must be of the
//! expected kind, writable by its owner only (no group/other write bit), and owned by the
//! current effective user, or, for a reader, by an owner it was told to trust. A writer
//! trusts nobody but itself. docs/design.md ("Who may touch a store") has the reasons.

use std::fmt;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// Whose objects a handle accepts: the current effective user's always, and for a reader
/// one more owner if it was told to trust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Trust {
    /// Another uid whose stores are accepted (a reader's option; never a writer's).
    pub also: Option<u32>,
}

impl Trust {
    /// Only the current user: what writers use, and readers by default.
    pub const OWN: Trust = Trust { also: None };

    /// The current user and `uid`.
    pub fn also(uid: Option<u32>) -> Trust {
        Trust { also: uid }
    }

    fn accepts(&self, uid: u32) -> bool {
        uid == euid() || self.also == Some(uid)
    }
}

/// What an object must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Socket,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::File => "a regular file",
            Kind::Dir => "a directory",
            Kind::Socket => "a socket",
        }
    }

    fn matches(self, t: FileType) -> bool {
        matches!(
            (self, t),
            (Kind::File, FileType::RegularFile)
                | (Kind::Dir, FileType::Directory)
                | (Kind::Socket, FileType::Socket)
        )
    }
}

/// Why an object was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Owned by a user that is neither the current one nor trusted.
    Owner,
    /// Group- or other-writable: refused whoever owns it.
    Writable,
    /// A symbolic link where the object should be.
    Link,
}

/// An object refused by the check: where, whose, its mode, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untrusted {
    pub path: PathBuf,
    pub uid: u32,
    pub mode: u32,
    pub why: Why,
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        let owner = describe_uid(self.uid);
        let mode = self.mode & 0o7777;
        write!(f, "refusing {path} (owner {owner}, mode {mode:04o}): ")?;
        match self.why {
            Why::Owner => write!(
                f,
                "it belongs to another user, not to this one ({}); a reader can be told \
                 to trust its owner (trust_uid={})",
                describe_uid(euid()),
                self.uid
            ),
            Why::Writable => f.write_str("other users can write to it"),
            Why::Link => f.write_str("it is a symbolic link"),
        }
    }
}

/// The effective uid of this process.
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// "uid 65534 (nobody)", the name where /etc/passwd has one.
pub fn describe_uid(uid: u32) -> String {
    match user_name(uid) {
        Some(name) => format!("uid {uid} ({name})"),
        None => format!("uid {uid}"),
    }
}

fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    })
}

/// Checks what `fstat` or `lstat` said about `path`. A link, an owner not trusted or
/// write permission for others is a refusal; an object of ours of the wrong kind (a file
/// where a directory should be) is a plain I/O error, a mistake rather than an attack.
fn check_stat(st: &Stat, path: &Path, kind: Kind, trust: Trust) -> Result<()> {
    let refuse = |why| {
        Err(Error::Untrusted(Untrusted {
            path: path.to_owned(),
            uid: st.st_uid,
            mode: st.st_mode,
            why,
        }))
    };
    let file_type = FileType::from_raw_mode(st.st_mode);
    if file_type == FileType::Symlink {
        return refuse(Why::Link);
    }
    if !trust.accepts(st.st_uid) {
        return refuse(Why::Owner);
    }
    if st.st_mode & 0o022 != 0 {
        return refuse(Why::Writable);
    }
    if !kind.matches(file_type) {
        let errno = match kind {
            Kind::Dir => Errno::NOTDIR,
            Kind::File | Kind::Socket => Errno::INVAL,
        };
        return Err(Error::io(
            format!("{} is not {}", path.display(), kind.name()),
            errno,
        ));
    }
    Ok(())
}

/// Checks an open descriptor of `path` (race-free: it is the object that will be used).
pub fn check_fd(fd: impl AsFd, path: &Path, kind: Kind, trust: Trust) -> Result<Stat> {
    let st =
        rustix::fs::fstat(fd).map_err(|e| Error::io(format!("fstat {}", path.display()), e))?;
    check_stat(&st, path, kind, trust)?;
    Ok(st)
}

/// Checks `path` itself, a link not followed. Ok(false) when there is nothing there.
/// For objects in a directory already checked (nobody else can replace them), and for
/// sockets, which cannot be opened.
pub fn check_path(path: &Path, kind: Kind, trust: Trust) -> Result<bool> {
    match rustix::fs::lstat(path) {
        Ok(st) => check_stat(&st, path, kind, trust).map(|()| true),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(Error::io(format!("inspecting {}", path.display()), e)),
    }
}

/// Opens `path` without following a link (`O_NOFOLLOW | O_CLOEXEC` are added to `flags`)
/// and checks what it opened. Err(NOENT) passes through as `Ok(None)`; a link is refused
/// as [`Why::Link`]. `kind` Dir adds `O_DIRECTORY`.
pub fn open(
    path: &Path,
    flags: OFlags,
    mode: Mode,
    kind: Kind,
    trust: Trust,
) -> Result<Option<std::os::fd::OwnedFd>> {
    let mut flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    if kind == Kind::Dir {
        flags |= OFlags::DIRECTORY;
    }
    match rustix::fs::open(path, flags, mode) {
        Ok(fd) => {
            check_fd(&fd, path, kind, trust)?;
            Ok(Some(fd))
        }
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(open_failed(path, kind, trust, e)),
    }
}

/// Explains a failed open: a link or an object of the wrong kind (ELOOP, ENOTDIR) is
/// reported as refused, with its owner; anything else as the OS error.
#[cold]
pub fn open_failed(path: &Path, kind: Kind, trust: Trust, e: Errno) -> Error {
    if matches!(e, Errno::LOOP | Errno::NOTDIR) {
        if let Err(refused) = check_path(path, kind, trust) {
            return refused;
        }
    }
    Error::io(format!("opening {}", path.display()), e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "ipcb_trust_test_{tag}_{}_{:x}",
            std::process::id(),
            crate::names::random_id()
        ));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        dir
    }

    fn refused(r: Result<impl fmt::Debug>) -> Untrusted {
        match r {
            Err(Error::Untrusted(u)) => u,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn own_private_objects_pass() {
        let dir = scratch("own");
        check_path(&dir, Kind::Dir, Trust::OWN).unwrap();
        let file = dir.join("f");
        std::fs::write(&file, b"x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let fd = open(&file, OFlags::RDONLY, Mode::empty(), Kind::File, Trust::OWN).unwrap();
        assert!(fd.is_some());
        assert!(!check_path(&dir.join("none"), Kind::File, Trust::OWN).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn writable_objects_are_refused_even_when_trusted() {
        let dir = scratch("writable");
        let file = dir.join("f");
        std::fs::write(&file, b"x").unwrap();
        for mode in [0o666, 0o620, 0o602] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            let trust = Trust::also(Some(euid()));
            let u = refused(check_path(&file, Kind::File, trust));
            assert_eq!(u.why, Why::Writable, "{mode:o}");
            let text = u.to_string();
            assert!(text.contains(&format!("mode {mode:04o}")), "{text}");
            assert!(text.contains(&format!("uid {}", euid())), "{text}");
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(
            refused(check_path(&dir, Kind::Dir, Trust::OWN)).why,
            Why::Writable
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn links_are_refused_and_not_followed() {
        let dir = scratch("link");
        let target = dir.join("target");
        std::fs::write(&target, b"keep").unwrap();
        let link = dir.join("link");
        symlink(&target, &link).unwrap();
        let flags = OFlags::RDWR | OFlags::CREATE;
        let u = refused(open(&link, flags, Mode::RUSR, Kind::File, Trust::OWN));
        assert_eq!(u.why, Why::Link);
        assert!(u.to_string().contains("symbolic link"), "{u}");
        let u = refused(open(
            &link,
            OFlags::RDONLY,
            Mode::empty(),
            Kind::Dir,
            Trust::OWN,
        ));
        assert_eq!(u.why, Why::Link);
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wrong_kinds_of_our_own_are_io_errors() {
        let dir = scratch("kind");
        match check_path(&dir, Kind::File, Trust::OWN) {
            Err(Error::Io { what, .. }) => assert!(what.contains("is not a regular file")),
            other => panic!("expected an Io error, got {other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn other_owners_need_trust() {
        // /proc/1 is root's; as root, use a uid that is surely not ours instead.
        let dir = scratch("owner");
        let other = if euid() == 0 { 65534 } else { 0 };
        if euid() == 0 {
            rustix::fs::chown(&dir, Some(rustix::process::Uid::from_raw(other)), None).unwrap();
        } else {
            // Not root: cannot give a file away; check a root-owned directory instead.
            let u = refused(check_path(Path::new("/"), Kind::Dir, Trust::OWN));
            assert_eq!(u.why, Why::Owner);
            std::fs::remove_dir_all(&dir).unwrap();
            return;
        }
        let u = refused(check_path(&dir, Kind::Dir, Trust::OWN));
        assert_eq!(u.why, Why::Owner);
        assert!(u.to_string().contains("trust_uid=65534"), "{u}");
        assert!(check_path(&dir, Kind::Dir, Trust::also(Some(other))).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
