//! What a stress worker keeps to whatever the plan said, checked where it
//! works: an `io_stress` or `disk_fill` writes only in a directory on the
//! filesystem the plan found for its path (a symlink in the container
//! cannot lead it to another one), a private tmpfs must be one, and a
//! shared filesystem keeps its reserve free; a `memory_stress` makes
//! itself the OOM killer's last choice only inside a memory limit, and
//! without one takes no more than this host can give.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use super::{Room, Share, bytes, disk_reserve, memory_reserve};

/// The mount tables a worker compares against, read before it enters the
/// container's mount namespace.
pub(super) struct Tables {
    /// The container's (`/proc/PID/mountinfo` of its main process).
    container: String,
    /// This host's, when the worker runs on it (a worker placed in a
    /// helper container sees the helper's own, not the host's).
    host: Option<String>,
}

impl Tables {
    pub(super) fn read(pid: i64, placed: bool) -> Result<Tables, String> {
        let container = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
            .map_err(|e| format!("cannot read the container's mounts: {e}"))?;
        let host = if placed {
            None
        } else {
            Some(
                std::fs::read_to_string("/proc/self/mountinfo")
                    .map_err(|e| format!("cannot read this host's mounts: {e}"))?,
            )
        };
        Ok(Tables { container, host })
    }
}

/// One line of a mountinfo table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MountLine {
    device: (u64, u64),
    point: String,
    fstype: String,
}

fn mount_lines(table: &str) -> Vec<MountLine> {
    table
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fields: Vec<&str> = left.split_whitespace().collect();
            let (major, minor) = fields.get(2)?.split_once(':')?;
            Some(MountLine {
                device: (major.parse().ok()?, minor.parse().ok()?),
                point: unescape(fields.get(4)?),
                fstype: right.split_whitespace().next()?.to_string(),
            })
        })
        .collect()
}

/// Mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(code) = field
                .get(i + 1..i + 4)
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(code);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a directory on device `device` (of filesystem type `magic`
/// for tmpfs) may be written to under `room`: it must be on the mount
/// the plan found, and a private tmpfs must be a tmpfs this host's table
/// does not hold. The error says where the directory really is.
fn check_device(
    device: (u64, u64),
    is_tmpfs: bool,
    dir: &str,
    room: &Room,
    tables: &Tables,
) -> Result<(), String> {
    let container = mount_lines(&tables.container);
    // The last mount at a point is the one on top.
    let planned = container
        .iter()
        .rev()
        .find(|m| m.point == room.mount)
        .ok_or_else(|| {
            format!(
                "{} is not a mount point in the container any more: nothing written",
                room.mount
            )
        })?;
    if planned.device != device {
        let actual = container
            .iter()
            .rev()
            .find(|m| m.device == device)
            .map(|m| format!("the filesystem of {} ({})", m.point, m.fstype))
            .unwrap_or_else(|| "another filesystem".to_string());
        return Err(format!(
            "{dir} leads to {actual}, not to the {} of {} that the plan checked (a symlink in the container?): nothing written",
            planned.fstype, room.mount
        ));
    }
    match room.share {
        Share::Tmpfs if !is_tmpfs || planned.fstype != "tmpfs" => Err(format!(
            "{} is a {}, not the tmpfs the plan found: nothing written",
            room.mount, planned.fstype
        )),
        Share::Tmpfs => {
            let on_host = tables
                .host
                .as_deref()
                .map(mount_lines)
                .unwrap_or_default()
                .into_iter()
                .find(|m| m.device == device);
            match on_host {
                Some(m) => Err(format!(
                    "the tmpfs of {} is mounted on this host too (at {}): it is not the container's own; nothing written",
                    room.mount, m.point
                )),
                None => Ok(()),
            }
        }
        Share::Own | Share::Shared => Ok(()),
    }
}

/// A directory opened for writing and checked against its [`Room`].
pub(super) struct Opened {
    pub(super) dir: std::fs::File,
    share: Share,
}

/// Open `dir` (in the container's mount namespace already) and check it.
pub(super) fn open(dir: &str, room: &Room, tables: &Tables) -> Result<Opened, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOTDIR) => format!("{dir} is not a directory in the container"),
            _ => format!("{dir} in the container: {e}"),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot stat {dir}: {e}"))?;
    let dev = meta.dev();
    let device = (u64::from(libc::major(dev)), u64::from(libc::minor(dev)));
    let is_tmpfs = nix::sys::statfs::fstatfs(file.as_fd())
        .map(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
        .map_err(|e| format!("cannot statfs {dir}: {e}"))?;
    check_device(device, is_tmpfs, dir, room, tables)?;
    Ok(Opened {
        dir: file,
        share: room.share,
    })
}

/// A filesystem's use, as `df` counts it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Usage {
    pub(super) used: u64,
    pub(super) avail: u64,
    pub(super) size: u64,
}

impl Usage {
    pub(super) fn percent(&self) -> f64 {
        let all = self.used + self.avail;
        if all == 0 {
            return 0.0;
        }
        100.0 * self.used as f64 / all as f64
    }
}

/// How much may still be written, and why not more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Left {
    pub(super) bytes: u64,
    /// What is kept free: a shared filesystem's reserve (0 otherwise).
    pub(super) reserve: u64,
}

impl Opened {
    pub(super) fn usage(&self) -> Result<Usage, String> {
        let s =
            nix::sys::statvfs::fstatvfs(self.dir.as_fd()).map_err(|e| format!("statvfs: {e}"))?;
        let frag = s.fragment_size() as u64;
        Ok(Usage {
            used: (s.blocks() as u64 - s.blocks_free() as u64) * frag,
            avail: s.blocks_available() as u64 * frag,
            size: s.blocks() as u64 * frag,
        })
    }

    /// What may be written now: all that is free, or on a shared
    /// filesystem what is free above its reserve.
    pub(super) fn left(&self) -> Result<Left, String> {
        let usage = self.usage()?;
        Ok(left_of(self.share, usage))
    }

    /// A new file in the directory, never one that exists and never
    /// through a symlink.
    pub(super) fn create(&self, path: &str) -> Result<std::fs::File, String> {
        use nix::fcntl::OFlag;
        let name = std::path::Path::new(path)
            .file_name()
            .ok_or_else(|| format!("bad file name {path}"))?;
        nix::fcntl::openat(
            self.dir.as_fd(),
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .map(std::fs::File::from)
        .map_err(|e| format!("cannot create {path} in the container: {e}"))
    }
}

fn left_of(share: Share, usage: Usage) -> Left {
    match share {
        Share::Tmpfs | Share::Own => Left {
            bytes: usage.avail,
            reserve: 0,
        },
        Share::Shared => {
            let reserve = disk_reserve(usage.size);
            Left {
                bytes: usage.avail.saturating_sub(reserve),
                reserve,
            }
        }
    }
}

/// Why a shared filesystem takes nothing more.
pub(super) fn no_room(dir: &str, usage: Usage, left: Left) -> String {
    format!(
        "{dir} is on a filesystem shared with the host or other containers that has {} free, no more than the {} it keeps free: nothing written",
        bytes(usage.avail as f64),
        bytes(left.reserve as f64)
    )
}

/// The memory limit a worker is held to, as its cgroup says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Limit {
    Bytes(u64),
    /// None, or none this worker can see (a helper's parent on cgroup v2).
    Unlimited,
}

/// The limit of the memory cgroup among `dirs` (the container's cgroup
/// directories the worker joined), or of the worker's own (placed in a
/// helper, whose cgroup is a child of the container's: cgroup v1's
/// `hierarchical_memory_limit` counts the parent's limit).
pub(super) fn memory_limit(dirs: &[std::path::PathBuf], placed: bool) -> Limit {
    let own = [
        std::path::PathBuf::from("/sys/fs/cgroup/memory"),
        std::path::PathBuf::from("/sys/fs/cgroup"),
    ];
    let dirs: &[std::path::PathBuf] = if placed { &own } else { dirs };
    let total = host_memory().map(|m| m.total).unwrap_or(u64::MAX);
    dirs.iter()
        .find_map(|dir| {
            let stat = std::fs::read_to_string(dir.join("memory.stat")).ok();
            let v1 = stat.as_deref().and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("hierarchical_memory_limit "))
                    .and_then(|v| v.trim().parse::<u64>().ok())
            });
            let v2 = || {
                std::fs::read_to_string(dir.join("memory.max"))
                    .ok()
                    .map(|v| v.trim().parse::<u64>().unwrap_or(u64::MAX))
            };
            v1.or_else(v2)
        })
        .map(|limit| limit_of(limit, total))
        .unwrap_or(Limit::Unlimited)
}

/// A limit at or above the host's memory limits nothing.
fn limit_of(limit: u64, total: u64) -> Limit {
    if limit >= total {
        Limit::Unlimited
    } else {
        Limit::Bytes(limit)
    }
}

/// This host's memory (`/proc/meminfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HostMemory {
    pub(crate) total: u64,
    pub(crate) available: u64,
}

pub(super) fn host_memory() -> Option<HostMemory> {
    meminfo(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// `MemTotal` and `MemAvailable` of a `/proc/meminfo`, in bytes.
pub(crate) fn meminfo(text: &str) -> Option<HostMemory> {
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let kib: u64 = l
                .strip_prefix(name)?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(kib * 1024)
        })
    };
    Some(HostMemory {
        total: field("MemTotal:")?,
        available: field("MemAvailable:")?,
    })
}

/// Whether `size` more bytes fit in this host's memory, for a worker
/// without a memory limit: an error naming the figures when they do not.
pub(super) fn fits_in_host(size: u64, memory: HostMemory) -> Result<(), String> {
    let reserve = memory_reserve(memory.total);
    let can = memory.available.saturating_sub(reserve);
    if size <= can {
        return Ok(());
    }
    Err(format!(
        "the container has no memory limit, and {} is more than this host can give: {} available (MemAvailable), less a reserve of {}, leaves {}; nothing allocated",
        bytes(size as f64),
        bytes(memory.available as f64),
        bytes(reserve as f64),
        bytes(can as f64)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTAINER: &str = "\
74 49 0:40 / / rw,nodev,noatime master:2 - fuse.fuse-overlayfs fuse-overlayfs rw
91 74 0:41 / /tvol rw,relatime master:3 - tmpfs tmpfs rw,size=8192k
92 74 254:0 /tmp /host\\040tmp rw,relatime - ext4 /dev/vda rw
94 74 0:49 / /data rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,size=16384k
";
    const HOST: &str = "\
26 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
46 45 0:40 / /var/lib/docker/fuse-overlayfs/a0/merged rw shared:2 - fuse.fuse-overlayfs fuse-overlayfs rw
47 45 0:41 / /var/lib/docker/volumes/tv/_data rw,relatime shared:3 - tmpfs tmpfs rw,size=8192k
";

    fn tables(host: Option<&str>) -> Tables {
        Tables {
            container: CONTAINER.to_string(),
            host: host.map(String::from),
        }
    }

    fn room(mount: &str, share: Share) -> Room {
        Room {
            mount: mount.into(),
            share,
        }
    }

    #[test]
    fn a_directory_must_be_on_the_mount_the_plan_found() {
        let t = tables(Some(HOST));
        // /data/x on the tmpfs of /data: fine.
        assert_eq!(
            check_device((0, 49), true, "/data/x", &room("/data", Share::Tmpfs), &t),
            Ok(())
        );
        // /data/escape, a symlink to /tmp: the root filesystem.
        let e = check_device(
            (0, 40),
            false,
            "/data/escape",
            &room("/data", Share::Tmpfs),
            &t,
        )
        .unwrap_err();
        assert!(
            e.contains("/data/escape leads to the filesystem of / (fuse.fuse-overlayfs), not to the tmpfs of /data"),
            "{e}"
        );
        // An escaped mount point is read back.
        assert_eq!(
            check_device(
                (254, 0),
                false,
                "/host tmp",
                &room("/host tmp", Share::Shared),
                &t
            ),
            Ok(())
        );
        let gone = check_device((0, 49), true, "/x", &room("/x", Share::Own), &t).unwrap_err();
        assert!(gone.contains("/x is not a mount point"), "{gone}");
    }

    #[test]
    fn a_private_tmpfs_is_a_tmpfs_this_host_does_not_hold() {
        // A tmpfs volume: mounted on the host at the volume's directory.
        let e = check_device(
            (0, 41),
            true,
            "/tvol",
            &room("/tvol", Share::Tmpfs),
            &tables(Some(HOST)),
        )
        .unwrap_err();
        assert!(
            e.contains("mounted on this host too (at /var/lib/docker/volumes/tv/_data)"),
            "{e}"
        );
        // Seen from a helper, the host's table is not there to look at.
        assert_eq!(
            check_device(
                (0, 41),
                true,
                "/tvol",
                &room("/tvol", Share::Tmpfs),
                &tables(None)
            ),
            Ok(())
        );
        // The root filesystem is no tmpfs.
        let e =
            check_device((0, 40), false, "/", &room("/", Share::Tmpfs), &tables(None)).unwrap_err();
        assert!(
            e.contains("/ is a fuse.fuse-overlayfs, not the tmpfs"),
            "{e}"
        );
    }

    #[test]
    fn a_shared_filesystem_keeps_its_reserve() {
        let gib = 1u64 << 30;
        let usage = Usage {
            used: 50 * gib,
            avail: 40 * gib,
            size: 252 * gib,
        };
        let left = left_of(Share::Shared, usage);
        assert_eq!(left.reserve, 252 * gib / 20);
        assert_eq!(left.bytes, 40 * gib - 252 * gib / 20);
        assert_eq!(left_of(Share::Tmpfs, usage).bytes, 40 * gib);
        let small = Usage {
            used: 0,
            avail: 512 << 20,
            size: 512 << 20,
        };
        assert_eq!(left_of(Share::Shared, small).bytes, 0);
        assert!(no_room("/x", small, left_of(Share::Shared, small)).contains("keeps free"));
    }

    #[test]
    fn memory_limits_and_the_hosts_figures() {
        assert_eq!(limit_of(64 << 20, 24 << 30), Limit::Bytes(64 << 20));
        assert_eq!(limit_of(9223372036854771712, 24 << 30), Limit::Unlimited);
        assert_eq!(limit_of(u64::MAX, 24 << 30), Limit::Unlimited);
        let m =
            meminfo("MemTotal:       24683784 kB\nMemFree:  1 kB\nMemAvailable:   24037236 kB\n")
                .unwrap();
        assert_eq!(m.total, 24683784 * 1024);
        assert_eq!(m.available, 24037236 * 1024);
        assert!(fits_in_host(1 << 30, m).is_ok());
        let e = fits_in_host(m.available, m).unwrap_err();
        assert!(e.contains("(MemAvailable), less a reserve of"), "{e}");
    }
}
