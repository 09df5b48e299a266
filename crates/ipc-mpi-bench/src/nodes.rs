//! Which ranks share a machine, and the address ZeroMQ readers on other machines use:
//! the same rules as the Python harness's nodes.py.
//!
//! MPI says which ranks share memory (`MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)`); a
//! node is one such group, numbered in the order of its lowest rank, so the writer is
//! always on node 0. Tests pretend to have several machines with
//! `IPCB_NODE_OF_RANK="0,0,1,1"` (the node of every rank); the result file then says
//! `"forced": true`.

use std::collections::HashMap;
use std::ffi::CStr;
use std::net::{IpAddr, TcpListener, ToSocketAddrs};

use serde::Serialize;

/// The test override: the node of every rank, comma-separated.
pub const NODE_ENV: &str = "IPCB_NODE_OF_RANK";

/// `metadata.config.nodes`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Nodes {
    pub count: usize,
    pub rank_node: Vec<usize>,
    pub forced: bool,
}

impl Nodes {
    /// From any labels of the ranks' nodes, renumbered 0, 1, ... in order of first
    /// appearance.
    pub fn numbered(labels: &[u64], forced: bool) -> Nodes {
        let mut index: HashMap<u64, usize> = HashMap::new();
        let rank_node: Vec<usize> = labels
            .iter()
            .map(|l| {
                let next = index.len();
                *index.entry(*l).or_insert(next)
            })
            .collect();
        Nodes {
            count: index.len(),
            rank_node,
            forced,
        }
    }

    /// What [`NODE_ENV`] says, for a world of `ranks`.
    pub fn from_override(text: &str, ranks: usize) -> Result<Nodes, String> {
        let labels: Vec<u64> = text
            .split(',')
            .map(|p| p.trim().parse())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                format!(
                    "{NODE_ENV}={text:?}: expected comma-separated node numbers, one per \
                     rank, e.g. 0,0,1,1"
                )
            })?;
        if labels.len() != ranks {
            return Err(format!(
                "{NODE_ENV}={text:?}: expected {ranks} node numbers >= 0, one per rank, got {}",
                labels.len()
            ));
        }
        Ok(Nodes::numbered(&labels, true))
    }

    /// Whether any of the first `readers` readers is on another node than rank 0.
    pub fn cross_node(&self, readers: usize) -> bool {
        self.rank_node
            .iter()
            .skip(1)
            .take(readers)
            .any(|&n| n != self.rank_node[0])
    }
}

/// The address the writer's ZeroMQ sockets bind when readers are on other nodes:
/// `--zmq-host`, else `--zmq-interface`'s IPv4 address, else what the host name
/// resolves to (its first IPv4 address, as Python's `gethostbyname` gives).
pub fn zmq_host(host: Option<&str>, interface: Option<&str>) -> Result<String, String> {
    if let Some(h) = host {
        return Ok(h.to_owned());
    }
    if let Some(name) = interface {
        return interface_address(name)
            .ok_or_else(|| format!("--zmq-interface {name}: no IPv4 address"));
    }
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("cannot read the host name: {e}"))?;
    let addrs: Vec<IpAddr> = (name.as_str(), 0)
        .to_socket_addrs()
        .map_err(|e| {
            format!(
                "the host name {name:?} does not resolve ({e}): give --zmq-host or --zmq-interface"
            )
        })?
        .map(|a| a.ip())
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(IpAddr::to_string)
        .ok_or_else(|| format!("the host name {name:?} has no address: give --zmq-host"))
}

pub fn is_loopback(host: &str) -> bool {
    host.parse::<IpAddr>()
        .map_or(host == "localhost", |a| a.is_loopback())
}

pub fn tcp_endpoint(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("tcp://[{host}]:{port}")
    } else {
        format!("tcp://{host}:{port}")
    }
}

/// A port p such that p and p + 1 are both free on `host` now (the ZeroMQ store binds
/// both). Another process may take them before the store binds: that bind then fails
/// with "Address already in use", which fails the case and says so.
pub fn free_port_pair(host: &str) -> Result<u16, String> {
    for _ in 0..50 {
        let first = TcpListener::bind((host, 0)).map_err(|e| format!("binding {host}: {e}"))?;
        let port = first
            .local_addr()
            .map_err(|e| format!("binding {host}: {e}"))?
            .port();
        if port >= u16::MAX - 1 {
            continue;
        }
        if TcpListener::bind((host, port + 1)).is_ok() {
            return Ok(port);
        }
    }
    Err(format!(
        "no two free consecutive tcp ports on {host} in 50 tries"
    ))
}

/// The first IPv4 address of the interface `name`.
fn interface_address(name: &str) -> Option<String> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list and points `list` at it; freed below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return None;
    }
    let mut found = None;
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: every node of the list getifaddrs returned is valid until freeifaddrs;
        // ifa_name is a NUL-terminated string, and an AF_INET ifa_addr is a sockaddr_in.
        unsafe {
            let entry = &*cursor;
            let addr = entry.ifa_addr;
            if !addr.is_null()
                && i32::from((*addr).sa_family) == libc::AF_INET
                && CStr::from_ptr(entry.ifa_name).to_bytes() == name.as_bytes()
            {
                let sin = &*(addr as *const libc::sockaddr_in);
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                found = Some(ip.to_string());
                break;
            }
            cursor = entry.ifa_next;
        }
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_numbered_from_the_writer() {
        let n = Nodes::numbered(&[7, 7, 3, 9, 3], false);
        assert_eq!((n.rank_node.clone(), n.count), (vec![0, 0, 1, 2, 1], 3));
        assert!(!n.cross_node(1) && n.cross_node(2));
    }

    #[test]
    fn the_override_needs_one_node_per_rank() {
        let n = Nodes::from_override("0,0,1,1", 4).expect("fits");
        assert_eq!((n.count, n.forced), (2, true));
        assert!(Nodes::from_override("0,1", 4)
            .expect_err("too short")
            .contains("expected 4 node numbers"));
        assert!(Nodes::from_override("0,x", 2).is_err());
    }

    #[test]
    fn addresses() {
        assert_eq!(tcp_endpoint("10.0.0.1", 5), "tcp://10.0.0.1:5");
        assert_eq!(tcp_endpoint("::1", 5), "tcp://[::1]:5");
        assert!(is_loopback("127.0.0.1") && is_loopback("::1") && !is_loopback("10.0.0.1"));
        assert_eq!(interface_address("lo").as_deref(), Some("127.0.0.1"));
        let port = free_port_pair("127.0.0.1").expect("free ports");
        assert!(TcpListener::bind(("127.0.0.1", port + 1)).is_ok());
    }
}
