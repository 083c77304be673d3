//! The helper image's files, gathered from this machine: the running
//! gameday binary at `/gameday`, tc, ip and xtables-nft-multi (with the
//! `iptables` and `iptables-save` links) and the xtables modules, and
//! every library they load ([`super::elf`]); packed as a rootfs tar and an
//! image archive (`docker load`'s format) in memory, byte for byte the
//! same for the same files (so the same files make the same image id).

use std::path::{Path, PathBuf};

use super::elf;

/// The tools the helper runs, by the name it runs them.
const TOOLS: [&str; 3] = ["tc", "ip", "xtables-nft-multi"];
/// Where the tools are looked for after `PATH`.
const TOOL_DIRS: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// Why the helper image cannot be assembled here.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AssembleError {
    #[error(
        "`{0}` is not on this machine (searched PATH and {dirs}): the helper image carries it; install iproute2 (tc, ip) and iptables (xtables-nft-multi) here, or run `gameday helper install --engine URL` from a machine that has them",
        dirs = TOOL_DIRS.join(", ")
    )]
    MissingTool(&'static str),
    #[error(
        "no xtables modules directory beside `{0}` (looked for lib/<arch>-linux-gnu/xtables, /usr/lib64/xtables, /usr/lib/xtables): iptables cannot load its matches without it"
    )]
    NoXtablesModules(PathBuf),
    #[error("cannot find the running gameday binary: {0}")]
    Exe(#[source] std::io::Error),
    #[error(transparent)]
    Elf(#[from] elf::ElfError),
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One entry of the image's root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// A file at `path` in the image, copied from `source` (symlinks followed).
    File {
        path: String,
        source: PathBuf,
    },
    Symlink {
        path: String,
        target: String,
    },
    Dir {
        path: String,
        mode: u32,
    },
}

/// The helper image's files, found but not read yet.
#[derive(Debug, Clone)]
pub(crate) struct HelperFiles {
    entries: Vec<Entry>,
    /// The files' total size in bytes: about the image's size.
    pub size: u64,
}

/// A tool's path: the system's directories first, then `PATH`'s absolute ones (never a
/// relative entry such as `.`: what goes into the helper runs as root in
/// the targets' namespaces).
fn find_tool(tool: &'static str) -> Result<PathBuf, AssembleError> {
    let path = std::env::var("PATH").unwrap_or_default();
    TOOL_DIRS
        .iter()
        .copied()
        .chain(path.split(':').filter(|d| d.starts_with('/')))
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
        .ok_or(AssembleError::MissingTool(tool))
}

/// The xtables modules' directory for the xtables-nft-multi at `binary`.
fn xtables_dir(binary: &Path) -> Result<PathBuf, AssembleError> {
    let real = std::fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf());
    let triplet = format!("{}-linux-gnu", std::env::consts::ARCH);
    let prefix = real
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("/usr"));
    [
        prefix.join("lib").join(&triplet).join("xtables"),
        PathBuf::from(format!("/usr/lib/{triplet}/xtables")),
        PathBuf::from("/usr/lib64/xtables"),
        PathBuf::from("/usr/lib/xtables"),
    ]
    .into_iter()
    .find(|d| d.is_dir())
    .ok_or(AssembleError::NoXtablesModules(real))
}

impl HelperFiles {
    /// Find every file of the helper image on this machine.
    pub(crate) fn gather() -> Result<HelperFiles, AssembleError> {
        // Read through /proc: still this very binary if its file was
        // replaced since it started.
        let proc_exe = PathBuf::from("/proc/self/exe");
        let exe = if proc_exe.is_file() {
            proc_exe
        } else {
            std::env::current_exe().map_err(AssembleError::Exe)?
        };
        let tools: Vec<PathBuf> = TOOLS
            .iter()
            .map(|t| find_tool(t))
            .collect::<Result<_, _>>()?;
        let modules_dir = xtables_dir(&tools[2])?;
        let read_dir = |dir: &Path| {
            std::fs::read_dir(dir).map_err(|source| AssembleError::Read {
                path: dir.to_path_buf(),
                source,
            })
        };
        let mut modules: Vec<PathBuf> = read_dir(&modules_dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "so") && p.is_file())
            .collect();
        modules.sort();
        let mut elves = vec![exe.clone()];
        elves.extend(tools.iter().cloned());
        elves.extend(modules.iter().cloned());
        let libraries = elf::closure(&elves)?;
        let mut entries = vec![Entry::File {
            path: "/gameday".into(),
            source: exe,
        }];
        for (name, source) in TOOLS.iter().zip(&tools) {
            entries.push(Entry::File {
                path: format!("/usr/sbin/{name}"),
                source: source.clone(),
            });
        }
        for link in ["iptables", "iptables-save"] {
            entries.push(Entry::Symlink {
                path: format!("/usr/sbin/{link}"),
                target: "xtables-nft-multi".into(),
            });
        }
        for file in modules.iter().chain(&libraries) {
            entries.push(Entry::File {
                path: file.display().to_string(),
                source: file.clone(),
            });
        }
        Ok(HelperFiles::with_dirs(entries))
    }

    /// `entries` with every directory they need (and /run, /tmp, /etc:
    /// iptables locks in /run), sorted, and their size.
    fn with_dirs(mut entries: Vec<Entry>) -> HelperFiles {
        let mut dirs = std::collections::BTreeSet::new();
        for e in &entries {
            let (Entry::File { path, .. } | Entry::Symlink { path, .. }) = e else {
                continue;
            };
            let mut parent = Path::new(path).parent();
            while let Some(p) = parent.filter(|p| *p != Path::new("/")) {
                dirs.insert(p.display().to_string());
                parent = p.parent();
            }
        }
        for extra in ["/run", "/etc"] {
            dirs.insert(extra.to_string());
        }
        entries.push(Entry::Dir {
            path: "/tmp".into(),
            mode: 0o1777,
        });
        entries.extend(
            dirs.into_iter()
                .map(|path| Entry::Dir { path, mode: 0o755 }),
        );
        let key = |e: &Entry| match e {
            Entry::File { path, .. } | Entry::Symlink { path, .. } | Entry::Dir { path, .. } => {
                path.clone()
            }
        };
        entries.sort_by_key(key);
        entries.dedup_by_key(|e| key(e));
        let size = entries
            .iter()
            .map(|e| match e {
                Entry::File { source, .. } => std::fs::metadata(source).map_or(0, |m| m.len()),
                _ => 0,
            })
            .sum();
        HelperFiles { entries, size }
    }

    /// The root filesystem as a tar (one layer).
    pub(crate) fn layer(&self) -> Result<Vec<u8>, AssembleError> {
        let mut tar = Tar::default();
        for e in &self.entries {
            match e {
                Entry::Dir { path, mode } => tar.dir(path, *mode),
                Entry::Symlink { path, target } => tar.symlink(path, target),
                Entry::File { path, source } => {
                    let bytes =
                        std::fs::read(source).map_err(|source_err| AssembleError::Read {
                            path: source.clone(),
                            source: source_err,
                        })?;
                    tar.file(path, 0o755, &bytes);
                }
            }
        }
        Ok(tar.finish())
    }
}

/// An image archive, ready for `POST /images/load`.
pub(crate) struct ImageArchive {
    pub bytes: Vec<u8>,
    /// `sha256:...` of its config: the id the engine gives it.
    pub id: String,
}

/// `sha256` of `bytes`, in hex.
fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The image architecture of this machine, in Docker's words.
fn docker_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The image archive of one `layer`, tagged `tag`, with `labels`.
pub(crate) fn image_archive(
    layer: &[u8],
    tag: &str,
    labels: &std::collections::BTreeMap<String, String>,
) -> ImageArchive {
    let diff = sha256_hex(layer);
    let config = serde_json::json!({
        "architecture": docker_arch(),
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            "Labels": labels,
        },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{diff}")] },
        "history": [{ "created_by": "gameday helper install" }],
    });
    let config = serde_json::to_vec(&config).unwrap_or_default();
    let config_hex = sha256_hex(&config);
    let tag = if tag
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
    {
        tag.to_string()
    } else {
        format!("{tag}:latest")
    };
    let manifest = serde_json::json!([{
        "Config": format!("{config_hex}.json"),
        "RepoTags": [tag],
        "Layers": [format!("{diff}/layer.tar")],
    }]);
    let mut tar = Tar::default();
    tar.dir(&format!("/{diff}"), 0o755);
    tar.file(&format!("/{diff}/layer.tar"), 0o644, layer);
    tar.file(&format!("/{config_hex}.json"), 0o644, &config);
    tar.file(
        "/manifest.json",
        0o644,
        &serde_json::to_vec(&manifest).unwrap_or_default(),
    );
    ImageArchive {
        bytes: tar.finish(),
        id: format!("sha256:{config_hex}"),
    }
}

/// A ustar writer into memory: files, directories, symlinks; owner root,
/// time 0 (the same files give the same bytes).
#[derive(Default)]
struct Tar {
    out: Vec<u8>,
}

impl Tar {
    fn header(&mut self, path: &str, mode: u32, size: usize, kind: u8, link: &str) {
        let mut h = [0u8; 512];
        let path = path.trim_start_matches('/');
        // Names over 100 bytes go in the prefix field up to a `/`.
        let (prefix, name) = match path.len() {
            0..=100 => ("", path),
            _ => {
                let cut = path[..path.len().min(155)].rfind('/').unwrap_or(0);
                (&path[..cut], &path[cut + 1..])
            }
        };
        let put = |h: &mut [u8; 512], at: usize, text: &[u8], width: usize| {
            let n = text.len().min(width);
            h[at..at + n].copy_from_slice(&text[..n]);
        };
        put(&mut h, 0, name.as_bytes(), 100);
        put(&mut h, 100, format!("{mode:07o}\0").as_bytes(), 8);
        put(&mut h, 108, b"0000000\0", 8);
        put(&mut h, 116, b"0000000\0", 8);
        put(&mut h, 124, format!("{size:011o}\0").as_bytes(), 12);
        put(&mut h, 136, b"00000000000\0", 12);
        h[156] = kind;
        put(&mut h, 157, link.as_bytes(), 100);
        put(&mut h, 257, b"ustar\0", 6);
        put(&mut h, 263, b"00", 2);
        put(&mut h, 265, b"root", 32);
        put(&mut h, 297, b"root", 32);
        put(&mut h, 345, prefix.as_bytes(), 155);
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        put(&mut h, 148, format!("{sum:06o}\0 ").as_bytes(), 8);
        self.out.extend_from_slice(&h);
    }

    fn file(&mut self, path: &str, mode: u32, bytes: &[u8]) {
        self.header(path, mode, bytes.len(), b'0', "");
        self.out.extend_from_slice(bytes);
        let pad = (512 - bytes.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0u8, pad));
    }

    fn dir(&mut self, path: &str, mode: u32) {
        self.header(
            &format!("{}/", path.trim_end_matches('/')),
            mode,
            0,
            b'5',
            "",
        );
    }

    fn symlink(&mut self, path: &str, target: &str) {
        self.header(path, 0o777, 0, b'2', target);
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.extend(std::iter::repeat_n(0u8, 1024));
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tar_lists_with_tar_itself() {
        let files = HelperFiles::with_dirs(vec![
            Entry::File {
                path: "/usr/sbin/tool".into(),
                source: PathBuf::from("/proc/self/exe"),
            },
            Entry::Symlink {
                path: "/usr/sbin/alias".into(),
                target: "tool".into(),
            },
            Entry::File {
                path: format!("/usr/lib/{}/deep.so", "d".repeat(120)),
                source: PathBuf::from("/etc/hostname"),
            },
        ]);
        let layer = files.layer().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layer.tar");
        std::fs::write(&path, &layer).unwrap();
        let listed = std::process::Command::new("tar")
            .arg("-tvf")
            .arg(&path)
            .output()
            .unwrap();
        assert!(listed.status.success(), "{listed:?}");
        let text = String::from_utf8_lossy(&listed.stdout);
        assert!(text.contains("usr/sbin/alias -> tool"), "{text}");
        assert!(text.contains("drwxrwxrwt"), "{text}");
        assert!(
            text.contains(&format!("{}/deep.so", "d".repeat(120))),
            "{text}"
        );
        // The same files, the same bytes: the same image id.
        let labels = std::collections::BTreeMap::new();
        assert_eq!(
            image_archive(&layer, "x", &labels).id,
            image_archive(&files.layer().unwrap(), "x", &labels).id
        );
    }
}
