//! The live terminal view: consumes [`RunEvent`]s and shows the phase, the
//! time left and each probe's latest result on one refreshing line (indicatif),
//! with fault actions printed above it. Without a TTY, or with
//! `--no-progress`, it prints the actions as plain lines instead.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// What the engine tells the outside world while it runs.
#[derive(Debug, Clone)]
pub(crate) enum RunEvent {
    /// A new phase, with its end when known.
    Phase {
        label: String,
        until: Option<Instant>,
    },
    /// Something worth a line of its own: a fault applied or reverted, a halt.
    Note(String),
    /// A probe's latest result.
    Sample {
        probe: usize,
        ok: bool,
        brief: String,
    },
}

/// Consume events until the sender is dropped.
pub(crate) async fn show(
    mut events: mpsc::UnboundedReceiver<RunEvent>,
    probe_names: Vec<String>,
    progress: bool,
) {
    let live = progress && std::io::stderr().is_terminal();
    if !live {
        while let Some(event) = events.recv().await {
            match hide_secrets(event) {
                RunEvent::Phase { label, .. } => eprintln!("==> {label}"),
                RunEvent::Note(text) => eprintln!("    {text}"),
                RunEvent::Sample { .. } => {}
            }
        }
        return;
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut phase = String::from("starting");
    let mut until: Option<Instant> = None;
    let mut latest: Vec<Option<(bool, String)>> = vec![None; probe_names.len()];
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            event = events.recv() => match event.map(hide_secrets) {
                None => break,
                Some(RunEvent::Phase { label, until: u }) => {
                    bar.println(format!("==> {label}"));
                    phase = label;
                    until = u;
                }
                Some(RunEvent::Note(text)) => bar.println(format!("    {text}")),
                Some(RunEvent::Sample { probe, ok, brief }) => {
                    if let Some(slot) = latest.get_mut(probe) {
                        *slot = Some((ok, brief));
                    }
                }
            },
            _ = tick.tick() => {
                let left = until
                    .map(|u| format!(" {:.1}s left", u.saturating_duration_since(Instant::now()).as_secs_f64()))
                    .unwrap_or_default();
                let probes: Vec<String> = probe_names
                    .iter()
                    .zip(&latest)
                    .map(|(name, l)| match l {
                        Some((true, b)) => format!("{name} ✓ {b}"),
                        Some((false, b)) => format!("{name} ✗ {b}"),
                        None => format!("{name} …"),
                    })
                    .collect();
                bar.set_message(format!("{phase}{left} | {}", probes.join(" | ")));
                bar.tick();
            }
        }
    }
    bar.finish_and_clear();
}

/// The event with every secret value of the file's variables hidden.
fn hide_secrets(event: RunEvent) -> RunEvent {
    let hide = |text: String| match crate::redact::known(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(hidden) => hidden,
    };
    match event {
        RunEvent::Phase { label, until } => RunEvent::Phase {
            label: hide(label),
            until,
        },
        RunEvent::Note(text) => RunEvent::Note(hide(text)),
        RunEvent::Sample { probe, ok, brief } => RunEvent::Sample {
            probe,
            ok,
            brief: hide(brief),
        },
    }
}
