//! Rendering benchmark: the HTML, Markdown and JUnit reports of a one-hour
//! run with ten probes at 10 Hz (360,000 samples), side by side in one run.
//! Also the whole of `gameday report` on such a run directory: reading
//! result.json and 360,000 samples, then writing all three reports.
//! `cargo bench --bench render`. Prints median, min and max of 10 renders.

use std::time::Instant;

use gameday::testing::record::RunRecord;
use gameday::testing::report::{Format, render, synthetic_record, write_all};

fn main() {
    let record = synthetic_record(10, 10, 3600);
    println!(
        "one-hour run, 10 probes at 10 Hz: {} samples",
        record.samples.len()
    );
    println!(
        "{:<8} {:>10} {:>10} {:>10} {:>12}",
        "format", "median", "min", "max", "size"
    );
    let dir = std::env::temp_dir().join(format!("gameday-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("result.json"),
        serde_json::to_vec(&record.result).expect("json"),
    )
    .expect("write");
    let mut samples = String::new();
    for row in &record.samples {
        samples.push_str(&serde_json::to_string(row).expect("json"));
        samples.push('\n');
    }
    std::fs::write(dir.join("samples.jsonl"), samples).expect("write");
    let mut times = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let loaded = RunRecord::load(&dir).expect("loads");
        write_all(&dir, &loaded, None).expect("writes");
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{:<8} {:>8.1}ms {:>8.1}ms {:>8.1}ms  (load the run directory + write md, html, junit)",
        "report", times[2], times[0], times[4]
    );
    let _ = std::fs::remove_dir_all(&dir);
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
}
