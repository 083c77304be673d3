//! Rendering benchmark, side by side in one run:
//! 1. the HTML, Markdown and JUnit reports of a one-hour run with ten
//!    probes at 10 Hz (360,000 samples), each rendered ten times;
//! 2. the whole of `gameday report` on such a run directory (reading
//!    result.json and streaming samples.jsonl, then writing all three);
//! 3. the real `gameday report` binary on an eight-hour run with fifty
//!    probes at 10 Hz (14.4 million samples, about 1.6 GB of
//!    samples.jsonl, written here first): wall time and peak RSS, against
//!    the same binary on the one-hour run.
//!
//! `cargo bench --bench render` (add `-- --quick` to skip part 3).
//! Prints median, min and max.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use gameday::testing::record::RunRecord;
use gameday::testing::report::{Format, render, synthetic_record, write_all, write_synthetic_run};

/// Run `gameday report DIR` under /usr/bin/time: (seconds, peak RSS in MB).
fn report_binary(dir: &Path) -> (f64, f64) {
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_gameday"))
        .arg("report")
        .arg(dir)
        .output()
        .expect("/usr/bin/time runs gameday");
    let seconds = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "gameday report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kb: f64 = stderr
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("peak RSS from /usr/bin/time");
    (seconds, kb / 1024.0)
}

fn size_mb(path: &Path) -> f64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let record = synthetic_record(10, 10, 3600);
    let count: usize = record.result.probes.iter().map(|p| p.samples).sum();
    println!("one-hour run, 10 probes at 10 Hz: {count} samples");
    println!(
        "{:<8} {:>10} {:>10} {:>10} {:>12}",
        "format", "median", "min", "max", "size"
    );
    let root = std::env::temp_dir().join(format!("gameday-bench-{}", std::process::id()));
    let hour = root.join("hour");
    write_synthetic_run(&hour, 10, 10, 3600).expect("write the one-hour run");
    let mut times = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let loaded = RunRecord::load(&hour).expect("loads");
        write_all(&hour, &loaded, None).expect("writes");
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{:<8} {:>8.1}ms {:>8.1}ms {:>8.1}ms  (load the run directory + write md, html, junit)",
        "report", times[2], times[0], times[4]
    );
    for format in [Format::Html, Format::Md, Format::Junit] {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..10 {
            let start = Instant::now();
            let text = render(&record, format, None).expect("renders");
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            size = text.len();
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{:<8} {:>8.1}ms {:>8.1}ms {:>8.1}ms {:>10}kB",
            format!("{format:?}").to_lowercase(),
            times[times.len() / 2],
            times[0],
            times[times.len() - 1],
            size / 1024
        );
    }
    drop(record);
    if !quick {
        let day = root.join("eight-hours");
        let start = Instant::now();
        let n = write_synthetic_run(&day, 50, 10, 8 * 3600).expect("write the eight-hour run");
        println!(
            "\neight-hour run, 50 probes at 10 Hz: {n} samples, samples.jsonl {:.0} MB (written in {:.1}s)",
            size_mb(&day.join("samples.jsonl")),
            start.elapsed().as_secs_f64()
        );
        println!(
            "{:<34} {:>10} {:>10} {:>10} {:>12} {:>12}",
            "`gameday report RUN_DIR`", "wall", "min", "max", "peak RSS", "report.html"
        );
        for (name, dir) in [
            ("one hour, 360,000 samples", &hour),
            ("eight hours, 14.4M samples", &day),
        ] {
            let mut runs: Vec<(f64, f64)> = (0..3).map(|_| report_binary(dir)).collect();
            runs.sort_by(|a, b| a.0.total_cmp(&b.0));
            let rss = runs.iter().map(|r| r.1).fold(0.0, f64::max);
            println!(
                "{name:<34} {:>9.2}s {:>9.2}s {:>9.2}s {:>9.1} MB {:>9.2} MB",
                runs[1].0,
                runs[0].0,
                runs[2].0,
                rss,
                size_mb(&dir.join("report.html"))
            );
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}
