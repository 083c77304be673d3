//! The files of a run directory, opened so that a hostile one (an archive
//! copied from elsewhere, a `result.json` edited by hand) cannot turn
//! against whoever reads it: a name `result.json` gives (`samples_file`)
//! must be a relative path of plain names inside the run directory (no
//! absolute path, no `..`); no component may be a symbolic link (each is
//! opened from the one before with `O_NOFOLLOW`); and what is found must be
//! a regular file (checked with `fstat` on a descriptor that does not open
//! it for reading first, so `/dev/zero`, a FIFO or a tape drive are refused
//! without being touched), read up to a size that fits what it holds.
//! Files written into a run directory replace what is there through a new
//! file renamed over it, so a link planted in the directory is replaced,
//! never followed.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;

/// Why a file of a run directory is not read.
#[derive(Debug, thiserror::Error)]
pub enum ConfinedError {
    #[error("{what} `{name}` is not a file inside the run directory {dir}: {why}")]
    Outside {
        dir: String,
        name: String,
        what: &'static str,
        why: &'static str,
    },
    #[error(
        "{path} is a symbolic link: the files of a run directory are read only as the regular files it holds"
    )]
    Link { path: String },
    #[error("{path} is {kind}, where {what} (a regular file) was expected")]
    NotRegular {
        path: String,
        what: &'static str,
        kind: &'static str,
    },
    #[error("{path} is {size} bytes: more than {what} ever takes ({limit} bytes at most)")]
    TooLarge {
        path: String,
        what: &'static str,
        size: u64,
        limit: u64,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The plain names of a relative path; why not, otherwise.
fn plain_names(name: &str) -> Result<Vec<&std::ffi::OsStr>, &'static str> {
    let mut names = Vec::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(n) => names.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err("`..` leads out of it"),
            Component::RootDir | Component::Prefix(_) => {
                return Err("an absolute path leads out of it");
            }
        }
    }
    if names.is_empty() {
        return Err("it names no file");
    }
    Ok(names)
}

/// What a non-regular file is, in words.
fn kind_of(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Open `name` (`what` it is, for messages) inside `dir` for reading;
/// `None` when it is not there.
pub(crate) fn open(
    dir: &Path,
    name: &str,
    what: &'static str,
) -> Result<Option<File>, ConfinedError> {
    let path = dir.join(name).display().to_string();
    let names = plain_names(name).map_err(|why| ConfinedError::Outside {
        dir: dir.display().to_string(),
        name: name.to_string(),
        what,
        why,
    })?;
    let read_error = |source: std::io::Error| ConfinedError::Read {
        path: path.clone(),
        source,
    };
    let errno = |e: Errno| -> Result<Option<File>, ConfinedError> {
        match e {
            Errno::ENOENT => Ok(None),
            Errno::ELOOP => Err(ConfinedError::Link { path: path.clone() }),
            e => Err(read_error(std::io::Error::from(e))),
        }
    };
    let mut at: OwnedFd = match File::open(dir) {
        Ok(d) => d.into(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_error(e)),
    };
    let (last, parents) = names.split_last().expect("plain_names gives one at least");
    let mut walked = dir.to_path_buf();
    for parent in parents {
        walked.push(parent);
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        at = match openat(at.as_fd(), *parent, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOTDIR) => {
                // A link to a directory reads as "not a directory" here.
                let shown = walked.display().to_string();
                let link = openat(
                    at.as_fd(),
                    *parent,
                    OFlag::O_PATH | OFlag::O_NOFOLLOW,
                    Mode::empty(),
                )
                .ok()
                .and_then(|fd| File::from(fd).metadata().ok())
                .is_some_and(|m| m.file_type().is_symlink());
                return Err(if link {
                    ConfinedError::Link { path: shown }
                } else {
                    ConfinedError::NotRegular {
                        path: shown,
                        what: "a directory of the run",
                        kind: "not a directory",
                    }
                });
            }
            Err(e) => return errno(e),
        };
    }
    // Looked at without being opened: a device's open may do something.
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let looked = match openat(at.as_fd(), *last, flags, Mode::empty()) {
        Ok(fd) => File::from(fd),
        Err(e) => return errno(e),
    };
    let seen = looked.metadata().map_err(read_error)?;
    if seen.file_type().is_symlink() {
        return Err(ConfinedError::Link { path });
    }
    if !seen.file_type().is_file() {
        return Err(ConfinedError::NotRegular {
            path,
            what,
            kind: kind_of(seen.file_type()),
        });
    }
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let file = match openat(at.as_fd(), *last, flags, Mode::empty()) {
        Ok(fd) => File::from(fd),
        Err(e) => return errno(e),
    };
    // The same file as the one looked at, not one put there since.
    let opened = file.metadata().map_err(read_error)?;
    if (opened.dev(), opened.ino()) != (seen.dev(), seen.ino()) || !opened.file_type().is_file() {
        return Err(read_error(std::io::Error::other(
            "it was replaced while being opened",
        )));
    }
    Ok(Some(file))
}

/// The bytes of `name` inside `dir`, at most `limit` of them; `None` when
/// it is not there.
pub(crate) fn read_bounded(
    dir: &Path,
    name: &str,
    what: &'static str,
    limit: u64,
) -> Result<Option<Vec<u8>>, ConfinedError> {
    let Some(file) = open(dir, name, what)? else {
        return Ok(None);
    };
    let path = || dir.join(name).display().to_string();
    let too_large = |size| ConfinedError::TooLarge {
        path: path(),
        what,
        size,
        limit,
    };
    let size = file
        .metadata()
        .map_err(|source| ConfinedError::Read {
            path: path(),
            source,
        })?
        .len();
    if size > limit {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    // It may grow while read: never past the limit.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| ConfinedError::Read {
            path: path(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(Some(bytes))
}

/// Is `name` inside `dir` a regular file of at most `limit` bytes (false
/// when it is not there)? For a file read by a reader of its own.
pub(crate) fn check(
    dir: &Path,
    name: &str,
    what: &'static str,
    limit: u64,
) -> Result<bool, ConfinedError> {
    let Some(file) = open(dir, name, what)? else {
        return Ok(false);
    };
    let path = dir.join(name).display().to_string();
    let size = file
        .metadata()
        .map_err(|source| ConfinedError::Read {
            path: path.clone(),
            source,
        })?
        .len();
    if size > limit {
        return Err(ConfinedError::TooLarge {
            path,
            what,
            size,
            limit,
        });
    }
    Ok(true)
}

/// Write `bytes` as `file_name` in `dir`: into a new file (created, never
/// opened through a link), then renamed over whatever had the name (a
/// symbolic link is replaced, not followed).
pub(crate) fn write_replacing(dir: &Path, file_name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    // One left by a killed writer, or planted: removed, not followed.
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes));
    let renamed = written.and_then(|()| std::fs::rename(&tmp, dir.join(file_name)));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(dir: &Path, name: &str) -> String {
        match open(dir, name, "the samples file") {
            Err(e) => e.to_string(),
            Ok(f) => panic!("{name} was opened: {f:?}"),
        }
    }

    #[test]
    fn only_regular_files_inside_the_directory_are_opened() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("samples.jsonl"), "{}\n").unwrap();
        std::fs::write(dir.join("sub/s.jsonl"), "{}\n").unwrap();
        std::fs::write(tmp.path().join("outside"), "{}\n").unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero")).unwrap();
        std::os::unix::fs::symlink("samples.jsonl", dir.join("relative")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), dir.join("up")).unwrap();
        nix::unistd::mkfifo(&dir.join("fifo"), Mode::S_IRWXU).unwrap();

        assert!(open(&dir, "samples.jsonl", "x").unwrap().is_some());
        assert!(open(&dir, "./sub/s.jsonl", "x").unwrap().is_some());
        assert!(open(&dir, "missing.jsonl", "x").unwrap().is_none());
        assert!(refused(&dir, "/dev/zero").contains("an absolute path leads out of it"));
        assert!(refused(&dir, "../outside").contains("`..` leads out of it"));
        assert!(refused(&dir, "sub/../../outside").contains("`..`"));
        assert!(refused(&dir, "").contains("it names no file"));
        assert!(refused(&dir, "zero").ends_with("zero is a symbolic link: the files of a run directory are read only as the regular files it holds"));
        assert!(refused(&dir, "relative").contains("is a symbolic link"));
        assert!(refused(&dir, "up/outside").contains("is a symbolic link"));
        assert!(
            refused(&dir, "fifo")
                .ends_with("fifo is a FIFO, where the samples file (a regular file) was expected")
        );
        assert!(refused(&dir, "sub").contains("is a directory"));
        assert!(refused(&dir, "samples.jsonl/x").contains("not a directory"));
    }

    #[test]
    fn reading_stops_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("result.json"), vec![b' '; 100]).unwrap();
        let bytes = read_bounded(dir.path(), "result.json", "a result", 100).unwrap();
        assert_eq!(bytes.map(|b| b.len()), Some(100));
        let e = read_bounded(dir.path(), "result.json", "a result", 99).unwrap_err();
        assert!(
            e.to_string().ends_with(
                "result.json is 100 bytes: more than a result ever takes (99 bytes at most)"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_planted_link_is_replaced_never_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        let dir = tmp.path().join("run");
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("report.html")).unwrap();
        let planted = dir.join(format!(".report.html.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        write_replacing(&dir, "report.html", b"<html>").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        assert_eq!(
            std::fs::read_to_string(dir.join("report.html")).unwrap(),
            "<html>"
        );
        assert!(!dir.join("report.html").is_symlink() && !planted.exists());
    }
}
