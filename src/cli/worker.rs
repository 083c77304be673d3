//! The one hidden entry point of gameday's workers: `gameday <kind>`, a
//! hidden command for each [`WorkerKind`] (its key), whose command line
//! carries only what finds it again and whose work comes on its stdin
//! ([`crate::worker`]). One exhaustive `match` hands each kind's work to
//! its serving function.

use clap::{ArgMatches, FromArgMatches};

use super::{CliError, CliResult, with_runtime};
use crate::worker::serve::{Refused, accept};
use crate::worker::{MARK_FLAGS, MARK_SWITCHES, Work, WorkerKind};

/// A worker's invocation: its kind (the marks are only for finding it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invocation {
    pub kind: WorkerKind,
}

impl FromArgMatches for Invocation {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let kind = matches
            .subcommand_name()
            .and_then(WorkerKind::from_key)
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidSubcommand))?;
        Ok(Invocation { kind })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Invocation::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Subcommand for Invocation {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        WorkerKind::ALL.iter().fold(cmd, |cmd, kind| {
            let marks = MARK_FLAGS.iter().map(|flag| {
                clap::Arg::new(flag.trim_start_matches("--"))
                    .long(flag.trim_start_matches("--"))
                    .value_name("VALUE")
            });
            let switches = MARK_SWITCHES.iter().map(|switch| {
                clap::Arg::new(switch.trim_start_matches("--"))
                    .long(switch.trim_start_matches("--"))
                    .action(clap::ArgAction::SetTrue)
            });
            cmd.subcommand(
                clap::Command::new(kind.key())
                    .hide(true)
                    .about(kind.about())
                    .args(marks)
                    .args(switches),
            )
        })
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Invocation::augment_subcommands(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        WorkerKind::KEYS.contains(&name)
    }
}

/// Run the worker: take its work, do it, return its exit code.
pub(super) fn worker(invocation: Invocation) -> CliResult {
    use crate::fault::{conntrack, dns, http, nfqueue, nsworker, script, stress};
    match invocation.kind {
        WorkerKind::Watchdog => {
            serving(|hello| with_runtime(async { Ok(crate::safety::watchdog::serve(hello).await) }))
        }
        WorkerKind::Stress => serving(|job| Ok(stress::serve(job))),
        WorkerKind::HttpProxy => {
            serving(|job| Ok(nsworker::exit_code("http-proxy", http::serve(job))))
        }
        WorkerKind::DnsProxy => {
            serving(|job| Ok(nsworker::exit_code("dns-proxy", dns::serve(job))))
        }
        WorkerKind::PacketEngine => serving(|work| Ok(nfqueue::serve_packets(work))),
        WorkerKind::ConntrackForget => serving(|work| Ok(conntrack::serve_forget(work))),
        WorkerKind::KillMarked => serving(|work| Ok(script::serve_kill_marked(work))),
    }
}

/// Take the work of `W`'s kind and serve it; no work (the launcher
/// refused this worker, or went away) is a clean end with nothing done.
fn serving<W: Work>(serve: impl FnOnce(W) -> CliResult) -> CliResult {
    match accept::<W>() {
        Ok(work) => serve(work),
        Err(Refused::NoWork) => {
            crate::worker::serve::stopped("no work came");
            Ok(crate::exit::OK)
        }
        Err(e @ Refused::BadWork { .. }) => {
            Err(CliError::invalid(format!("gameday {}: {e}", W::KIND)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::{Target, Targeted};

    fn round_trip<W: Work + PartialEq + std::fmt::Debug>(work: W) -> WorkerKind {
        let line = serde_json::to_string(&work).unwrap();
        assert!(!line.contains('\n'), "{line}");
        let back: W = serde_json::from_str(&line).unwrap();
        assert_eq!(back, work);
        let argv = work.marks().argv(W::KIND);
        assert_eq!(argv[0], W::KIND.key());
        W::KIND
    }

    fn at() -> Target {
        Target {
            pid: 4242,
            container: "c0ffee".into(),
            tag: "gameday:3f9c2a:s1-f1-ab12".into(),
            max_seconds: 90,
            placed: false,
        }
    }

    /// Every kind's work goes through its JSON line and back unchanged,
    /// and its command line starts with its key (what finds it).
    #[test]
    fn every_kinds_work_round_trips_through_serde() {
        use crate::fault::{conntrack, dns, http, nfqueue, script, stress};
        let kinds = [
            round_trip(crate::safety::watchdog::Hello {
                run_id: "3f9c2a".into(),
                scope: "demo".into(),
                lease_ms: 10_000,
                engine: Default::default(),
                journal: Some("/tmp/reports/x/journal.jsonl".into()),
            }),
            round_trip(stress::Job {
                at: at(),
                work: stress::Work::Cpu {
                    workers: 2,
                    load: 80.0,
                },
            }),
            round_trip(Targeted {
                at: at(),
                work: http::ProxyWork {
                    port: 8080,
                    matcher: Default::default(),
                    percent: 50.0,
                    action: crate::gameday::model::HttpAction::Status {
                        code: 503,
                        body: None,
                    },
                    peers: vec![std::net::Ipv4Addr::new(172, 18, 0, 3)],
                },
            }),
            round_trip(Targeted {
                at: at(),
                work: dns::ProxyWork {
                    names: vec!["store".into()],
                    error: Some(crate::gameday::model::DnsError::Nxdomain),
                    delay_ms: None,
                    percent: 100.0,
                },
            }),
            round_trip(nfqueue::PacketWork {
                tag: "gameday:3f9c2a:s1-f1-ab12".into(),
                queue: 6700,
                plan: nfqueue::PacketPlan {
                    latency: std::time::Duration::from_millis(200),
                    loss: 0.1,
                    ..Default::default()
                },
                max_seconds: 90,
            }),
            round_trip(conntrack::ForgetWork {
                tag: "gameday:3f9c2a:s1-f1-ab12".into(),
                redirects: vec!["udp:53:40000".parse().unwrap()],
            }),
            round_trip(script::KillWork {
                tag: "gameday:3f9c2a:s1-f1-ab12".into(),
                marker: "m-1".into(),
            }),
        ];
        assert_eq!(kinds.as_slice(), WorkerKind::ALL, "one work type per kind");
    }

    /// Every kind is a hidden command, and `--help` shows none of them.
    #[test]
    fn every_kind_is_a_hidden_command() {
        use clap::{CommandFactory, Parser};
        let cli = super::super::Cli::command();
        for kind in WorkerKind::ALL {
            let sub = cli
                .find_subcommand(kind.key())
                .unwrap_or_else(|| panic!("no command {kind}"));
            assert!(sub.is_hide_set(), "{kind} is shown");
        }
        let parsed = super::super::Cli::try_parse_from([
            "gameday",
            "stress",
            "--tag",
            "gameday:1:s1-f1",
            "--container",
            "abc",
            "--kind",
            "cpu",
            "--placed",
        ])
        .unwrap();
        assert!(matches!(
            parsed.command,
            super::super::Command::Worker(Invocation {
                kind: WorkerKind::Stress
            })
        ));
    }
}
