//! `gameday report` over run directories that were not left by `gameday
//! run`: an archive copied from elsewhere, a `result.json` edited by hand.
//! What `result.json` names (`samples_file`) must be a regular file inside
//! its run directory, and so must the files a run directory holds
//! (`result.json`, `journal.jsonl`, `annotations.json`): `/dev/zero`, a
//! path out of the directory, a symbolic link or a FIFO is refused at once
//! with exit 2 and a message naming the file, in a few megabytes. A link
//! planted where a report is written is replaced, never written through.
//! A run directory named `javascript:alert(1)` is linked from `index.html`
//! as a relative path (`./javascript%3Aalert%281%29/report.html`), never as
//! a URL of that scheme.

use std::ffi::OsStr;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How `gameday` ended, and what it cost.
struct Ended {
    code: Option<i32>,
    stderr: String,
    /// Its peak resident memory, in MiB (from `wait4`).
    peak_mib: f64,
    took: Duration,
}

/// A cap on the heap of the `gameday` under test (RLIMIT_DATA): an
/// unbounded read dies there, never takes the machine's memory. Far above
/// what a report of these runs takes (a few MiB).
const HEAP_CAP: u64 = 1 << 30;

/// `gameday ARGS`, its heap capped, killed after 30 s.
fn gameday(args: &[&OsStr]) -> Ended {
    use std::os::unix::process::CommandExt as _;
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("gameday"));
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    // SAFETY: only setrlimit between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let cap = libc::rlimit {
                rlim_cur: HEAP_CAP,
                rlim_max: HEAP_CAP,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &cap) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    #[expect(
        clippy::zombie_processes,
        reason = "reaped below by wait4, which gives its peak memory too"
    )]
    let mut child = cmd.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: our own child, reaped here (not through `child`).
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == pid {
            break;
        }
        assert!(reaped == 0, "wait4: {}", std::io::Error::last_os_error());
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gameday {args:?} still running after 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ended {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        stderr: reader.join().unwrap(),
        peak_mib: usage.ru_maxrss as f64 / 1024.0,
        took: started.elapsed(),
    }
}

fn report(run: &Path) -> Ended {
    gameday(&[OsStr::new("report"), run.as_os_str()])
}

/// A run directory as `gameday run` leaves it: 2 probes at 10 Hz for a minute.
fn a_run(dir: &Path) -> PathBuf {
    gameday::testing::report::write_synthetic_run(dir, 2, 10, 60).unwrap();
    dir.to_path_buf()
}

/// Its `result.json` with `samples_file` set to `name`.
fn naming_samples(run: &Path, name: &str) {
    let path = run.join("result.json");
    let mut result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    result["samples_file"] = serde_json::Value::String(name.into());
    std::fs::write(&path, serde_json::to_vec_pretty(&result).unwrap()).unwrap();
}

/// What is done to a run directory.
type Damage = Box<dyn Fn(&Path)>;

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn what_a_run_directory_names_or_holds_outside_it_is_refused_at_once_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    // The untouched run renders: the yardstick.
    let fine = report(&a_run(&base.join("fine")));
    assert_eq!(fine.code, Some(0), "{}", fine.stderr);
    let html = std::fs::read_to_string(base.join("fine/report.html")).unwrap();
    assert!(
        html.contains("<polyline points="),
        "its samples were charted"
    );
    std::fs::write(base.join("outside.jsonl"), "").unwrap();
    let cases: Vec<(&str, Damage)> = vec![
        (
            "samples_file: /dev/zero",
            Box::new(|r| naming_samples(r, "/dev/zero")),
        ),
        (
            "samples_file: ../outside.jsonl",
            Box::new(|r| naming_samples(r, "../outside.jsonl")),
        ),
        (
            "samples_file: an absolute path",
            Box::new(|r| {
                let outside = r.parent().unwrap().join("outside.jsonl");
                naming_samples(r, outside.to_str().unwrap())
            }),
        ),
        (
            "samples.jsonl a link to /dev/zero",
            Box::new(|r| {
                std::fs::remove_file(r.join("samples.jsonl")).unwrap();
                std::os::unix::fs::symlink("/dev/zero", r.join("samples.jsonl")).unwrap();
            }),
        ),
        (
            "samples.jsonl a FIFO",
            Box::new(|r| {
                std::fs::remove_file(r.join("samples.jsonl")).unwrap();
                mkfifo(&r.join("samples.jsonl"));
            }),
        ),
        (
            "result.json a link to /dev/zero",
            Box::new(|r| {
                std::fs::remove_file(r.join("result.json")).unwrap();
                std::os::unix::fs::symlink("/dev/zero", r.join("result.json")).unwrap();
            }),
        ),
        (
            "journal.jsonl a link to /dev/zero",
            Box::new(|r| std::os::unix::fs::symlink("/dev/zero", r.join("journal.jsonl")).unwrap()),
        ),
        (
            "annotations.json a link to /dev/zero",
            Box::new(|r| {
                std::os::unix::fs::symlink("/dev/zero", r.join("annotations.json")).unwrap()
            }),
        ),
    ];
    let mut said = String::new();
    for (i, (case, damage)) in cases.iter().enumerate() {
        let run = a_run(&base.join(format!("run{i}")));
        damage(&run);
        let ended = report(&run);
        eprintln!(
            "{case}: exit {:?} in {:.2} s, peak {:.1} MiB (the untouched run: {:.1} MiB)",
            ended.code,
            ended.took.as_secs_f64(),
            ended.peak_mib,
            fine.peak_mib
        );
        assert_eq!(ended.code, Some(2), "{case}: {}", ended.stderr);
        assert!(
            ended.took < Duration::from_secs(10),
            "{case}: {:?}",
            ended.took
        );
        assert!(
            ended.peak_mib < fine.peak_mib + 16.0,
            "{case}: {:.1} MiB",
            ended.peak_mib
        );
        assert!(
            !run.join("report.html").exists(),
            "{case}: a report was written"
        );
        assert!(
            ended.stderr.starts_with("error:"),
            "{case}: {}",
            ended.stderr
        );
        let text = ended.stderr.replace(base.to_str().unwrap(), "[TMP]");
        said.push_str(&format!("{case}:\n{text}\n"));
    }
    insta::assert_snapshot!("refusals", said);
}

#[test]
fn a_link_planted_where_a_report_is_written_is_replaced_never_written_through() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim.txt");
    std::fs::write(&victim, "not a report").unwrap();
    let run = a_run(&tmp.path().join("run"));
    for name in ["report.html", "report.md", "junit.xml"] {
        std::os::unix::fs::symlink(&victim, run.join(name)).unwrap();
    }
    let ended = report(&run);
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "not a report");
    for name in ["report.html", "report.md", "junit.xml"] {
        let meta = std::fs::symlink_metadata(run.join(name)).unwrap();
        assert!(meta.file_type().is_file() && meta.len() > 0, "{name}");
    }
}

/// Percent-decoding, as a browser resolves a link's path.
fn decoded(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&path[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn a_run_directory_named_like_a_script_url_is_linked_as_a_relative_path() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();
    for name in ["javascript:alert(1)", "2026-11-01 run #1?x", "ok-run"] {
        let run = a_run(&out.join(name));
        assert_eq!(report(&run).code, Some(0));
    }
    let ended = gameday(&[
        OsStr::new("report"),
        OsStr::new("--index"),
        OsStr::new("--out"),
        out.as_os_str(),
    ]);
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    let links: Vec<&str> = html
        .split("href=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .collect();
    assert_eq!(links.len(), 3, "{links:?}");
    assert!(
        links.contains(&"./javascript%3Aalert%281%29/report.html"),
        "{links:?}"
    );
    assert!(!html.contains("href=\"javascript:"));
    for link in &links {
        // A path relative to the index (no scheme: nothing before a `:`
        // but `.`), which resolves to the run's report.
        assert!(link.starts_with("./"), "{link}");
        assert!(out.join(decoded(link)).is_file(), "{link} does not resolve");
    }
}
