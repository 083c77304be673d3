//! A small ELF64 reader: what a program needs to be loaded (its loader,
//! `PT_INTERP`, and its libraries, `DT_NEEDED`, found through
//! `DT_RUNPATH`/`DT_RPATH` and the standard directories), read from the
//! file itself, never by running `ldd`: it works where nothing but the
//! files is (gameday's own `FROM scratch` image).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

/// Why a file's dependencies could not be read or found.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ElfError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{0}` is not a 64-bit little-endian ELF file")]
    NotElf(PathBuf),
    #[error("`{0}` is a truncated or malformed ELF file")]
    Malformed(PathBuf),
    #[error("`{library}`, needed by `{by}`, is in none of {searched}")]
    NotFound {
        library: String,
        by: PathBuf,
        searched: String,
    },
}

/// What one ELF file asks of the dynamic loader.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Dynamic {
    /// `PT_INTERP`: the loader (absent in a static executable).
    pub interpreter: Option<String>,
    /// `DT_NEEDED`, in order.
    pub needed: Vec<String>,
    /// `DT_RUNPATH`, else `DT_RPATH`, split at `:`.
    pub search: Vec<String>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn c_str_at(b: &[u8], at: usize) -> Option<String> {
    let rest = b.get(at..)?;
    let end = rest.iter().position(|&c| c == 0)?;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// One program header: type, file offset, virtual address, file size.
struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

/// Read `bytes` (the whole file) as ELF64 little-endian.
pub(crate) fn parse(bytes: &[u8]) -> Option<Dynamic> {
    if bytes.get(..4)? != b"\x7fELF" || *bytes.get(4)? != 2 || *bytes.get(5)? != 1 {
        return None;
    }
    let phoff = usize::try_from(u64_at(bytes, 0x20)?).ok()?;
    let phentsize = usize::from(u16_at(bytes, 0x36)?);
    let phnum = usize::from(u16_at(bytes, 0x38)?);
    let segments: Vec<Segment> = (0..phnum)
        .map(|i| {
            let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
            Some(Segment {
                kind: u32_at(bytes, at)?,
                offset: u64_at(bytes, at + 8)?,
                vaddr: u64_at(bytes, at + 16)?,
                filesz: u64_at(bytes, at + 32)?,
            })
        })
        .collect::<Option<_>>()?;
    let mut dynamic = Dynamic::default();
    if let Some(interp) = segments.iter().find(|s| s.kind == PT_INTERP) {
        dynamic.interpreter = Some(c_str_at(bytes, usize::try_from(interp.offset).ok()?)?);
    }
    let Some(section) = segments.iter().find(|s| s.kind == PT_DYNAMIC) else {
        return Some(dynamic);
    };
    // (tag, value) pairs up to DT_NULL.
    let mut entries = Vec::new();
    let start = usize::try_from(section.offset).ok()?;
    let count = usize::try_from(section.filesz).ok()? / 16;
    for i in 0..count {
        let tag = u64_at(bytes, start + i * 16)?;
        if tag == DT_NULL {
            break;
        }
        entries.push((tag, u64_at(bytes, start + i * 16 + 8)?));
    }
    // DT_STRTAB is an address: the PT_LOAD segment holding it gives its offset.
    let strtab_addr = entries.iter().find(|(t, _)| *t == DT_STRTAB)?.1;
    let strtab = segments
        .iter()
        .filter(|s| s.kind == PT_LOAD)
        .find(|s| strtab_addr >= s.vaddr && strtab_addr < s.vaddr + s.filesz)
        .map(|s| strtab_addr - s.vaddr + s.offset)?;
    let string = |value: u64| c_str_at(bytes, usize::try_from(strtab + value).ok()?);
    for (tag, value) in &entries {
        if *tag == DT_NEEDED {
            dynamic.needed.push(string(*value)?);
        }
    }
    let path_of = |kind| entries.iter().find(|(t, _)| *t == kind).map(|e| e.1);
    if let Some(value) = path_of(DT_RUNPATH).or_else(|| path_of(DT_RPATH)) {
        dynamic.search = string(value)?
            .split(':')
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect();
    }
    Some(dynamic)
}

/// Read the file at `path` as ELF.
pub(crate) fn read(path: &Path) -> Result<Dynamic, ElfError> {
    let bytes = std::fs::read(path).map_err(|source| ElfError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.get(..4) != Some(b"\x7fELF") || bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return Err(ElfError::NotElf(path.to_path_buf()));
    }
    parse(&bytes).ok_or_else(|| ElfError::Malformed(path.to_path_buf()))
}

/// The directories the loader searches after a file's own run path, in
/// its order (no `ld.so.cache` is read: the image has none either).
pub(crate) fn standard_dirs() -> Vec<String> {
    let triplet = format!("{}-linux-gnu", std::env::consts::ARCH);
    vec![
        format!("/lib/{triplet}"),
        format!("/usr/lib/{triplet}"),
        "/lib64".to_string(),
        "/usr/lib64".to_string(),
        "/lib".to_string(),
        "/usr/lib".to_string(),
    ]
}

/// Everything `files` need to be loaded, recursively: the loaders and
/// libraries, each at the path the loader will look for it (a library is
/// found in the first directory that has it). Not `files` themselves.
pub(crate) fn closure(files: &[PathBuf]) -> Result<BTreeSet<PathBuf>, ElfError> {
    let standard = standard_dirs();
    let mut found: BTreeSet<PathBuf> = BTreeSet::new();
    let mut todo: Vec<PathBuf> = files.to_vec();
    let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
    while let Some(file) = todo.pop() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let dynamic = read(&file)?;
        if let Some(interp) = &dynamic.interpreter {
            let interp = PathBuf::from(interp);
            if found.insert(interp.clone()) {
                todo.push(interp);
            }
        }
        let origin = file
            .parent()
            .unwrap_or(Path::new("/"))
            .display()
            .to_string();
        let mut dirs: Vec<String> = dynamic
            .search
            .iter()
            .map(|d| d.replace("$ORIGIN", &origin).replace("${ORIGIN}", &origin))
            .collect();
        dirs.extend(standard.iter().cloned());
        for library in &dynamic.needed {
            let path = if library.contains('/') {
                Some(PathBuf::from(library))
            } else {
                dirs.iter()
                    .map(|d| Path::new(d).join(library))
                    .find(|p| p.is_file())
            };
            let Some(path) = path else {
                return Err(ElfError::NotFound {
                    library: library.clone(),
                    by: file.clone(),
                    searched: dirs.join(", "),
                });
            };
            if found.insert(path.clone()) {
                todo.push(path);
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tc_of_this_machine_needs_libc_and_its_loader() {
        let tc = Path::new("/usr/sbin/tc");
        if !tc.exists() {
            // The helper's own tests need tc; a machine without it has nothing to read.
            assert!(std::env::var("CI").is_err(), "CI has tc");
            return;
        }
        let dynamic = read(tc).unwrap();
        let interp = dynamic
            .interpreter
            .clone()
            .expect("tc is dynamically linked");
        assert!(interp.contains("ld-linux"), "{interp}");
        assert!(dynamic.needed.iter().any(|n| n.starts_with("libc.so")));
        let all = closure(&[tc.to_path_buf()]).unwrap();
        assert!(all.contains(&PathBuf::from(&interp)), "{all:?}");
        assert!(
            all.iter()
                .any(|p| p.file_name().is_some_and(|n| n == "libc.so.6")),
            "{all:?}"
        );
        assert!(all.iter().all(|p| p.is_file()), "{all:?}");
    }

    #[test]
    fn a_static_binary_needs_nothing_and_garbage_is_refused() {
        assert_eq!(parse(b"not an elf file at all"), None);
        let mut header = vec![0u8; 64];
        header[..6].copy_from_slice(b"\x7fELF\x02\x01");
        // No program headers: nothing needed.
        assert_eq!(parse(&header), Some(Dynamic::default()));
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("text");
        std::fs::write(&text, "#!/bin/sh\n").unwrap();
        assert!(matches!(read(&text), Err(ElfError::NotElf(_))));
    }

    #[test]
    fn this_test_binary_resolves_completely() {
        let exe = std::env::current_exe().unwrap();
        let all = closure(&[exe]).unwrap();
        assert!(all.iter().all(|p| p.is_file()), "{all:?}");
    }
}
