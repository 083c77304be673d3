//! What `gameday init` reads of a container to write a first gameday:
//! its labels, command and environment (to guess whom it talks to), its
//! image (the server it runs), its published ports, its addresses, whether
//! it has a HEALTHCHECK. And what the plan reads of a stress or process
//! fault's target to bound its reach ([`Placement`]: memory limit, PID
//! namespace, mounts), of the engine's host ([`EngineHost`]) and of the
//! volumes it mounts. Read only.

use super::*;

/// A port the container publishes on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    /// The host address it is bound to (`127.0.0.1`, `0.0.0.0`, ...).
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// A container as `init` sees it.
#[derive(Debug, Clone, Default)]
pub struct ContainerDetail {
    pub id: String,
    pub labels: HashMap<String, String>,
    /// `Config.Image`: the image as the container was created from it
    /// (`postgres:16`), which names the server it runs.
    pub image: String,
    /// `Config.Cmd` and `Config.Entrypoint`, joined.
    pub command: Vec<String>,
    /// `NAME=value` lines. Read to find the names of other services; never printed.
    pub env: Vec<String>,
    pub published: Vec<PublishedPort>,
    /// IPv4 addresses on its networks.
    pub addresses: Vec<String>,
    /// Its HEALTHCHECK as an argv run inside it (`CMD-SHELL` as
    /// `/bin/sh -c ...`, as Docker runs it), if it has one.
    pub healthcheck: Option<Vec<String>>,
    /// How often Docker runs it (`Healthcheck.Interval`, nanoseconds; 0
    /// when unset: Docker's 30s).
    pub healthcheck_interval_ns: u64,
    /// The PID of its first process on the engine's host (0 when not running).
    pub pid: i64,
}

impl Engine {
    /// Read what `init` needs of one container.
    pub async fn detail(&self, id: &str) -> Result<ContainerDetail, DockerError> {
        let info = self
            .client
            .inspect_container(id, None)
            .await
            .map_err(|e| DockerError::classify(e, id))?;
        let config = info.config.unwrap_or_default();
        let mut command = config.entrypoint.unwrap_or_default();
        command.extend(config.cmd.unwrap_or_default());
        let healthcheck_interval_ns = config
            .healthcheck
            .as_ref()
            .and_then(|h| h.interval)
            .and_then(|ns| u64::try_from(ns).ok())
            .unwrap_or(0);
        let healthcheck = config
            .healthcheck
            .and_then(|h| h.test)
            .and_then(|test| healthcheck_argv(&test));
        let settings = info.network_settings.unwrap_or_default();
        let mut published = Vec::new();
        for (key, bindings) in settings.ports.unwrap_or_default() {
            let (port, protocol) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
            let Ok(container_port) = port.parse::<u16>() else {
                continue;
            };
            for b in bindings.unwrap_or_default() {
                let Some(host_port) = b.host_port.and_then(|p| p.parse::<u16>().ok()) else {
                    continue;
                };
                published.push(PublishedPort {
                    host_ip: b.host_ip.unwrap_or_default(),
                    host_port,
                    container_port,
                    protocol: protocol.to_string(),
                });
            }
        }
        // Docker lists an IPv6 binding beside the IPv4 one: keep one per port.
        published.sort_by(|a, b| {
            (
                a.container_port,
                a.host_port,
                &a.protocol,
                a.host_ip.contains(':'),
            )
                .cmp(&(
                    b.container_port,
                    b.host_port,
                    &b.protocol,
                    b.host_ip.contains(':'),
                ))
        });
        published.dedup_by(|a, b| {
            a.container_port == b.container_port
                && a.host_port == b.host_port
                && a.protocol == b.protocol
        });
        let addresses = settings
            .networks
            .unwrap_or_default()
            .into_values()
            .filter_map(|e| e.ip_address)
            .filter(|ip| !ip.is_empty())
            .collect();
        Ok(ContainerDetail {
            id: info.id.unwrap_or_default(),
            labels: config.labels.unwrap_or_default(),
            image: config.image.unwrap_or_default(),
            command,
            env: config.env.unwrap_or_default(),
            published,
            addresses,
            healthcheck,
            healthcheck_interval_ns,
            pid: info.state.and_then(|s| s.pid).unwrap_or(0),
        })
    }
}

/// What the reach of a resource or process fault depends on in one
/// container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// `HostConfig.Memory` in bytes; 0: no limit.
    pub memory_limit: u64,
    /// `HostConfig.PidMode`: empty (its own), `host` or `container:<id>`.
    pub pid_mode: String,
    /// The storage driver of its root filesystem (`GraphDriver.Name`).
    pub storage_driver: String,
    /// Its mounts (tmpfs, volumes, binds), in no particular order.
    pub mounts: Vec<Mount>,
}

/// One mount of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it is in the container.
    pub destination: String,
    pub kind: MountKind,
}

/// What a container's mount is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// A tmpfs mounted for this container alone (`--tmpfs`, `type: tmpfs`).
    Tmpfs { size: TmpfsSize },
    /// A named volume.
    Volume { name: String, driver: String },
    /// A directory of the engine's host.
    Bind { source: String },
    /// Anything else (an image mount, a named pipe).
    Other { kind: String },
}

/// A tmpfs's size limit, as given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TmpfsSize {
    Bytes(u64),
    /// A share of the host's memory (`size=50%`; also the kernel's default).
    OfMemory(f64),
}

impl Eq for TmpfsSize {}

impl TmpfsSize {
    /// The `size=` of tmpfs mount options (`size=16m,mode=1777`), the
    /// kernel's default (half the memory) without one.
    pub fn of_options(options: &str) -> TmpfsSize {
        options
            .split(',')
            .find_map(|o| o.trim().strip_prefix("size="))
            .and_then(TmpfsSize::parse)
            .unwrap_or(TmpfsSize::OfMemory(50.0))
    }

    /// `16m`, `1g`, `4096`, `1k`, `50%` (the suffixes tmpfs takes).
    fn parse(text: &str) -> Option<TmpfsSize> {
        let text = text.trim().to_ascii_lowercase();
        if let Some(p) = text.strip_suffix('%') {
            return p.parse().ok().map(TmpfsSize::OfMemory);
        }
        let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let scale: u64 = match &text[digits.len()..] {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            "t" | "tb" | "tib" => 1 << 40,
            _ => return None,
        };
        Some(TmpfsSize::Bytes(
            digits.parse::<u64>().ok()?.checked_mul(scale)?,
        ))
    }
}

/// What the plan reads of an engine's host (`/info`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineHost {
    /// `MemTotal`: the memory of the engine's host, in bytes.
    pub mem_total: u64,
    /// Where the engine keeps images, containers and volumes on its host.
    pub docker_root_dir: String,
    /// Its storage driver (`overlay2`, `fuse-overlayfs`, ...).
    pub storage_driver: String,
}

/// A named volume, as the engine describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeDetail {
    pub driver: String,
    /// Where it is on the engine's host.
    pub mountpoint: String,
    /// The driver's options (for `local`: `type`, `device`, `o`).
    pub options: std::collections::BTreeMap<String, String>,
}

impl Engine {
    /// The memory limit, PID namespace and mounts of one container.
    pub async fn placement(&self, id: &str) -> Result<Placement, DockerError> {
        let info = self
            .client
            .inspect_container(id, None)
            .await
            .map_err(|e| DockerError::classify(e, id))?;
        let host = info.host_config.unwrap_or_default();
        let mut mounts: Vec<Mount> = host
            .tmpfs
            .unwrap_or_default()
            .into_iter()
            .map(|(destination, options)| Mount {
                destination,
                kind: MountKind::Tmpfs {
                    size: TmpfsSize::of_options(&options),
                },
            })
            .collect();
        // `--mount type=tmpfs` sizes are in HostConfig.Mounts only.
        let tmpfs_sizes: HashMap<String, u64> = host
            .mounts
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let size = m.tmpfs_options?.size_bytes.filter(|s| *s > 0)?;
                Some((m.target?, size as u64))
            })
            .collect();
        for m in info.mounts.unwrap_or_default() {
            let Some(destination) = m.destination else {
                continue;
            };
            if mounts.iter().any(|known| known.destination == destination) {
                continue;
            }
            let kind = match m.typ.map(|t| t.to_string()).as_deref() {
                Some("tmpfs") => MountKind::Tmpfs {
                    size: tmpfs_sizes
                        .get(&destination)
                        .map(|b| TmpfsSize::Bytes(*b))
                        .unwrap_or(TmpfsSize::OfMemory(50.0)),
                },
                Some("volume") => MountKind::Volume {
                    name: m.name.unwrap_or_default(),
                    driver: m.driver.unwrap_or_default(),
                },
                Some("bind") => MountKind::Bind {
                    source: m.source.unwrap_or_default(),
                },
                other => MountKind::Other {
                    kind: other.unwrap_or("unknown").to_string(),
                },
            };
            mounts.push(Mount { destination, kind });
        }
        Ok(Placement {
            memory_limit: host.memory.unwrap_or(0).max(0) as u64,
            pid_mode: host.pid_mode.unwrap_or_default(),
            storage_driver: info.graph_driver.map(|g| g.name).unwrap_or_default(),
            mounts,
        })
    }

    /// The engine's host: its memory, where it keeps its data, its
    /// storage driver.
    pub async fn engine_host(&self) -> Result<EngineHost, DockerError> {
        let info = self
            .client
            .info()
            .await
            .map_err(|e| DockerError::classify(e, "info"))?;
        Ok(EngineHost {
            mem_total: info.mem_total.unwrap_or(0).max(0) as u64,
            docker_root_dir: info.docker_root_dir.unwrap_or_default(),
            storage_driver: info.driver.unwrap_or_default(),
        })
    }

    /// A named volume's driver, place on the host and options.
    pub async fn volume(&self, name: &str) -> Result<VolumeDetail, DockerError> {
        let v = self
            .client
            .inspect_volume(name)
            .await
            .map_err(|e| DockerError::classify(e, name))?;
        Ok(VolumeDetail {
            driver: v.driver,
            mountpoint: v.mountpoint,
            options: v.options.into_iter().collect(),
        })
    }

    /// The names of every container of the engine (running or not) that
    /// mounts volume `name`.
    pub async fn volume_users(&self, name: &str) -> Result<Vec<String>, DockerError> {
        let filters = HashMap::from([("volume".to_string(), vec![name.to_string()])]);
        let list = self
            .client
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|e| DockerError::classify(e, name))?;
        let mut names: Vec<String> = list
            .into_iter()
            // Belt and braces: the filter matches a mount point too.
            .filter(|c| {
                c.mounts
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .any(|m| m.name.as_deref() == Some(name))
            })
            .filter_map(|c| {
                let first = c.names?.into_iter().next()?;
                Some(first.trim_start_matches('/').to_string())
            })
            .collect();
        names.sort();
        Ok(names)
    }
}

/// A HEALTHCHECK's `test` as an argv: `["CMD", args...]` as it is,
/// `["CMD-SHELL", line]` through `/bin/sh -c` (as Docker runs it); none for
/// `NONE` or an inherited empty test.
fn healthcheck_argv(test: &[String]) -> Option<Vec<String>> {
    match test.split_first()? {
        (kind, args) if kind == "CMD" && !args.is_empty() => Some(args.to_vec()),
        (kind, [line]) if kind == "CMD-SHELL" => {
            Some(vec!["/bin/sh".into(), "-c".into(), line.clone()])
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{TmpfsSize, healthcheck_argv};

    #[test]
    fn tmpfs_sizes_are_read_as_tmpfs_takes_them() {
        assert_eq!(
            TmpfsSize::of_options("size=16m"),
            TmpfsSize::Bytes(16 << 20)
        );
        assert_eq!(
            TmpfsSize::of_options("rw,noexec,size=1G,mode=1777"),
            TmpfsSize::Bytes(1 << 30)
        );
        assert_eq!(TmpfsSize::of_options("size=4096"), TmpfsSize::Bytes(4096));
        assert_eq!(TmpfsSize::of_options("size=25%"), TmpfsSize::OfMemory(25.0));
        assert_eq!(TmpfsSize::of_options(""), TmpfsSize::OfMemory(50.0));
        assert_eq!(
            TmpfsSize::of_options("size=lots"),
            TmpfsSize::OfMemory(50.0)
        );
    }

    #[test]
    fn healthchecks_become_argv() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            healthcheck_argv(&v(&["CMD", "pg_isready", "-q"])),
            Some(v(&["pg_isready", "-q"]))
        );
        assert_eq!(
            healthcheck_argv(&v(&["CMD-SHELL", "curl -f localhost || exit 1"])),
            Some(v(&["/bin/sh", "-c", "curl -f localhost || exit 1"]))
        );
        assert_eq!(healthcheck_argv(&v(&["NONE"])), None);
        assert_eq!(healthcheck_argv(&v(&["CMD"])), None);
    }
}
