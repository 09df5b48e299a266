//! Where a store's sockets live: `ipc://` files under the project prefix by default, or a
//! `tcp://host:port` pair so that readers can run on other machines.

use std::fs::{self, File};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::PathBuf;

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::names::PREFIX;
use crate::trust::{self, Kind, Trust};

/// The writer's lock file in an ipc directory (it holds the writer's pid).
const LOCK_FILE: &str = "writer.lock";

/// Longest path an `ipc://` socket can have (`sockaddr_un.sun_path` less its NUL).
const MAX_IPC_PATH: usize = 107;

/// The two sockets of a store: `data` carries snapshots (PUB, or PUSH in push mode),
/// `control` answers readers' requests (ROUTER).
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub data: String,
    pub control: String,
    /// For ipc: the directory holding the socket files and the writer's lock.
    dir: Option<PathBuf>,
    /// True for the default directory under the project prefix, which is ours to remove;
    /// a directory the user named keeps everything but our three files.
    private: bool,
}

impl Endpoints {
    /// `endpoint` None: `ipc://<tmp>/ipcb_zmq_<name>/{data,control}`. `ipc:///some/dir`:
    /// the same files in that directory. `tcp://host:port`: data on `port`, control on
    /// `port + 1`.
    pub fn resolve(name: &str, endpoint: Option<&str>) -> Result<Endpoints> {
        let bad = |reason: String| Error::InvalidName {
            name: endpoint.unwrap_or(name).to_owned(),
            reason,
        };
        let dir = match endpoint {
            None => std::env::temp_dir().join(format!("{PREFIX}zmq_{name}")),
            Some(e) if e.starts_with("ipc://") => PathBuf::from(&e["ipc://".len()..]),
            Some(e) if e.starts_with("tcp://") => {
                let rest = &e["tcp://".len()..];
                let (host, port) = rest
                    .rsplit_once(':')
                    .ok_or_else(|| bad("a tcp endpoint needs a port: tcp://host:port".into()))?;
                let port: u16 = port
                    .parse()
                    .ok()
                    .filter(|p| *p > 0 && *p < u16::MAX)
                    .ok_or_else(|| bad(format!("{port:?} is not a usable port (1-65534)")))?;
                return Ok(Endpoints {
                    data: format!("tcp://{host}:{port}"),
                    control: format!("tcp://{host}:{}", port + 1),
                    dir: None,
                    private: false,
                });
            }
            Some(_) => return Err(bad("use ipc://<directory> or tcp://<host>:<port>".into())),
        };
        let socket = dir.join("control");
        let len = socket.as_os_str().len();
        if len > MAX_IPC_PATH {
            return Err(bad(format!(
                "the socket path {} is {len} bytes; the limit is {MAX_IPC_PATH}",
                socket.display()
            )));
        }
        Ok(Endpoints {
            data: format!("ipc://{}", dir.join("data").display()),
            control: format!("ipc://{}", socket.display()),
            dir: Some(dir),
            private: endpoint.is_none(),
        })
    }

    pub fn describe(&self) -> String {
        match &self.dir {
            Some(dir) => format!("ipc://{}", dir.display()),
            None => self.data.clone(),
        }
    }

    /// For the writer, before binding: creates the ipc directory (0700) and takes an
    /// exclusive lock in it, which the kernel releases however the writer dies; clears
    /// socket files a dead writer left. Returns the lock (None for tcp, where the bind
    /// itself refuses a second writer). An existing directory or lock file must pass the
    /// writer's check ([`crate::trust`]): ours, writable by us alone, not a link.
    pub fn claim(&self, store: &str) -> Result<Option<File>> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(format!("creating {}", dir.display()), e)),
        }
        let dir_fd = trust::open(dir, OFlags::RDONLY, Mode::empty(), Kind::Dir, Trust::OWN)?
            .ok_or_else(|| Error::io(format!("opening {}", dir.display()), Errno::NOENT))?;
        // Everything below goes through the checked directory's descriptor.
        let lock_path = dir.join(LOCK_FILE);
        let flags = OFlags::CREATE | OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let lock = rustix::fs::openat(&dir_fd, LOCK_FILE, flags, Mode::RUSR | Mode::WUSR)
            .map_err(|e| trust::open_failed(&lock_path, Kind::File, Trust::OWN, e))?;
        trust::check_fd(&lock, &lock_path, Kind::File, Trust::OWN)?;
        let lock = File::from(lock);
        if let Err(e) = rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive) {
            if e == Errno::WOULDBLOCK {
                let pid = fs::read_to_string(&lock_path)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                return Err(Error::WriterExists {
                    store: format!("zeromq store {store:?}"),
                    pid,
                });
            }
            return Err(Error::io(format!("locking {}", lock_path.display()), e));
        }
        let pid = std::process::id().to_string();
        rustix::fs::ftruncate(&lock, 0)
            .and_then(|()| rustix::io::pwrite(&lock, pid.as_bytes(), 0).map(drop))
            .map_err(|e| Error::io(format!("writing {}", lock_path.display()), e))?;
        for stale in ["data", "control"] {
            let _ = rustix::fs::unlinkat(&dir_fd, stale, AtFlags::empty());
        }
        Ok(Some(lock))
    }

    /// After binding: sockets readable and writable by this user only (they sit in a
    /// directory of ours that nobody else can write to, so the paths are the sockets).
    pub fn restrict(&self) -> Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        for socket in ["data", "control"] {
            let path = dir.join(socket);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                .map_err(|e| Error::io(format!("restricting {}", path.display()), e))?;
            trust::check_path(&path, Kind::Socket, Trust::OWN)?;
        }
        Ok(())
    }

    /// For a reader: refuses an ipc directory that `trust` does not accept. Only its owner
    /// can put sockets in a directory that nobody else can write to, so the sockets
    /// need no check of their own (which would also race with the writer's `restrict`:
    /// under a umask of 002 they are group-writable until then). A directory that does
    /// not exist yet passes (the writer may come later); a reader checks again when a
    /// new writer run first speaks. Nothing to check for tcp.
    pub fn verify(&self, trust: Trust) -> Result<()> {
        match &self.dir {
            Some(dir) => trust::check_path(dir, Kind::Dir, trust).map(drop),
            None => Ok(()),
        }
    }

    /// The writer's cleanup: removes the socket files and the lock, and the directory
    /// when it is the private default one. A directory the user named stays, with
    /// whatever else it holds.
    pub fn remove(&self) -> Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let gone = |r: std::io::Result<()>, path: &std::path::Path| match r {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io(format!("removing {}", path.display()), e))
            }
            _ => Ok(()),
        };
        if self.private {
            return gone(fs::remove_dir_all(dir), dir);
        }
        // Every file is tried; the first failure is reported.
        ["data", "control", LOCK_FILE]
            .map(|file| {
                let path = dir.join(file);
                gone(fs::remove_file(&path), &path)
            })
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_a_private_ipc_directory() {
        let e = Endpoints::resolve("run1", None).unwrap();
        assert!(e.data.starts_with("ipc://") && e.data.ends_with("ipcb_zmq_run1/data"));
        assert!(e.control.ends_with("ipcb_zmq_run1/control"));
    }

    #[test]
    fn tcp_uses_two_ports() {
        let e = Endpoints::resolve("x", Some("tcp://127.0.0.1:5555")).unwrap();
        assert_eq!(
            (e.data.as_str(), e.control.as_str()),
            ("tcp://127.0.0.1:5555", "tcp://127.0.0.1:5556")
        );
    }

    #[test]
    fn bad_endpoints_say_why() {
        for (endpoint, why) in [
            ("tcp://host", "needs a port"),
            ("tcp://host:0", "not a usable port"),
            ("tcp://host:65535", "not a usable port"),
            ("udp://x", "use ipc://"),
        ] {
            let e = Endpoints::resolve("x", Some(endpoint))
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{endpoint}: {e}");
        }
        let long = format!("ipc:///tmp/{}", "d".repeat(120));
        let e = Endpoints::resolve("x", Some(&long))
            .unwrap_err()
            .to_string();
        assert!(e.contains("the limit is 107"), "{e}");
    }
}
