//! How far a resource or process fault reaches past its target, decided
//! before anything is touched (pure, tested without Docker). A fault
//! takes from what its target owns: `memory_stress` (and a fill of a
//! tmpfs, which is memory) on a container without a memory limit takes
//! the engine host's memory, so it must leave a reserve there; a fill or
//! writers on a filesystem shared with the host or other containers need
//! `shared_filesystem: true` (and then keep a reserve free, which the
//! worker enforces); a target sharing the host's PID namespace, or one
//! outside the scope, gets no stress worker and no signal. What does not
//! hold is a located [`Diagnostic`] at the fault's target: `plan` and
//! `run` exit 2 with nothing changed.

use std::collections::BTreeMap;

mod filesystem;

pub(crate) use filesystem::Filesystem;
use filesystem::{filesystem_of, writes};

use super::{Inventory, ResolvedFault, ResolvedScenario};
use crate::docker::{ContainerInfo, Placement, VolumeDetail};
use crate::fault::stress::{Share, disk_reserve, memory_reserve};
use crate::gameday::diag::Diagnostic;
use crate::gameday::model::{Fault, FaultFamily, StressFault};
use crate::gameday::units::ByteSize;

/// What discover found for these checks: the engines' hosts and the
/// containers that stress and process faults target (only those are
/// inspected). A figure that could not be read is an error, which the
/// check turns into a refusal.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReachFacts {
    /// Per engine name.
    pub hosts: BTreeMap<String, Result<HostFacts, String>>,
    /// Per container ID.
    pub containers: BTreeMap<String, Result<TargetFacts, String>>,
}

/// An engine's host.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct HostFacts {
    /// Its memory (`MemTotal` of the engine's `/info`).
    pub mem_total: u64,
    /// This host's `MemAvailable`, when the engine is this host.
    pub mem_available: Option<u64>,
    /// The storage driver of containers' root filesystems.
    pub storage_driver: String,
    /// The filesystem the engine keeps containers on (its
    /// `DockerRootDir`), when the engine is this host.
    pub root_disk: Option<Disk>,
}

/// A filesystem's figures (statvfs), as `df` counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Disk {
    pub size: u64,
    pub used: u64,
    pub avail: u64,
}

/// A target container.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TargetFacts {
    pub placement: Placement,
    /// The volumes it mounts, by name.
    pub volumes: BTreeMap<String, VolumeFacts>,
    /// The filesystems of its bind mounts' sources, by host path, when
    /// the engine is this host.
    pub disks: BTreeMap<String, Disk>,
}

/// A volume a target mounts.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct VolumeFacts {
    pub detail: VolumeDetail,
    /// The other containers of the engine that mount it, by name.
    pub users: Vec<String>,
    /// Its filesystem, when the engine is this host.
    pub disk: Option<Disk>,
}

/// How far one fault reaches on one of its containers, for the plan and
/// for the worker.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reached {
    pub container_id: String,
    pub container: String,
    /// What it takes of its host's memory, if anything.
    pub memory: Option<MemoryTake>,
    /// The filesystem it writes to (`io_stress`, `disk_fill`).
    pub filesystem: Option<Filesystem>,
}

/// Memory a fault takes on one container.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MemoryTake {
    /// At most this much, of the host's memory.
    pub bytes: u64,
    /// The container's memory limit (0: none).
    pub limit: u64,
    pub budget: Budget,
}

/// What an engine's host can give a fault of its memory.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Budget {
    pub figure: u64,
    /// Whether `figure` is this host's `MemAvailable` (else the engine's
    /// total memory: what is free there cannot be read from here).
    pub available: bool,
    pub reserve: u64,
}

impl Budget {
    fn of(host: &HostFacts) -> Budget {
        Budget {
            figure: host.mem_available.unwrap_or(host.mem_total),
            available: host.mem_available.is_some(),
            reserve: memory_reserve(host.mem_total),
        }
    }

    /// What faults may take in all.
    pub(crate) fn can(&self) -> u64 {
        self.figure.saturating_sub(self.reserve)
    }

    /// `23.5GiB available on this host (MemAvailable), less a reserve of 2.4GiB`
    pub(crate) fn words(&self) -> String {
        let figure = if self.available {
            format!("{} available on this host (MemAvailable)", b(self.figure))
        } else {
            format!(
                "{} on the engine's host in all (its /info MemTotal; what is free there cannot be read from here)",
                b(self.figure)
            )
        };
        format!("{figure}, less a reserve of {}", b(self.reserve))
    }
}

fn b(n: u64) -> String {
    ByteSize(n as f64).to_string()
}

/// The faults that reach through a worker or signals of gameday's own.
pub(super) fn checked(fault: &Fault) -> bool {
    match fault.family() {
        FaultFamily::Stress(_) | FaultFamily::Process(_) => true,
        FaultFamily::Container(_)
        | FaultFamily::Net(_)
        | FaultFamily::Script(_)
        | FaultFamily::App(_)
        | FaultFamily::Deploy(_) => false,
    }
}

/// Whether a fault signals the target's processes (`process`) rather
/// than placing a worker in its PID namespace.
fn signals(fault: &Fault) -> bool {
    match fault.family() {
        FaultFamily::Process(_) => true,
        FaultFamily::Stress(_)
        | FaultFamily::Container(_)
        | FaultFamily::Net(_)
        | FaultFamily::Script(_)
        | FaultFamily::App(_)
        | FaultFamily::Deploy(_) => false,
    }
}

/// Whether a checked fault takes memory or disk of its target's host
/// (whose figures it then needs).
fn takes_room(fault: &Fault) -> bool {
    match fault.stress() {
        Some(StressFault::Memory(_) | StressFault::Io(_) | StressFault::DiskFill(_)) => true,
        Some(StressFault::Cpu(_)) | None => false,
    }
}

/// Check every stress and process fault of every scenario against what
/// its targets own; fills each fault's `reach`. Memory is counted per
/// scenario and engine: its faults hold at the same time.
pub(crate) fn check(scenarios: &mut [ResolvedScenario], inventory: &Inventory) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    for scenario in scenarios {
        let mut taken: BTreeMap<String, u64> = BTreeMap::new();
        for resolved in &mut scenario.faults {
            if !checked(&resolved.fault) {
                continue;
            }
            match check_fault(resolved, inventory, &mut taken) {
                Ok(reach) => resolved.reach = reach,
                Err(d) => errors.push(d),
            }
        }
    }
    errors
}

fn check_fault(
    resolved: &ResolvedFault,
    inventory: &Inventory,
    taken: &mut BTreeMap<String, u64>,
) -> Result<Vec<Reached>, Diagnostic> {
    let fault = &resolved.fault;
    let pos = resolved.targets.target.pos;
    let refuse = |message: String, hint: String| {
        Err(Diagnostic::new(pos, message).with_hint(format!("{hint}. Nothing was changed")))
    };
    let mut reach = Vec::new();
    for c in &resolved.targets.containers {
        let facts = match inventory.reach.containers.get(&c.id) {
            Some(Ok(facts)) => facts,
            Some(Err(e)) => {
                return refuse(
                    format!(
                        "cannot tell how far `{}` on `{}` reaches: {e}",
                        fault.kind(),
                        c.name
                    ),
                    "gameday acts only where it knows what the target owns".into(),
                );
            }
            None => {
                return refuse(
                    format!(
                        "cannot tell how far `{}` on `{}` reaches: it was not inspected",
                        fault.kind(),
                        c.name
                    ),
                    "gameday acts only where it knows what the target owns".into(),
                );
            }
        };
        if let Some((message, hint)) = shared_pid_namespace(fault, c, &facts.placement, inventory) {
            return refuse(message, hint);
        }
        if !takes_room(fault) {
            continue;
        }
        let host = match inventory.reach.hosts.get(&c.engine) {
            Some(Ok(host)) if host.mem_total > 0 => host,
            Some(Err(e)) => {
                return refuse(
                    format!(
                        "cannot read the memory of the engine's host for `{}`: {e}",
                        c.name
                    ),
                    "gameday acts only where it knows what the host can give".into(),
                );
            }
            Some(Ok(_)) | None => {
                return refuse(
                    format!(
                        "the engine of `{}` does not say how much memory its host has",
                        c.name
                    ),
                    "gameday acts only where it knows what the host can give".into(),
                );
            }
        };
        let filesystem = filesystem_of(fault, facts, host);
        if let (Some(fs), Some((path, false))) = (&filesystem, writes(fault))
            && fs.room.share == Share::Shared
        {
            return refuse(
                format!(
                    "`{}` of {path} in `{}` would write to {}, shared with {}",
                    fault.kind(),
                    c.name,
                    fs.what,
                    fs.sharers.join(", ")
                ),
                format!(
                    "filling it fills it for {} too. Point `path` at a tmpfs or volume of the container's own (e.g. `tmpfs: [\"/data:size=64m\"]` in compose), or add `shared_filesystem: true` to allow it: then no less than 5% of it (at least 1GiB) is ever left free",
                    fs.sharers.join(", ")
                ),
            );
        }
        let memory = memory_take(fault, facts, host, filesystem.as_ref());
        reach.push(Reached {
            container_id: c.id.clone(),
            container: c.name.clone(),
            memory,
            filesystem,
        });
    }
    take_memory(resolved, &reach, taken)?;
    Ok(reach)
}

/// What a target sharing a PID namespace would let a fault reach, in
/// words (the message, the hint); `None` when its namespace is its own.
/// A stress worker is placed in the target's PID namespace (its PID 1
/// taken for the target's main process, its processes' OOM scores
/// raised, its mount namespace entered): in the host's, or in another
/// container's, that is not the target's. `process` signals by cgroup,
/// but on the host's namespace its PID 1 is the host's init.
fn shared_pid_namespace(
    fault: &Fault,
    c: &ContainerInfo,
    placement: &Placement,
    inventory: &Inventory,
) -> Option<(String, String)> {
    let mode = placement.pid_mode.as_str();
    let hint = format!(
        "a `{}` fault needs a container with a PID namespace of its own; gameday never reaches outside its scope",
        fault.kind()
    );
    if mode == "host" {
        let what = if signals(fault) {
            "`process` would signal this host's processes"
        } else {
            "a stress worker placed in it would take this host's init for the container's main process (its files would land on the host, every host process's OOM score raised)"
        };
        return Some((
            format!(
                "`{}` uses the host's PID namespace (pid: host): {what}",
                c.name
            ),
            hint,
        ));
    }
    let other = mode.strip_prefix("container:")?;
    let holder = inventory
        .in_scope
        .iter()
        .find(|s| s.id.starts_with(other) || s.name == other);
    let Some(holder) = holder else {
        return Some((
            format!(
                "`{}` uses the PID namespace of container `{}`, which is outside the scope: the fault would reach it",
                c.name,
                &other[..other.len().min(12)]
            ),
            hint,
        ));
    };
    // `process` finds the target's own processes by their cgroup.
    if signals(fault) {
        return None;
    }
    Some((
        format!(
            "`{}` uses the PID namespace of `{}`: a stress worker placed in it would act on `{}`'s processes and files",
            c.name, holder.name, holder.name
        ),
        format!("{hint}; stress `{}` itself instead", holder.name),
    ))
}

/// What a fault takes of its host's memory on one container: a
/// `memory_stress`'s size, what a fill or writers put in a tmpfs; at
/// most the container's limit, which holds it.
fn memory_take(
    fault: &Fault,
    facts: &TargetFacts,
    host: &HostFacts,
    filesystem: Option<&Filesystem>,
) -> Option<MemoryTake> {
    let in_tmpfs = || filesystem.filter(|fs| fs.memory);
    let asked = match fault.stress()? {
        StressFault::Memory(m) => m.size.0 as u64,
        StressFault::DiskFill(d) => {
            let size = in_tmpfs()?.size.unwrap_or(u64::MAX);
            match (d.fill, d.size) {
                (Some(p), _) => (size as f64 * p.0 / 100.0) as u64,
                (None, Some(b)) => (b.0 as u64).min(size),
                (None, None) => size,
            }
        }
        StressFault::Io(i) => {
            (u64::from(i.workers) * i.size.0 as u64).min(in_tmpfs()?.size.unwrap_or(u64::MAX))
        }
        StressFault::Cpu(_) => return None,
    };
    // A shared tmpfs keeps its reserve free: the worker writes no more.
    let asked = match filesystem {
        Some(fs) if fs.room.share == Share::Shared => asked.min(
            fs.size
                .map_or(u64::MAX, |s| s.saturating_sub(disk_reserve(s))),
        ),
        Some(_) | None => asked,
    };
    let limit = facts.placement.memory_limit;
    Some(MemoryTake {
        bytes: if limit > 0 { asked.min(limit) } else { asked },
        limit,
        budget: Budget::of(host),
    })
}

/// Count a fault's memory against what each engine's host can give this
/// scenario: every container its pick chose (all of them with `pick: all`).
fn take_memory(
    resolved: &ResolvedFault,
    reach: &[Reached],
    taken: &mut BTreeMap<String, u64>,
) -> Result<(), Diagnostic> {
    let engine_of = |id: &str| {
        resolved
            .targets
            .containers
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.engine.clone())
            .unwrap_or_default()
    };
    let takes = reach.iter().filter(|r| r.memory.is_some());
    for r in takes {
        let Some(m) = &r.memory else { continue };
        let engine = engine_of(&r.container_id);
        let before = taken.get(&engine).copied().unwrap_or(0);
        let total = before.saturating_add(m.bytes);
        if total > m.budget.can() {
            return Err(memory_refusal(resolved, r, m, before));
        }
        taken.insert(engine, total);
    }
    Ok(())
}

fn memory_refusal(
    resolved: &ResolvedFault,
    r: &Reached,
    m: &MemoryTake,
    before: u64,
) -> Diagnostic {
    let fault = &resolved.fault;
    let whose = if m.limit > 0 {
        format!(
            "whose memory limit of {} is more than its host can give",
            b(m.limit)
        )
    } else {
        "which has no memory limit".to_string()
    };
    let what = match &r.filesystem {
        Some(fs) if fs.memory => format!(
            "`{}` writes up to {} to the tmpfs of {} (memory) in `{}`, {whose},",
            fault.kind(),
            b(m.bytes),
            fs.room.mount,
            r.container
        ),
        Some(_) | None => format!(
            "`{}` of {} on `{}`, {whose},",
            fault.kind(),
            b(m.bytes),
            r.container
        ),
    };
    let earlier = if before > 0 {
        format!(
            "; {} of that is taken by the faults before this one in the scenario",
            b(before)
        )
    } else {
        String::new()
    };
    Diagnostic::new(
        resolved.targets.target.pos,
        format!(
            "{what} would take it from the engine's host, which can give {} ({}){earlier}",
            b(m.budget.can()),
            m.budget.words()
        ),
    )
    .with_hint(format!(
        "set a memory limit on the service (`mem_limit: 256m` in compose, `--memory` for docker run): past it the OOM killer acts inside the container alone; or ask for at most {}. Nothing was changed",
        b(m.budget.can().saturating_sub(before))
    ))
}

impl Reached {
    /// The plan's lines about it: its filesystem and what is written
    /// there, the memory it takes and from where.
    pub(crate) fn lines(&self, fault: &Fault) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(fs) = &self.filesystem {
            lines.push(fs.line(fault, &self.container));
        }
        if let Some(m) = &self.memory {
            lines.push(if m.limit > 0 {
                format!(
                    "memory of {}: within its limit of {} (past it, the container's own OOM killer acts)",
                    self.container,
                    b(m.limit)
                )
            } else {
                format!(
                    "memory of {}: no limit; takes up to {} of the {} its host can give ({})",
                    self.container,
                    b(m.bytes),
                    b(m.budget.can()),
                    m.budget.words()
                )
            });
        }
        lines
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::docker::{Mount, MountKind, TmpfsSize};
    use crate::gameday::load_bytes;
    use crate::gameday::model::Gameday;
    use crate::plan::resolve::tests::container;
    use crate::plan::resolve::tests::resolve;

    pub(crate) const GIB: u64 = 1 << 30;

    pub(crate) fn gameday(faults: &str) -> Gameday {
        let text = format!(
            "gameday: Reach\nscope: {{ compose_project: demo }}\nscenarios:\n  - name: s\n    faults:\n{faults}    duration: 1s\n"
        );
        let env = |_: &str| None;
        match load_bytes("test.yaml", text.as_bytes(), &env) {
            Ok(g) => g,
            Err(d) => panic!("{}", d.render()),
        }
    }

    /// This machine as the tests see it: 24GiB, 20GiB available, a 100GiB
    /// disk with 40GiB free.
    pub(crate) fn host() -> HostFacts {
        HostFacts {
            mem_total: 24 * GIB,
            mem_available: Some(20 * GIB),
            storage_driver: "overlay2".into(),
            root_disk: Some(Disk {
                size: 100 * GIB,
                used: 60 * GIB,
                avail: 40 * GIB,
            }),
        }
    }

    /// An inventory of `api` and `db` whose facts `edit` may change.
    pub(crate) fn inventory(edit: impl Fn(&str, &mut TargetFacts)) -> Inventory {
        let in_scope = vec![container("demo", "api", 1), container("demo", "db", 1)];
        let mut reach = ReachFacts::default();
        reach.hosts.insert("default".into(), Ok(host()));
        for c in &in_scope {
            let mut facts = TargetFacts::default();
            edit(c.service.as_deref().unwrap_or_default(), &mut facts);
            reach.containers.insert(c.id.clone(), Ok(facts));
        }
        Inventory {
            in_scope,
            reach,
            ..Inventory::default()
        }
    }

    /// The messages of the refusals, `line:col message`.
    pub(crate) fn refusals(faults: &str, inventory: Inventory) -> Vec<String> {
        match resolve(gameday(faults), inventory) {
            Ok(_) => Vec::new(),
            Err(errors) => errors
                .iter()
                .map(|d| {
                    format!(
                        "{}:{} {} | {}",
                        d.pos.line,
                        d.pos.col,
                        d.message,
                        d.hint.clone().unwrap_or_default()
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn memory_without_a_limit_stays_under_what_the_host_can_give() {
        let none = || inventory(|_, _| {});
        // 20GiB available less a reserve of 2.4GiB: 17.6GiB.
        let refused = refusals(
            "      - memory_stress: { service: api, size: 18GiB }\n",
            none(),
        );
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(
            refused[0].starts_with("6:26 `memory_stress` of 18GiB on `demo_api_1`, which has no memory limit, would take it from the engine's host, which can give 17.6GiB (20GiB available on this host (MemAvailable), less a reserve of 2.4GiB)"),
            "{}",
            refused[0]
        );
        assert!(
            refused[0].contains("`mem_limit: 256m` in compose"),
            "{}",
            refused[0]
        );
        assert!(
            refusals(
                "      - memory_stress: { service: api, size: 17GiB }\n",
                none()
            )
            .is_empty()
        );
        // With a limit, past it is the OOM scenario.
        let limited = inventory(|_, f| f.placement.memory_limit = 64 << 20);
        let plan = resolve(
            gameday("      - memory_stress: { service: api, size: 18GiB }\n"),
            limited,
        )
        .expect("within its limit");
        let reach = &plan.scenarios[0].faults[0].reach[0];
        assert_eq!(reach.memory.as_ref().map(|m| m.bytes), Some(64 << 20));
        assert_eq!(
            reach.lines(&plan.scenarios[0].faults[0].fault),
            [
                "memory of demo_api_1: within its limit of 64MiB (past it, the container's own OOM killer acts)"
            ]
        );
        // A limit above what the host can give limits nothing.
        let loose = inventory(|_, f| f.placement.memory_limit = 64 * GIB);
        let refused = refusals(
            "      - memory_stress: { service: api, size: 18GiB }\n",
            loose,
        );
        assert!(
            refused[0].contains("whose memory limit of 64GiB is more than its host can give"),
            "{refused:?}"
        );
    }

    #[test]
    fn memory_is_counted_per_scenario_and_pick() {
        let faults = "      - memory_stress: { service: api, size: 10GiB }\n      - memory_stress: { service: db, size: 10GiB }\n";
        let refused = refusals(faults, inventory(|_, _| {}));
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(refused[0].starts_with("7:26 "), "{}", refused[0]);
        assert!(
            refused[0]
                .contains("; 10GiB of that is taken by the faults before this one in the scenario"),
            "{}",
            refused[0]
        );
        assert!(
            refused[0].contains("or ask for at most 7.6GiB"),
            "{}",
            refused[0]
        );
        // Two replicas: `pick: all` takes from both, `pick: one` from one.
        let mut two = inventory(|_, _| {});
        let second = container("demo", "api", 2);
        two.reach
            .containers
            .insert(second.id.clone(), Ok(TargetFacts::default()));
        two.in_scope.push(second);
        assert_eq!(
            refusals(
                "      - memory_stress: { service: api, size: 9GiB }\n",
                two.clone()
            )
            .len(),
            1
        );
        assert!(
            refusals(
                "      - memory_stress: { service: api, size: 9GiB, pick: one }\n",
                two
            )
            .is_empty()
        );
    }

    #[test]
    fn an_engine_elsewhere_is_counted_by_its_total() {
        let mut remote = inventory(|_, _| {});
        remote.reach.hosts.insert(
            "default".into(),
            Ok(HostFacts {
                mem_available: None,
                root_disk: None,
                ..host()
            }),
        );
        let refused = refusals(
            "      - memory_stress: { service: api, size: 22GiB }\n",
            remote,
        );
        assert!(
            refused[0].contains("which can give 21.6GiB (24GiB on the engine's host in all (its /info MemTotal; what is free there cannot be read from here), less a reserve of 2.4GiB)"),
            "{refused:?}"
        );
    }

    #[test]
    fn a_target_sharing_a_pid_namespace_gets_no_worker_and_no_signal() {
        let host_pid = || {
            inventory(|s, f| {
                if s == "api" {
                    f.placement.pid_mode = "host".into();
                }
            })
        };
        for fault in [
            "cpu_stress: { service: api }",
            "memory_stress: { service: api, size: 1MiB }",
            "disk_fill: { service: api, path: /data, size: 1MiB }",
            "process: { service: api, match: worker }",
        ] {
            let refused = refusals(&format!("      - {fault}\n"), host_pid());
            assert_eq!(refused.len(), 1, "{fault}: {refused:?}");
            assert!(
                refused[0].contains("`demo_api_1` uses the host's PID namespace (pid: host)"),
                "{refused:?}"
            );
            assert!(refused[0].contains("needs a container with a PID namespace of its own"));
        }
        let process = refusals(
            "      - process: { service: api, match: worker }\n",
            host_pid(),
        );
        assert!(
            process[0].contains("would signal this host's processes"),
            "{process:?}"
        );
        // Another container's namespace: outside the scope, never; inside
        // it, signals still find the target's own processes by cgroup.
        let outside = inventory(|s, f| {
            if s == "api" {
                f.placement.pid_mode = "container:0123456789abcdef".into();
            }
        });
        let refused = refusals("      - process: { service: api, match: w }\n", outside);
        assert!(
            refused[0]
                .contains("PID namespace of container `0123456789ab`, which is outside the scope"),
            "{refused:?}"
        );
        let inside = || {
            inventory(|s, f| {
                if s == "api" {
                    f.placement.pid_mode = format!("container:{}", container("demo", "db", 1).id);
                }
            })
        };
        assert!(refusals("      - process: { service: api, match: w }\n", inside()).is_empty());
        let refused = refusals("      - cpu_stress: { service: api }\n", inside());
        assert!(
            refused[0].contains(
                "a stress worker placed in it would act on `demo_db_1`'s processes and files"
            ),
            "{refused:?}"
        );
        // Other kinds do not care.
        assert!(refusals("      - pause: { service: api }\n", host_pid()).is_empty());
    }

    #[test]
    fn what_could_not_be_read_is_refused() {
        let mut unread = inventory(|_, _| {});
        let id = container("demo", "api", 1).id;
        unread
            .reach
            .containers
            .insert(id.clone(), Err("no such container".into()));
        let refused = refusals("      - cpu_stress: { service: api }\n", unread.clone());
        assert!(
            refused[0].contains(
                "cannot tell how far `cpu_stress` on `demo_api_1` reaches: no such container"
            ),
            "{refused:?}"
        );
        unread.reach.containers.remove(&id);
        assert_eq!(
            refusals("      - cpu_stress: { service: api }\n", unread).len(),
            1
        );
        let mut no_host = inventory(|_, _| {});
        no_host.reach.hosts.clear();
        assert_eq!(
            refusals(
                "      - memory_stress: { service: api, size: 1MiB }\n",
                no_host
            )
            .len(),
            1
        );
        // A tmpfs of the default size (half the memory) counts as such.
        let tmpfs = inventory(|_, f| {
            f.placement.mounts.push(Mount {
                destination: "/data".into(),
                kind: MountKind::Tmpfs {
                    size: TmpfsSize::OfMemory(50.0),
                },
            });
        });
        assert!(
            refusals(
                "      - disk_fill: { service: api, path: /data, fill: 100% }\n",
                tmpfs
            )
            .is_empty()
        );
    }
}
