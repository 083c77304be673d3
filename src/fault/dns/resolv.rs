//! The container's resolvers, read from its `/etc/resolv.conf` as the
//! container itself would read it: every symlink on the way resolved inside
//! the container's root (never on this host: through `/proc/PID/root` an
//! absolute link would name a host file), a regular file only (a FIFO or a
//! device such as `/dev/zero` is refused, never waited on), and at most
//! [`MOST`] bytes of it (the file is the container's to write).

use std::ffi::CString;
use std::io::Read;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The most of a resolv.conf read: a real one is a few lines.
pub(super) const MOST: usize = 8 * 1024;

/// The file, as the container sees it.
const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The resolvers of container process `pid` (its root is `/proc/PID/root`),
/// or, `placed` in a helper container that shares its network namespace,
/// of this container (Docker gives it the target's file).
pub(super) fn resolvers(pid: i64, placed: bool) -> Result<Vec<SocketAddr>, String> {
    let root = if placed {
        "/".to_string()
    } else {
        format!("/proc/{pid}/root")
    };
    let text = match read_in_root(&root, RESOLV_CONF, MOST) {
        Err(ReadError::NoOpenat2) if !placed => read_in_mount_namespace(pid, RESOLV_CONF, MOST),
        Err(ReadError::NoOpenat2) => read_plain(RESOLV_CONF, MOST),
        other => other.map_err(String::from),
    }
    .map_err(|e| format!("cannot read the container's {RESOLV_CONF}: {e}"))?;
    let found = nameservers(&text);
    if found.is_empty() {
        return Err(format!("the container's {RESOLV_CONF} names no nameserver"));
    }
    Ok(found)
}

/// The `nameserver` lines' addresses, on port 53.
pub(super) fn nameservers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

#[derive(Debug, PartialEq)]
pub(super) enum ReadError {
    /// The kernel has no openat2(2) (before Linux 5.6), or it is filtered.
    NoOpenat2,
    Other(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NoOpenat2 => f.write_str("this kernel has no openat2 (Linux 5.6)"),
            ReadError::Other(e) => f.write_str(e),
        }
    }
}

impl From<ReadError> for String {
    fn from(e: ReadError) -> String {
        e.to_string()
    }
}

/// Read `path` (absolute, as seen from `root`) with `root` as the root
/// directory of the walk: `..` and absolute symlinks stay inside it, magic
/// links (`/proc/self/...`) are refused (openat2 `RESOLVE_IN_ROOT`).
pub(super) fn read_in_root(root: &str, path: &str, most: usize) -> Result<String, ReadError> {
    let cstr = |s: &str| CString::new(s).map_err(|_| ReadError::Other(format!("bad path {s:?}")));
    let root_c = cstr(root)?;
    // SAFETY: a NUL-terminated path; the descriptor is owned just below.
    let dir = unsafe {
        libc::open(
            root_c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if dir < 0 {
        return Err(ReadError::Other(format!(
            "cannot open {root}: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: a descriptor just opened, owned by nothing else.
    let dir = unsafe { OwnedFd::from_raw_fd(dir) };
    // SAFETY: open_how is plain integers; zero is "no flag" for each.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    let path_c = cstr(path)?;
    // SAFETY: a directory descriptor we own, a NUL-terminated path and an
    // open_how of the size given.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path_c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ENOSYS) => ReadError::NoOpenat2,
            _ => ReadError::Other(format!("cannot open {path}: {e}")),
        });
    }
    // SAFETY: a descriptor openat2 just returned, owned by nothing else.
    let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    read_bounded(file, path, most).map_err(ReadError::Other)
}

/// Read at most `most` bytes of `file`, a regular file; a last line cut
/// by the limit is left out (half an address is another address).
fn read_bounded(file: std::fs::File, path: &str, most: usize) -> Result<String, String> {
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot look at {path}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{path} is not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(most as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    if bytes.len() > most {
        bytes.truncate(most);
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |n| n + 1);
        bytes.truncate(whole);
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Without openat2, in a helper container: its own file, bounded (Docker
/// bind-mounts it; it is no symlink to follow elsewhere).
fn read_plain(path: &str, most: usize) -> Result<String, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("cannot open {path}: {e}"))?;
    read_bounded(file, path, most)
}

/// Without openat2: read `path` from inside the container's mount
/// namespace (entered, then left again), where its symlinks resolve as the
/// container's own. The worker calls this while it has one thread, as
/// setns(2) into a mount namespace requires.
fn read_in_mount_namespace(pid: i64, path: &str, most: usize) -> Result<String, String> {
    use nix::sched::{CloneFlags, setns};
    let own = std::fs::File::open("/proc/self/ns/mnt")
        .map_err(|e| format!("cannot open this process's mount namespace: {e}"))?;
    let theirs = std::fs::File::open(format!("/proc/{pid}/ns/mnt"))
        .map_err(|e| format!("cannot open the container's mount namespace: {e}"))?;
    setns(&theirs, CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("cannot enter the container's mount namespace: {e}"))?;
    let read = read_plain_following(path, most);
    setns(&own, CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("cannot leave the container's mount namespace: {e}"))?;
    read
}

/// `path` opened as the container would (symlinks followed, inside its
/// mount namespace), bounded.
fn read_plain_following(path: &str, most: usize) -> Result<String, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| format!("cannot open {path}: {e}"))?;
    read_bounded(file, path, most)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root_and_only_regular_files_are_read() {
        let root = tempfile::tempdir().unwrap();
        let host = tempfile::tempdir().unwrap();
        let host_file = host.path().join("resolv.conf");
        std::fs::write(&host_file, "nameserver 10.99.0.1\n").unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        // An absolute link to a file that exists on the host only: inside
        // the root it names nothing.
        std::os::unix::fs::symlink(&host_file, root.path().join("etc/resolv.conf")).unwrap();
        let r = root.path().to_str().unwrap();
        let err = read_in_root(r, "/etc/resolv.conf", MOST).unwrap_err();
        assert!(
            matches!(&err, ReadError::Other(e) if e.contains("No such file")),
            "{err:?}"
        );
        // The same path made inside the root is what is read.
        let inside = root.path().join(host_file.strip_prefix("/").unwrap());
        std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
        std::fs::write(&inside, "nameserver 127.0.0.11\n").unwrap();
        assert_eq!(
            read_in_root(r, "/etc/resolv.conf", MOST).unwrap(),
            "nameserver 127.0.0.11\n"
        );
        // `..` cannot climb out of the root either.
        std::fs::remove_file(root.path().join("etc/resolv.conf")).unwrap();
        let climb = format!("../../../../..{}", host_file.display());
        std::os::unix::fs::symlink(&climb, root.path().join("etc/resolv.conf")).unwrap();
        assert_eq!(
            read_in_root(r, "/etc/resolv.conf", MOST).unwrap(),
            "nameserver 127.0.0.11\n"
        );
        // A device is refused, not read until memory runs out.
        let err = read_in_root("/", "/dev/zero", MOST).unwrap_err();
        assert_eq!(
            err,
            ReadError::Other("/dev/zero is not a regular file".into())
        );
    }

    #[test]
    fn a_long_file_is_read_up_to_the_limit_without_its_cut_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = "nameserver 10.0.0.1\n".repeat(10);
        text.push_str("nameserver 10.0.0.123\n");
        std::fs::write(dir.path().join("r"), &text).unwrap();
        let r = dir.path().to_str().unwrap();
        let read = read_in_root(r, "/r", 200 + 15).unwrap();
        assert_eq!(read.len(), 200);
        assert_eq!(
            nameservers(&read).len(),
            10,
            "not 10.0.0.1 from the cut line"
        );
        assert_eq!(nameservers(&text).len(), 11);
    }
}
