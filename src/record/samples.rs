//! `samples.jsonl`: every probe sample, one JSON object a line. The runner
//! writes each sample as its result arrives ([`SampleWriter`]), so what it
//! holds does not grow with the run; every reader streams the file
//! ([`Samples::for_each`]) and keeps only what it folds the samples into.
//!
//! Lines are in the order results were known (by end); a probe's runs may
//! overlap, so a reader that needs a probe's samples in start order puts
//! them through [`StartOrder`], which holds back at most a probe timeout's
//! worth. A line that cannot be read is counted and skipped, never fatal;
//! a line longer than any sample ([`MAX_LINE`]) is skipped without being
//! held, and the file is read only if it is a regular file reached without
//! a symbolic link (see [`super::confined`]): `/dev/zero` is no samples
//! file.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::probe::ProbeSample;

/// Longer than any line a sample makes (an exec probe's output is kept to
/// 4 KiB): such a line is skipped and counted, and never held whole.
pub(crate) const MAX_LINE: usize = 1 << 20;

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

/// One line as read: every field named (serde's `flatten` buffers each
/// line into a map first, which costs more than the parse itself), the
/// probe's name borrowed from the line where it has no escapes.
#[derive(serde::Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    probe: std::borrow::Cow<'a, str>,
    t_ms: f64,
    #[serde(borrow)]
    at: &'a str,
    ok: bool,
    latency_ms: f64,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    state: Option<crate::gameday::units::ContainerState>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    exit_code: Option<i64>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    health: Option<crate::gameday::units::HealthState>,
    #[serde(default)]
    restarts: Option<u64>,
    #[serde(default)]
    oom_killed: Option<bool>,
    #[serde(default)]
    cpu_pct: Option<f64>,
    #[serde(default)]
    memory_bytes: Option<u64>,
    #[serde(default)]
    load: Option<Box<crate::probe::load::LoadTally>>,
    #[serde(default)]
    version: Option<String>,
}

/// How long a sample may wait in the writer's buffer.
pub(crate) const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// Appends samples to `samples.jsonl` as they arrive, buffered, and
/// handed to the file at least every [`FLUSH_EVERY`] (the live room reads
/// it as it grows).
pub(crate) struct SampleWriter {
    out: BufWriter<File>,
    path: PathBuf,
    flushed: std::time::Instant,
    /// The first write error, kept so the run is told once, at the end.
    error: Option<std::io::Error>,
}

impl SampleWriter {
    pub(crate) fn create(path: &Path) -> std::io::Result<SampleWriter> {
        Ok(SampleWriter {
            out: BufWriter::with_capacity(64 * 1024, File::create(path)?),
            path: path.to_path_buf(),
            flushed: std::time::Instant::now(),
            error: None,
        })
    }

    /// Hand what is buffered to the file if the last time was
    /// [`FLUSH_EVERY`] ago or more (a write, no sync).
    pub(crate) fn flush_if_due(&mut self) {
        if self.error.is_some() || self.flushed.elapsed() < FLUSH_EVERY {
            return;
        }
        self.flushed = std::time::Instant::now();
        if let Err(e) = self.out.flush() {
            self.error = Some(e);
        }
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
        let written = if crate::redact::knows_any() {
            crate::redact::json_line(&row)
                .map_err(std::io::Error::from)
                .and_then(|line| self.out.write_all(&line))
        } else {
            serde_json::to_writer(&mut self.out, &row).map_err(std::io::Error::from)
        }
        .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = written {
            self.error = Some(e);
        }
        self.flush_if_due();
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

    /// Every sample with its probe's name, in the order of the file.
    /// Returns how many lines could not be read (skipped). A missing file
    /// has no samples.
    pub fn for_each(&self, mut f: impl FnMut(&str, &ProbeSample)) -> usize {
        let Some(path) = &self.file else {
            self.rows.iter().for_each(|r| f(&r.probe, &r.sample));
            return 0;
        };
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return 0;
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let file = match super::confined::open(dir, &name.to_string_lossy(), "a samples file") {
            Ok(Some(file)) => file,
            Ok(None) => return 0,
            // Not a regular file of the run: none of it is a sample.
            Err(_) => return 1,
        };
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut line = Vec::with_capacity(512);
        let mut damaged = 0;
        loop {
            match next_line(&mut reader, &mut line) {
                Ok(NextLine::End) => break,
                Ok(NextLine::Line) => {}
                Ok(NextLine::TooLong) => {
                    damaged += 1;
                    continue;
                }
                Err(_) => {
                    damaged += 1;
                    break;
                }
            }
            let text = line.as_slice();
            if text.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Line<'_>>(text) {
                Ok(line) => {
                    let sample = ProbeSample {
                        probe: 0,
                        t_ms: line.t_ms,
                        at: match parse_at(line.at) {
                            Some(at) => at,
                            None => {
                                damaged += 1;
                                continue;
                            }
                        },
                        ok: line.ok,
                        latency_ms: line.latency_ms,
                        status: line.status,
                        state: line.state,
                        error: line.error,
                        exit_code: line.exit_code,
                        value: line.value,
                        output: line.output,
                        health: line.health,
                        restarts: line.restarts,
                        oom_killed: line.oom_killed,
                        cpu_pct: line.cpu_pct,
                        memory_bytes: line.memory_bytes,
                        load: line.load,
                        version: line.version,
                    };
                    f(&line.probe, &sample);
                }
                Err(_) => damaged += 1,
            }
        }
        damaged
    }

    /// The rows in memory, reading the file first if need be (tests).
    pub fn in_memory(&mut self) -> &mut Vec<SampleRow> {
        if let Some(path) = self.file.take() {
            let mut rows = Vec::new();
            Samples::file(path).for_each(|probe, sample| {
                rows.push(SampleRow {
                    probe: probe.to_string(),
                    sample: sample.clone(),
                })
            });
            self.rows = rows;
        }
        &mut self.rows
    }
}

/// What [`next_line`] read.
#[derive(Debug, PartialEq, Eq)]
enum NextLine {
    /// A line (without its newline) is in the buffer.
    Line,
    /// A line longer than [`MAX_LINE`] was passed over; nothing was kept.
    TooLong,
    /// The end of the file.
    End,
}

/// Read the next line into `line` (cleared first), holding at most
/// [`MAX_LINE`] bytes of it: a longer one is read through and dropped.
fn next_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<NextLine> {
    line.clear();
    let mut too_long = false;
    let mut read_any = false;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(match (read_any, too_long) {
                (false, _) => NextLine::End,
                (true, true) => NextLine::TooLong,
                (true, false) => NextLine::Line,
            });
        }
        read_any = true;
        let (chunk, ends) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if !too_long && line.len() + chunk.len() > MAX_LINE {
            too_long = true;
            *line = Vec::new();
        }
        if !too_long {
            line.extend_from_slice(chunk);
        }
        let used = ends.unwrap_or(chunk.len());
        reader.consume(used);
        if ends.is_some() {
            return Ok(if too_long {
                NextLine::TooLong
            } else {
                NextLine::Line
            });
        }
    }
}

/// `2026-12-03T09:12:45.123456789Z` as serde writes a UTC time, read
/// without chrono's general parser (which took a third of the time of a
/// report of millions of samples); any other RFC 3339 form goes to it.
fn parse_at(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let b = text.as_bytes();
    let digits = |from: usize, n: usize| -> Option<u32> {
        let part = b.get(from..from + n)?;
        part.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let canonical = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b.last() == Some(&b'Z');
    if canonical {
        let nanos = match b.get(19) {
            Some(b'Z') if b.len() == 20 => Some(0),
            Some(b'.') if (22..=30).contains(&b.len()) => {
                let n = b.len() - 21;
                digits(20, n).map(|f| f * 10u32.pow(9 - n as u32))
            }
            _ => None,
        };
        let date = chrono::NaiveDate::from_ymd_opt(
            i32::try_from(digits(0, 4)?).ok()?,
            digits(5, 2)?,
            digits(8, 2)?,
        );
        let time = nanos.and_then(|ns| {
            chrono::NaiveTime::from_hms_nano_opt(digits(11, 2)?, digits(14, 2)?, digits(17, 2)?, ns)
        });
        if let (Some(date), Some(time)) = (date, time) {
            return Some(date.and_time(time).and_utc());
        }
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
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
    fn times_read_back_as_chrono_reads_them() {
        for text in [
            "2026-12-03T09:12:45Z",
            "2026-12-03T09:12:45.1Z",
            "2026-12-03T09:12:45.123456789Z",
            "1970-01-01T00:00:00.012Z",
            "2026-12-03T10:12:45.5+01:00",
        ] {
            let want = chrono::DateTime::parse_from_rfc3339(text).unwrap();
            assert_eq!(
                parse_at(text),
                Some(want.with_timezone(&chrono::Utc)),
                "{text}"
            );
        }
        for bad in [
            "2026-13-03T09:12:45Z",
            "2026-12-03T09:12:45.Z",
            "yesterday",
            "",
        ] {
            assert_eq!(parse_at(bad), None, "{bad}");
        }
        // What the writer writes, the reader reads.
        let now = chrono::Utc::now();
        let written = serde_json::to_value(now).unwrap();
        assert_eq!(parse_at(written.as_str().unwrap()), Some(now));
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
    fn an_endless_line_or_a_device_is_no_samples_and_costs_no_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.jsonl");
        let mut writer = SampleWriter::create(&path).unwrap();
        writer.write("health", &sample(100.0, 1.5));
        let path = writer.finish().unwrap();
        // Three lines of MAX_LINE + 1 zero bytes, the last one unended, around a good sample.
        let good = std::fs::read(&path).unwrap();
        let mut bytes = vec![0u8; MAX_LINE + 1];
        bytes.push(b'\n');
        bytes.extend_from_slice(&good);
        bytes.extend(vec![b'x'; MAX_LINE + 1]);
        bytes.push(b'\n');
        bytes.extend_from_slice(&good);
        bytes.extend(vec![0u8; 3 * MAX_LINE]);
        std::fs::write(&path, bytes).unwrap();
        let mut seen = 0;
        let damaged = Samples::file(path).for_each(|_, _| seen += 1);
        assert_eq!((seen, damaged), (2, 3));
        // A link to /dev/zero is not followed: one damaged "line", at once.
        let zero = dir.path().join("zero.jsonl");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let started = std::time::Instant::now();
        assert_eq!(Samples::file(zero).for_each(|_, _| seen += 1), 1);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(seen, 2);
    }

    #[test]
    fn lines_are_read_whole_across_buffer_boundaries() {
        let text = b"ab\ncdef\n\nlast";
        let mut reader = BufReader::with_capacity(3, &text[..]);
        let mut line = Vec::new();
        let mut lines = Vec::new();
        while next_line(&mut reader, &mut line).unwrap() == NextLine::Line {
            lines.push(String::from_utf8(line.clone()).unwrap());
        }
        assert_eq!(lines, vec!["ab", "cdef", "", "last"]);
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
        let damaged = Samples::file(path).for_each(|p, s| seen.push((p.to_string(), s.t_ms)));
        assert_eq!(damaged, 1);
        // Every field comes back as written (the reader names them all).
        let full = ProbeSample {
            t_ms: 12.5,
            at: chrono::DateTime::UNIX_EPOCH + chrono::Duration::milliseconds(12),
            ok: false,
            latency_ms: 2000.25,
            status: Some(503),
            state: Some(crate::gameday::units::ContainerState::Paused),
            error: Some("timeout after 2s \"quoted\"".into()),
            exit_code: Some(7),
            value: Some(0.5),
            output: Some("line\nnext".into()),
            health: Some(crate::gameday::units::HealthState::Unhealthy),
            restarts: Some(3),
            oom_killed: Some(true),
            cpu_pct: Some(151.5),
            memory_bytes: Some(200 << 20),
            version: Some("2.4.1".into()),
            ..Default::default()
        };
        let path = dir.path().join("full.jsonl");
        let mut writer = SampleWriter::create(&path).unwrap();
        writer.write("db \"state\"", &full);
        let path = writer.finish().unwrap();
        let mut back = Vec::new();
        Samples::file(path).for_each(|p, s| back.push((p.to_string(), s.clone())));
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].0, "db \"state\"");
        assert_eq!(
            serde_json::to_value(&back[0].1).unwrap(),
            serde_json::to_value(&full).unwrap()
        );
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
