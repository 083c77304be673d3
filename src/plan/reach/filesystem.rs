//! The filesystem a `disk_fill` or `io_stress` writes to in its target,
//! found from the target's mounts: a tmpfs of its own, a volume (of its
//! own, or shared with other containers or the engine's host), a bind
//! mount of the host, or the container's root filesystem on the host's
//! disk; and how the plan says it.

use super::{Disk, HostFacts, TargetFacts, b};
use crate::docker::{MountKind, TmpfsSize};
use crate::fault::stress::{Room, Share, disk_reserve};
use crate::gameday::model::{DiskFillFault, Fault, StressFault};

/// The filesystem a fill or writers use in one container.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filesystem {
    /// The mount point and who else uses it: what the worker checks.
    pub room: Room,
    /// What it is, in words.
    pub what: String,
    /// Its size, when known.
    pub size: Option<u64>,
    /// What it holds and has free now, when known.
    pub disk: Option<Disk>,
    /// Who else uses it, in words (empty: nobody).
    pub sharers: Vec<String>,
    /// A tmpfs: what is written is memory.
    pub memory: bool,
}

/// A writing fault's `path`, and whether it may write to a filesystem
/// shared with the host or other containers; `None` for the other kinds.
pub(super) fn writes(fault: &Fault) -> Option<(&str, bool)> {
    fault.stress()?.writes()
}

/// The filesystem of a fill's or writers' `path` in the container: the
/// mount whose destination is the longest prefix of it, else the root.
pub(super) fn filesystem_of(
    fault: &Fault,
    facts: &TargetFacts,
    host: &HostFacts,
) -> Option<Filesystem> {
    let (path, _) = writes(fault)?;
    let under = |dest: &str| {
        let dest = dest.trim_end_matches('/');
        dest.is_empty() || path == dest || path.starts_with(&format!("{dest}/"))
    };
    let mount = facts
        .placement
        .mounts
        .iter()
        .filter(|m| under(&m.destination))
        .max_by_key(|m| m.destination.trim_end_matches('/').len());
    let Some(mount) = mount else {
        let driver = if facts.placement.storage_driver.is_empty() {
            &host.storage_driver
        } else {
            &facts.placement.storage_driver
        };
        return Some(Filesystem {
            room: Room {
                mount: "/".into(),
                share: Share::Shared,
            },
            what: format!("the container's root filesystem ({driver}) on the engine host's disk"),
            size: host.root_disk.map(|d| d.size),
            disk: host.root_disk,
            sharers: vec!["the engine's host and every container on it".into()],
            memory: false,
        });
    };
    let room = |share| Room {
        mount: mount.destination.clone(),
        share,
    };
    Some(match &mount.kind {
        MountKind::Tmpfs { size } => Filesystem {
            room: room(Share::Tmpfs),
            what: "a tmpfs of its own".into(),
            size: Some(tmpfs_bytes(*size, host)),
            disk: None,
            sharers: Vec::new(),
            memory: true,
        },
        MountKind::Bind { source } => Filesystem {
            room: room(Share::Shared),
            what: format!("a bind mount of {source} of the engine's host"),
            size: facts.disks.get(source).map(|d| d.size),
            disk: facts.disks.get(source).copied(),
            sharers: vec!["the engine's host".into()],
            memory: false,
        },
        MountKind::Volume { name, .. } => volume_filesystem(name, facts, host, room),
        MountKind::Other { kind } => Filesystem {
            room: room(Share::Shared),
            what: format!("a {kind} mount"),
            size: None,
            disk: None,
            sharers: vec!["whatever else mounts it".into()],
            memory: false,
        },
    })
}

fn tmpfs_bytes(size: TmpfsSize, host: &HostFacts) -> u64 {
    match size {
        TmpfsSize::Bytes(n) => n,
        TmpfsSize::OfMemory(p) => (host.mem_total as f64 * p / 100.0) as u64,
    }
}

/// A volume's filesystem: a tmpfs or a device of its own, or a directory
/// of the engine host's disk (the `local` driver's default), a network
/// share, or a driver whose backing gameday cannot see.
fn volume_filesystem(
    name: &str,
    facts: &TargetFacts,
    host: &HostFacts,
    room: impl Fn(Share) -> Room,
) -> Filesystem {
    let volume = facts.volumes.get(name).cloned().unwrap_or_default();
    let option = |key: &str| volume.detail.options.get(key).map(String::as_str);
    let others: Vec<String> = volume
        .users
        .iter()
        .map(|u| format!("container `{u}`"))
        .collect();
    let (what, backing, memory, size) = match (volume.detail.driver.as_str(), option("type")) {
        ("local", Some("tmpfs")) => (
            format!("volume `{name}`, a tmpfs"),
            None,
            true,
            Some(tmpfs_bytes(
                TmpfsSize::of_options(option("o").unwrap_or_default()),
                host,
            )),
        ),
        ("local", Some(kind @ ("nfs" | "nfs4" | "cifs" | "smb3"))) => (
            format!(
                "volume `{name}`, {kind} share {}",
                option("device").unwrap_or("?")
            ),
            Some("the machines that share it".to_string()),
            false,
            volume.disk.map(|d| d.size),
        ),
        ("local", Some(kind))
            if !option("o")
                .unwrap_or_default()
                .split(',')
                .any(|o| o == "bind") =>
        {
            (
                format!(
                    "volume `{name}`, {kind} on {}",
                    option("device").unwrap_or("?")
                ),
                None,
                false,
                volume.disk.map(|d| d.size),
            )
        }
        ("local", _) => (
            format!("volume `{name}`, a directory of the engine host's disk"),
            Some("the engine's host".to_string()),
            false,
            volume.disk.map(|d| d.size),
        ),
        (driver, _) => (
            format!("volume `{name}` of driver `{driver}`, whose backing gameday cannot see"),
            Some(format!("whatever else driver `{driver}` serves it to")),
            false,
            None,
        ),
    };
    let sharers: Vec<String> = backing.into_iter().chain(others).collect();
    Filesystem {
        room: room(if sharers.is_empty() {
            Share::Own
        } else {
            Share::Shared
        }),
        what,
        size,
        disk: volume.disk,
        sharers,
        memory,
    }
}

impl Filesystem {
    /// `filesystem of /data in x: a tmpfs of its own (16MiB), shared with
    /// nobody; fills it to 90% (up to 14.4MiB)`
    pub(super) fn line(&self, fault: &Fault, container: &str) -> String {
        let size = match (self.disk, self.size) {
            (Some(d), _) => format!(" ({}, {} free)", b(d.size), b(d.avail)),
            (None, Some(s)) => format!(" ({})", b(s)),
            (None, None) => " (its size is checked when applied)".into(),
        };
        let shared = if self.sharers.is_empty() {
            "shared with nobody".to_string()
        } else {
            format!(
                "shared with {} (shared_filesystem: true)",
                self.sharers.join(", ")
            )
        };
        format!(
            "filesystem of {} in {container}: {}{size}, {shared}; {}",
            self.room.mount,
            self.what,
            self.written(fault)
        )
    }

    /// How much will be written, in words, with the reserve a shared
    /// filesystem keeps.
    fn written(&self, fault: &Fault) -> String {
        let reserve = match (self.room.share, self.size) {
            (Share::Shared, Some(size)) => Some(disk_reserve(size)),
            (Share::Shared, None) => None,
            (Share::Tmpfs | Share::Own, _) => Some(0),
        };
        let room = match (self.disk, reserve) {
            (Some(d), Some(r)) => Some(d.avail.saturating_sub(r)),
            _ => None,
        };
        let keeps = match (self.room.share, reserve) {
            (Share::Shared, Some(r)) => format!(", never leaving less than {} free", b(r)),
            (Share::Shared, None) => {
                ", never leaving less than 5% of it (at least 1GiB) free".to_string()
            }
            (Share::Tmpfs | Share::Own, _) => String::new(),
        };
        match fault.stress() {
            Some(StressFault::Io(i)) => format!(
                "rewrites {} file{} of {} with fsync{keeps}",
                i.workers,
                if i.workers == 1 { "" } else { "s" },
                i.size
            ),
            Some(StressFault::DiskFill(d)) => self.filled(d, room, &keeps),
            Some(StressFault::Cpu(_) | StressFault::Memory(_)) | None => String::new(),
        }
    }

    /// What a fill writes, in words: what it asks for, what that is in
    /// bytes now when known, and what a shared filesystem's reserve
    /// leaves of it.
    fn filled(&self, d: &DiskFillFault, room: Option<u64>, keeps: &str) -> String {
        // What it asks for, what that is in bytes now when known, and notes.
        let (asked, want, mut notes) = match (d.fill, d.size, self.disk, self.size) {
            (Some(p), _, Some(disk), _) => {
                let target = (disk.used + disk.avail) as f64 * p.0 / 100.0;
                let want = (target - disk.used as f64).max(0.0) as u64;
                (
                    format!("fills it to {p}"),
                    Some(want),
                    vec![format!("about {} now", b(want))],
                )
            }
            (Some(p), _, None, Some(size)) => (
                format!("fills it to {p}"),
                None,
                vec![format!("up to {}", b((size as f64 * p.0 / 100.0) as u64))],
            ),
            (Some(p), _, None, None) => (
                format!("fills it to {p}"),
                None,
                vec!["how much is checked when applied".to_string()],
            ),
            (None, Some(size), _, _) => (format!("writes {size}"), Some(size.0 as u64), vec![]),
            (None, None, _, _) => ("fills it".to_string(), None, vec![]),
        };
        if let (Some(want), Some(room), Share::Shared) = (want, room, self.room.share)
            && want > room
        {
            notes.push(format!("capped at {}", b(room)));
        }
        if notes.is_empty() {
            format!("{asked}{keeps}")
        } else {
            format!("{asked} ({}){keeps}", notes.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{GIB, gameday, inventory, refusals};
    use super::*;
    use crate::docker::{Mount, MountKind, TmpfsSize, VolumeDetail};
    use crate::plan::reach::VolumeFacts;
    use crate::plan::resolve::tests::resolve;

    fn mount(destination: &str, kind: MountKind) -> Mount {
        Mount {
            destination: destination.into(),
            kind,
        }
    }

    fn tmpfs(destination: &str, size: u64) -> Mount {
        mount(
            destination,
            MountKind::Tmpfs {
                size: TmpfsSize::Bytes(size),
            },
        )
    }

    fn volume(name: &str, options: &[(&str, &str)], users: &[&str]) -> (Mount, VolumeFacts) {
        (
            mount(
                "/vol",
                MountKind::Volume {
                    name: name.into(),
                    driver: "local".into(),
                },
            ),
            VolumeFacts {
                detail: VolumeDetail {
                    driver: "local".into(),
                    mountpoint: format!("/var/lib/docker/volumes/{name}/_data"),
                    options: options
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                },
                users: users.iter().map(|u| u.to_string()).collect(),
                disk: None,
            },
        )
    }

    /// The filesystem the plan finds for `fault` on api, and its line.
    fn found(fault: &str, edit: impl Fn(&str, &mut TargetFacts)) -> (Filesystem, String) {
        let plan = resolve(gameday(&format!("      - {fault}\n")), inventory(edit))
            .unwrap_or_else(|e| panic!("{e:?}"));
        let resolved = &plan.scenarios[0].faults[0];
        let reached = &resolved.reach[0];
        (
            reached.filesystem.clone().expect("a filesystem"),
            reached.lines(&resolved.fault).join("\n"),
        )
    }

    #[test]
    fn the_mount_is_the_longest_prefix_of_the_path() {
        let mounts = |_: &str, f: &mut TargetFacts| {
            f.placement.mounts = vec![tmpfs("/data", 16 << 20), tmpfs("/data/sub/", 8 << 20)];
        };
        let at = |path: &str| {
            found(
                &format!("disk_fill: {{ service: api, path: {path}, size: 1MiB, shared_filesystem: true }}"),
                mounts,
            )
            .0
            .room
            .mount
        };
        assert_eq!(at("/data"), "/data");
        assert_eq!(at("/data/x"), "/data");
        assert_eq!(at("/data/sub/x"), "/data/sub/");
        assert_eq!(at("/database"), "/");
        assert_eq!(at("/tmp"), "/");
    }

    #[test]
    fn a_tmpfs_of_its_own_is_filled_to_the_full() {
        let (fs, line) = found(
            "disk_fill: { service: api, path: /data, fill: 100% }",
            |_, f| f.placement.mounts = vec![tmpfs("/data", 16 << 20)],
        );
        assert_eq!(
            fs.room,
            Room {
                mount: "/data".into(),
                share: Share::Tmpfs
            }
        );
        assert_eq!(
            line,
            "filesystem of /data in demo_api_1: a tmpfs of its own (16MiB), shared with nobody; fills it to 100% (up to 16MiB)\n\
             memory of demo_api_1: no limit; takes up to 16MiB of the 17.6GiB its host can give (20GiB available on this host (MemAvailable), less a reserve of 2.4GiB)"
        );
        // A tmpfs is memory: without a limit, the host's.
        let big =
            |_: &str, f: &mut TargetFacts| f.placement.mounts = vec![tmpfs("/data", 20 * GIB)];
        let refused = refusals(
            "      - io_stress: { service: api, path: /data, workers: 4, size: 5GiB }\n",
            inventory(big),
        );
        assert!(
            refused[0].contains("`io_stress` writes up to 20GiB to the tmpfs of /data (memory) in `demo_api_1`, which has no memory limit, would take it from the engine's host"),
            "{refused:?}"
        );
    }

    #[test]
    fn a_shared_filesystem_needs_to_be_allowed_and_keeps_its_reserve() {
        let refused = refusals(
            "      - disk_fill: { service: api, path: /tmp, fill: 95% }\n",
            inventory(|_, _| {}),
        );
        assert_eq!(refused.len(), 1);
        assert!(
            refused[0].starts_with("6:22 `disk_fill` of /tmp in `demo_api_1` would write to the container's root filesystem (overlay2) on the engine host's disk, shared with the engine's host and every container on it"),
            "{}",
            refused[0]
        );
        assert!(
            refused[0].contains("add `shared_filesystem: true`"),
            "{}",
            refused[0]
        );
        let (fs, line) = found(
            "disk_fill: { service: api, path: /tmp, size: 50GiB, shared_filesystem: true }",
            |_, _| {},
        );
        assert_eq!(fs.room.share, Share::Shared);
        assert_eq!(
            line,
            "filesystem of / in demo_api_1: the container's root filesystem (overlay2) on the engine host's disk (100GiB, 40GiB free), shared with the engine's host and every container on it (shared_filesystem: true); writes 50GiB (capped at 35GiB), never leaving less than 5GiB free"
        );
        let (_, line) = found(
            "disk_fill: { service: api, path: /tmp, fill: 70%, shared_filesystem: true }",
            |_, _| {},
        );
        assert!(
            line.ends_with("fills it to 70% (about 10GiB now), never leaving less than 5GiB free"),
            "{line}"
        );
        let bind = |_: &str, f: &mut TargetFacts| {
            f.placement.mounts = vec![mount(
                "/srv",
                MountKind::Bind {
                    source: "/srv/data".into(),
                },
            )];
        };
        let refused = refusals(
            "      - io_stress: { service: api, path: /srv }\n",
            inventory(bind),
        );
        assert!(
            refused[0].contains("would write to a bind mount of /srv/data of the engine's host, shared with the engine's host"),
            "{refused:?}"
        );
        let (_, line) = found(
            "io_stress: { service: api, path: /srv, shared_filesystem: true }",
            bind,
        );
        assert!(
            line.contains("(its size is checked when applied)")
                && line.ends_with("rewrites 1 file of 64MiB with fsync, never leaving less than 5% of it (at least 1GiB) free"),
            "{line}"
        );
    }

    #[test]
    fn a_volume_is_its_own_when_nothing_else_uses_it_or_backs_it() {
        let with = |v: (Mount, VolumeFacts)| {
            move |_: &str, f: &mut TargetFacts| {
                f.placement.mounts = vec![v.0.clone()];
                f.volumes.insert("v".into(), v.1.clone());
            }
        };
        let fill = "disk_fill: { service: api, path: /vol, fill: 100%, shared_filesystem: true }";
        let tmpfs_alone = volume(
            "v",
            &[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=8m")],
            &[],
        );
        let (fs, _) = found(fill, with(tmpfs_alone));
        assert_eq!(
            (fs.room.share, fs.memory, fs.size),
            (Share::Own, true, Some(8 << 20))
        );
        let device = volume("v", &[("type", "ext4"), ("device", "/dev/loop3")], &[]);
        let (fs, _) = found(fill, with(device));
        assert_eq!(
            (fs.room.share, fs.what.as_str()),
            (Share::Own, "volume `v`, ext4 on /dev/loop3")
        );
        let plain = volume("v", &[], &[]);
        let (fs, _) = found(fill, with(plain));
        assert_eq!(fs.room.share, Share::Shared);
        assert_eq!(fs.sharers, ["the engine's host"]);
        let bound = volume(
            "v",
            &[("type", "none"), ("o", "bind"), ("device", "/srv")],
            &[],
        );
        assert_eq!(found(fill, with(bound)).0.room.share, Share::Shared);
        let nfs = volume("v", &[("type", "nfs"), ("device", ":/export")], &[]);
        assert_eq!(
            found(fill, with(nfs)).0.sharers,
            ["the machines that share it"]
        );
        let used = volume("v", &[("type", "tmpfs"), ("device", "tmpfs")], &["other_1"]);
        let refused = refusals(
            "      - disk_fill: { service: api, path: /vol/x, size: 1MiB }\n",
            inventory(with(used)),
        );
        assert!(
            refused[0]
                .contains("would write to volume `v`, a tmpfs, shared with container `other_1`"),
            "{refused:?}"
        );
    }
}
