//! Whether the holder of a claim is alive, judged only on evidence that
//! cannot be mistaken. A claim records where its holder runs: the kernel's
//! boot (`boot_id`, shared by every container on it), the PID namespace
//! (the inode of `/proc/self/ns/pid`), the process's start time (against a
//! PID used again) and this machine's identity (an app-specific HMAC of
//! `/etc/machine-id`, never the ID itself). The hostname is only said to
//! people: a container with `--uts host` and a second machine can share it.
//!
//! A holder is judged dead only when that is proved: the same boot and PID
//! namespace, its process gone (and no watchdog of its run alive), or the
//! same machine rebooted since it claimed (both sides processes of the host
//! itself, this boot begun after the claim). Anything else (another
//! machine, no machine identity, another PID namespace, a claim without
//! this evidence) cannot be proved dead, and is treated as alive.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;

use chrono::Utc;

const RUN_ID: &str = "gameday.claim.run_id";
const USER: &str = "gameday.claim.user";
const HOST: &str = "gameday.claim.host";
const BOOT: &str = "gameday.claim.boot_id";
const PID: &str = "gameday.claim.pid";
const SINCE: &str = "gameday.claim.since";
const PID_NS: &str = "gameday.claim.pid_ns";
const START: &str = "gameday.claim.start";
const MACHINE: &str = "gameday.claim.machine";

/// The inode of the initial PID namespace (`PROC_PID_INIT_INO`): a process
/// of the host itself, not of a container, whatever the boot.
const INITIAL_PID_NS_INO: u64 = 0xEFFF_FFFC;

/// What the machine identity is keyed with, so the label never gives
/// `/etc/machine-id` away (as `sd_id128_get_machine_app_specific` does).
const MACHINE_APP_KEY: &[u8] = b"gameday claim machine identity v1";

/// Who holds a claim, and the evidence its liveness is judged on, as the
/// claim's labels say. Empty evidence is evidence missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holder {
    pub(crate) run_id: String,
    pub(crate) user: String,
    /// Its hostname: said to people, never evidence.
    pub(crate) host: String,
    pub(crate) boot_id: String,
    pub(crate) pid: u32,
    pub(crate) since: String,
    /// Its PID namespace, `dev:inode` of `/proc/self/ns/pid`.
    pub(crate) pid_ns: String,
    /// Its process's start time (clock ticks after boot); 0 unknown.
    pub(crate) start: u64,
    /// Its machine's identity (see [`MACHINE_APP_KEY`]); empty when the
    /// machine has none (a container without `/etc/machine-id`).
    pub(crate) machine: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "run {} by {} on {} (pid {}), since {}",
            self.run_id, self.user, self.host, self.pid, self.since
        )
    }
}

/// Whether the holder of a claim is alive, as far as this process can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// Its runner is this very process of this boot and PID namespace.
    Alive,
    /// Its runner is gone, and a watchdog of its run is alive: reverting
    /// what the runner left. The run is not over until it is done.
    Reverting,
    /// Provably gone: why.
    Dead(Gone),
    /// Nothing here can prove it alive or dead: why. Treated as alive.
    Unknown(Unproven),
}

impl Liveness {
    pub(crate) fn is_dead(&self) -> bool {
        matches!(self, Liveness::Dead(_))
    }
}

/// How a holder was proved dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gone {
    /// Same boot and PID namespace: its process is gone (or is another
    /// process now), and no watchdog of its run is alive.
    Process,
    /// This machine rebooted after it claimed.
    Rebooted,
}

impl std::fmt::Display for Gone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Gone::Process => "its process is gone",
            Gone::Rebooted => "this machine rebooted since",
        })
    }
}

/// Why a holder cannot be proved dead from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unproven {
    /// The claim was made by a gameday that did not record the evidence.
    OlderClaim,
    /// Same boot, another PID namespace (one of the two is a container):
    /// its PID means nothing here.
    OtherPidNamespace,
    /// Another boot, and this machine or the holder's has no identity.
    NoMachineIdentity,
    /// Another boot of another machine.
    OtherMachine,
    /// Same machine identity, another boot, but a container on either
    /// side (an image may carry a machine ID), or this boot began before
    /// the claim (a copied machine ID, not a reboot).
    NotAReboot,
}

impl std::fmt::Display for Unproven {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unproven::OlderClaim => "the claim was made by an older gameday, which did not record where it ran",
            Unproven::OtherPidNamespace => "it ran in another PID namespace (a container, or this is one), where its PID means nothing",
            Unproven::NoMachineIdentity => "it ran under another kernel boot, and a machine identity (/etc/machine-id) is missing here or in the claim",
            Unproven::OtherMachine => "it ran on another machine",
            Unproven::NotAReboot => "it ran under another boot of a machine with the same identity, which cannot be proved to be a reboot of this one",
        })
    }
}

impl Holder {
    pub(super) fn from_labels(labels: &HashMap<String, String>) -> Holder {
        let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
        Holder {
            run_id: get(RUN_ID),
            user: get(USER),
            host: get(HOST),
            boot_id: get(BOOT),
            pid: get(PID).parse().unwrap_or(0),
            since: get(SINCE),
            pid_ns: get(PID_NS),
            start: get(START).parse().unwrap_or(0),
            machine: get(MACHINE),
        }
    }

    pub(super) fn labels(&self) -> HashMap<String, String> {
        HashMap::from([
            (RUN_ID.to_string(), self.run_id.clone()),
            (USER.to_string(), self.user.clone()),
            (HOST.to_string(), self.host.clone()),
            (BOOT.to_string(), self.boot_id.clone()),
            (PID.to_string(), self.pid.to_string()),
            (SINCE.to_string(), self.since.clone()),
            (PID_NS.to_string(), self.pid_ns.clone()),
            (START.to_string(), self.start.to_string()),
            (MACHINE.to_string(), self.machine.clone()),
        ])
    }

    /// This process, holding for `run_id`.
    pub(crate) fn me(run_id: &str) -> Holder {
        let here = Here::now();
        let pid = std::process::id();
        Holder {
            run_id: run_id.to_string(),
            user: ["GAMEDAY_OPERATOR", "SUDO_USER", "USER"]
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|n| !n.is_empty()))
                .unwrap_or_else(|| "unknown".to_string()),
            host: read_trimmed("/proc/sys/kernel/hostname"),
            boot_id: here.boot_id,
            pid,
            since: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            pid_ns: here.pid_ns.map(|ns| ns.to_string()).unwrap_or_default(),
            start: start_time(pid).unwrap_or(0),
            machine: here.machine.unwrap_or_default(),
        }
    }

    /// Alive, reverting, provably dead, or unknown, judged from here.
    pub(crate) fn liveness(&self) -> Liveness {
        self.judged(&Here::now(), &Processes)
    }

    /// The judgement, on the evidence of `here` and of `procs`.
    fn judged(&self, here: &Here, procs: &dyn ProcessTable) -> Liveness {
        if self.boot_id.is_empty() || self.boot_id != here.boot_id {
            return self.across_boots(here);
        }
        // The same kernel: a PID means something only in the same PID
        // namespace, seen through a /proc of that namespace.
        let Some(theirs) = PidNs::parse(&self.pid_ns).filter(|_| self.start != 0) else {
            return Liveness::Unknown(Unproven::OlderClaim);
        };
        if here.pid_ns != Some(theirs) || !here.proc_is_ours {
            return Liveness::Unknown(Unproven::OtherPidNamespace);
        }
        if procs.start_of(self.pid) == Some(self.start) {
            Liveness::Alive
        } else if procs.watchdog_alive(&self.run_id) {
            Liveness::Reverting
        } else {
            Liveness::Dead(Gone::Process)
        }
    }

    /// Another boot: this machine rebooted, or it is another machine.
    fn across_boots(&self, here: &Here) -> Liveness {
        let Some(machine) = here.machine.as_deref().filter(|_| !self.machine.is_empty()) else {
            return Liveness::Unknown(Unproven::NoMachineIdentity);
        };
        if machine != self.machine {
            return Liveness::Unknown(Unproven::OtherMachine);
        }
        let host_process = |ns: Option<PidNs>| ns.is_some_and(|ns| ns.ino == INITIAL_PID_NS_INO);
        let claimed = chrono::DateTime::parse_from_rfc3339(&self.since)
            .ok()
            .map(|t| t.timestamp());
        let booted_after = matches!((here.boot_time, claimed), (Some(boot), Some(at)) if boot > at);
        if host_process(PidNs::parse(&self.pid_ns)) && host_process(here.pid_ns) && booted_after {
            Liveness::Dead(Gone::Rebooted)
        } else {
            Liveness::Unknown(Unproven::NotAReboot)
        }
    }
}

/// A PID namespace: the device and inode of its `/proc/PID/ns/pid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PidNs {
    dev: u64,
    ino: u64,
}

impl PidNs {
    fn of_self() -> Option<PidNs> {
        let meta = std::fs::metadata("/proc/self/ns/pid").ok()?;
        Some(PidNs {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    fn parse(text: &str) -> Option<PidNs> {
        let (dev, ino) = text.split_once(':')?;
        Some(PidNs {
            dev: dev.parse().ok()?,
            ino: ino.parse().ok()?,
        })
    }
}

impl std::fmt::Display for PidNs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.dev, self.ino)
    }
}

/// What this process knows of where it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Here {
    boot_id: String,
    pid_ns: Option<PidNs>,
    /// `/proc` shows this process's own PID namespace (`/proc/self` is
    /// this process): a PID read there is one of that namespace.
    proc_is_ours: bool,
    machine: Option<String>,
    /// When this boot began (`btime` of `/proc/stat`), in seconds.
    boot_time: Option<i64>,
}

impl Here {
    fn now() -> Here {
        let proc_is_ours = std::fs::read_link("/proc/self")
            .is_ok_and(|p| p.to_string_lossy() == std::process::id().to_string());
        Here {
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
            pid_ns: PidNs::of_self(),
            proc_is_ours,
            machine: machine_identity(),
            boot_time: std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|t| t.trim().parse().ok())
            }),
        }
    }
}

/// This machine's identity for claims: an HMAC-SHA256 of its machine ID
/// keyed for gameday (hex, 32 digits), or None without one.
fn machine_identity() -> Option<String> {
    let id = ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .map(|p| read_trimmed(p))
        .find(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, id.to_ascii_lowercase().as_bytes());
    let tag = ring::hmac::sign(&key, MACHINE_APP_KEY);
    Some(
        tag.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// What a judgement needs to know of this PID namespace's processes.
trait ProcessTable {
    /// The start time of process `pid` if it runs (a zombie does not).
    fn start_of(&self, pid: u32) -> Option<u64>;
    /// Is a watchdog of run `run_id` alive (other than this process)?
    fn watchdog_alive(&self, run_id: &str) -> bool;
}

/// This PID namespace's processes, through `/proc`.
struct Processes;

impl ProcessTable for Processes {
    fn start_of(&self, pid: u32) -> Option<u64> {
        if pid == 0 {
            return None;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = stat.rsplit_once(')')?.1;
        if rest.trim_start().starts_with('Z') {
            return None;
        }
        start_time(pid)
    }

    fn watchdog_alive(&self, run_id: &str) -> bool {
        local_watchdog_alive(run_id)
    }
}

/// A process's start time: field 22 of `/proc/PID/stat`.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// Is a watchdog process of run `run_id` alive in this PID namespace
/// (other than this process)? Watchdogs carry `watchdog --run-id ID` on
/// their command line ([`crate::worker::leftovers`] finds them).
pub(crate) fn local_watchdog_alive(run_id: &str) -> bool {
    crate::worker::leftovers::watchdog_alive(run_id)
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process table with one process and maybe a watchdog.
    struct Table {
        pid: u32,
        start: u64,
        watchdog: bool,
    }

    impl ProcessTable for Table {
        fn start_of(&self, pid: u32) -> Option<u64> {
            (pid == self.pid).then_some(self.start)
        }
        fn watchdog_alive(&self, _: &str) -> bool {
            self.watchdog
        }
    }

    fn here() -> Here {
        Here {
            boot_id: "boot-a".into(),
            pid_ns: Some(PidNs {
                dev: 4,
                ino: INITIAL_PID_NS_INO,
            }),
            proc_is_ours: true,
            machine: Some("m1".into()),
            // 2026-12-01T10:00:00Z
            boot_time: Some(1_796_119_200),
        }
    }

    fn holder() -> Holder {
        Holder {
            run_id: "abc".into(),
            user: "tess".into(),
            host: "laptop".into(),
            boot_id: "boot-a".into(),
            pid: 42,
            since: "2026-12-01T11:00:00Z".into(),
            pid_ns: format!("4:{INITIAL_PID_NS_INO}"),
            start: 900,
            machine: "m1".into(),
        }
    }

    fn table(start: u64, watchdog: bool) -> Table {
        Table {
            pid: 42,
            start,
            watchdog,
        }
    }

    #[test]
    fn a_holder_is_alive_while_its_very_process_runs() {
        let h = holder();
        assert_eq!(h.judged(&here(), &table(900, false)), Liveness::Alive);
        // The PID taken by another process since: gone.
        assert_eq!(
            h.judged(&here(), &table(901, false)),
            Liveness::Dead(Gone::Process)
        );
        // Gone, its watchdog still reverting.
        assert_eq!(h.judged(&here(), &table(901, true)), Liveness::Reverting);
    }

    #[test]
    fn another_pid_namespace_or_proc_proves_nothing() {
        // `gameday recover` in a container with `--uts host`: same boot,
        // same hostname, its own PID namespace.
        let mut in_container = here();
        in_container.pid_ns = Some(PidNs {
            dev: 4,
            ino: 4_026_532_999,
        });
        assert_eq!(
            holder().judged(&in_container, &table(1, false)),
            Liveness::Unknown(Unproven::OtherPidNamespace)
        );
        let mut foreign_proc = here();
        foreign_proc.proc_is_ours = false;
        assert_eq!(
            holder().judged(&foreign_proc, &table(1, false)),
            Liveness::Unknown(Unproven::OtherPidNamespace)
        );
        // A claim of an older gameday says no namespace: not provable.
        let older = Holder {
            pid_ns: String::new(),
            start: 0,
            machine: String::new(),
            ..holder()
        };
        assert_eq!(
            older.judged(&here(), &table(1, false)),
            Liveness::Unknown(Unproven::OlderClaim)
        );
    }

    #[test]
    fn a_reboot_is_proved_only_on_the_same_machine_booted_after_the_claim() {
        let before_reboot = Holder {
            boot_id: "boot-0".into(),
            since: "2026-12-01T09:00:00Z".into(),
            ..holder()
        };
        assert_eq!(
            before_reboot.judged(&here(), &table(1, false)),
            Liveness::Dead(Gone::Rebooted)
        );
        // Another machine with the same hostname: not a reboot.
        let elsewhere = Holder {
            machine: "m2".into(),
            ..before_reboot.clone()
        };
        assert_eq!(
            elsewhere.judged(&here(), &table(1, false)),
            Liveness::Unknown(Unproven::OtherMachine)
        );
        // No machine identity on either side.
        let mut anonymous = here();
        anonymous.machine = None;
        assert_eq!(
            before_reboot.judged(&anonymous, &table(1, false)),
            Liveness::Unknown(Unproven::NoMachineIdentity)
        );
        // The same identity on a machine that booted before the claim: a
        // copied machine ID, running now.
        let running_twin = Holder {
            since: "2026-12-01T11:00:00Z".into(),
            ..before_reboot.clone()
        };
        assert_eq!(
            running_twin.judged(&here(), &table(1, false)),
            Liveness::Unknown(Unproven::NotAReboot)
        );
        // A container on either side: an image can carry a machine ID.
        let in_container = Holder {
            pid_ns: "4:4026532999".into(),
            ..before_reboot
        };
        assert_eq!(
            in_container.judged(&here(), &table(1, false)),
            Liveness::Unknown(Unproven::NotAReboot)
        );
    }

    #[test]
    fn this_process_is_alive_and_its_labels_round_trip() {
        let me = Holder::me("abc");
        // This test runs in `gameday-<hash>`, with its own /proc.
        assert_eq!(me.liveness(), Liveness::Alive);
        assert_eq!(Holder::from_labels(&me.labels()), me);
        assert!(!me.pid_ns.is_empty() && me.start > 0, "{me:?}");
        // The machine identity never shows the machine ID.
        let id = read_trimmed("/etc/machine-id");
        if !id.is_empty() {
            assert_eq!(me.machine.len(), 32);
            assert!(!me.machine.contains(&id[..8]), "{}", me.machine);
        }
    }
}
