//! `samples.jsonl`: every probe sample, one JSON object a line. The runner
//! writes each sample as its result arrives ([`SampleWriter`]), so what it
//! holds does not grow with the run; every reader streams the file
//! ([`Samples::for_each`]) and keeps only what it folds the samples into.
//!
//! Lines are in the order results were known (by end); a probe's runs may
//! overlap, so a reader that needs a probe's samples in start order puts
//! them through [`StartOrder`], which holds back at most a probe timeout's
//! worth. A line that cannot be read is counted and skipped, never fatal.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::probe::ProbeSample;

/// One line of `samples.jsonl`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SampleRow {
    pub probe: String,
    #[serde(flatten)]
    pub sample: ProbeSample,
}

/// One line as written: the probe's name borrowed, never copied per sample.
#[derive(serde::Serialize)]
struct RowRef<'a> {
    probe: &'a str,
    #[serde(flatten)]
    sample: &'a ProbeSample,
}

/// Appends samples to `samples.jsonl` as they arrive, buffered.
pub(crate) struct SampleWriter {
    out: BufWriter<File>,
    path: PathBuf,
    /// The first write error, kept so the run is told once, at the end.
    error: Option<std::io::Error>,
}

impl SampleWriter {
    pub(crate) fn create(path: &Path) -> std::io::Result<SampleWriter> {
        Ok(SampleWriter {
            out: BufWriter::with_capacity(64 * 1024, File::create(path)?),
            path: path.to_path_buf(),
            error: None,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Write one sample. A failed write (disk full) is remembered and
    /// reported by [`SampleWriter::finish`]; the run goes on, its faults
    /// are still reverted.
    pub(crate) fn write(&mut self, probe: &str, sample: &ProbeSample) {
        if self.error.is_some() {
            return;
        }
        let row = RowRef { probe, sample };
        let written = serde_json::to_writer(&mut self.out, &row)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = written {
            self.error = Some(e);
        }
    }

    /// Flush and sync; the first error of the run, if any.
    pub(crate) fn finish(mut self) -> std::io::Result<PathBuf> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        Ok(self.path)
    }
}

/// A run's samples: its `samples.jsonl` streamed, or rows in memory
/// (tests and synthetic records).
#[derive(Debug, Clone, Default)]
pub struct Samples {
    file: Option<PathBuf>,
    rows: Vec<SampleRow>,
}

impl Samples {
    /// The samples of a file, read when asked for.
    pub fn file(path: PathBuf) -> Samples {
        Samples {
            file: Some(path),
            rows: Vec::new(),
        }
    }

    pub fn memory(rows: Vec<SampleRow>) -> Samples {
        Samples { file: None, rows }
    }

    /// Every sample, in the order of the file. Returns how many lines could
    /// not be read (skipped). A missing file has no samples.
    pub fn for_each(&self, mut f: impl FnMut(&SampleRow)) -> usize {
        let Some(path) = &self.file else {
            self.rows.iter().for_each(f);
            return 0;
        };
        let Ok(file) = File::open(path) else {
            return 0;
        };
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut line = Vec::with_capacity(512);
        let mut damaged = 0;
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => {
                    damaged += 1;
                    break;
                }
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            if text.is_empty() {
                continue;
            }
            match serde_json::from_slice::<SampleRow>(text) {
                Ok(row) => f(&row),
                Err(_) => damaged += 1,
            }
        }
        damaged
    }

    /// The rows in memory, reading the file first if need be (tests).
    pub fn in_memory(&mut self) -> &mut Vec<SampleRow> {
        if let Some(path) = self.file.take() {
            let mut rows = Vec::new();
            Samples::file(path).for_each(|r| rows.push(r.clone()));
            self.rows = rows;
        }
        &mut self.rows
    }
}

/// A sample waiting in [`StartOrder`], earliest start first.
struct Held(ProbeSample);

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.0.t_ms == other.0.t_ms
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: the earliest start is the greatest.
        other.0.t_ms.total_cmp(&self.0.t_ms)
    }
}

/// One probe's samples, arriving in the order their results were known,
/// handed on in start order. A run never lasts longer than its probe's
/// timeout, so a sample that started more than `lag_ms` before the latest
/// result cannot be overtaken any more: it is released. Holds at most
/// `lag_ms` of samples.
pub(crate) struct StartOrder {
    lag_ms: f64,
    held: BinaryHeap<Held>,
}

impl StartOrder {
    pub(crate) fn new(lag_ms: f64) -> StartOrder {
        StartOrder {
            lag_ms,
            held: BinaryHeap::new(),
        }
    }

    /// Take a sample in; hand on every sample that can no longer be overtaken.
    pub(crate) fn push(&mut self, sample: ProbeSample, mut out: impl FnMut(ProbeSample)) {
        let known = sample.end_ms();
        self.held.push(Held(sample));
        while self
            .held
            .peek()
            .is_some_and(|h| h.0.t_ms < known - self.lag_ms)
        {
            if let Some(Held(s)) = self.held.pop() {
                out(s);
            }
        }
    }

    /// Hand on the rest, in start order.
    pub(crate) fn drain(&mut self, mut out: impl FnMut(ProbeSample)) {
        while let Some(Held(s)) = self.held.pop() {
            out(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_ms: f64, latency_ms: f64) -> ProbeSample {
        ProbeSample {
            t_ms,
            latency_ms,
            ok: true,
            ..Default::default()
        }
    }

    #[test]
    fn overlapping_runs_come_out_in_start_order() {
        // Known by end: a slow run started at 0 ends after faster ones.
        let arrivals = [
            sample(100.0, 5.0),
            sample(200.0, 5.0),
            sample(0.0, 2000.0),
            sample(2100.0, 5.0),
            sample(4000.0, 5.0),
            sample(3000.0, 1500.0),
        ];
        let mut order = StartOrder::new(2500.0);
        let mut out = Vec::new();
        for s in arrivals {
            order.push(s, |s| out.push(s.t_ms));
        }
        // Released early: only what could not be overtaken any more.
        assert_eq!(out, vec![0.0, 100.0, 200.0]);
        order.drain(|s| out.push(s.t_ms));
        assert_eq!(out, vec![0.0, 100.0, 200.0, 2100.0, 3000.0, 4000.0]);
    }

    #[test]
    fn the_file_round_trips_and_a_damaged_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.jsonl");
        let mut writer = SampleWriter::create(&path).unwrap();
        for i in 0..3 {
            writer.write("health", &sample(f64::from(i) * 100.0, 1.5));
        }
        let path = writer.finish().unwrap();
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"probe\": \"health\", \"t_ms\": 9\n"); // cut off mid-line
        std::fs::write(&path, text).unwrap();
        let mut seen = Vec::new();
        let damaged = Samples::file(path).for_each(|r| seen.push((r.probe.clone(), r.sample.t_ms)));
        assert_eq!(damaged, 1);
        assert_eq!(
            seen,
            vec![
                ("health".to_string(), 0.0),
                ("health".to_string(), 100.0),
                ("health".to_string(), 200.0)
            ]
        );
    }
}
