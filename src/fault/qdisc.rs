//! gameday's root qdiscs (bandwidth's `tbf`, netem, netem's `prio` toward
//! peers), each with a handle of its own: its major number is taken, when
//! the fault's recipe is worked out, from the fault's tag, in the range
//! gameday owns (`6700:` to `67ff:`), and is none of those on the
//! container's interfaces then. The recipe records it, so a revert removes
//! its own qdisc and never another fault's (in the same run, or a sibling
//! container's that shares the namespace); `recover --scope` sweeps the
//! whole range. A recipe journalled before qdiscs had handles of their own
//! removes `6764:`, the one every fault had then.

use serde::{Deserialize, Serialize};

use super::netns::NetExec;

/// The handle every fault's qdisc had before each had its own ("gd").
pub(crate) const LEGACY: u16 = 0x6764;
/// The netem qdisc a fault toward its peers hangs under its `prio`.
pub(crate) const PEER_NETEM: u16 = 0x6765;
/// The major numbers of gameday's root qdiscs.
const OURS: std::ops::RangeInclusive<u16> = 0x6700..=0x67ff;

/// The root qdisc a fault adds, as its recipe records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnQdisc {
    /// Journalled before each fault had a qdisc of its own: what it added
    /// had the handle `6764:`.
    #[default]
    Legacy,
    /// The fault adds no qdisc (rules, a proxy).
    None,
    /// The root qdisc with this major number.
    Handle(u16),
}

impl OwnQdisc {
    /// The major number of its root qdisc, if it adds one.
    pub(crate) fn major(self) -> Option<u16> {
        match self {
            OwnQdisc::Legacy => Some(LEGACY),
            OwnQdisc::None => None,
            OwnQdisc::Handle(major) => Some(major),
        }
    }
}

/// `67ab:`, as tc writes a handle.
pub(crate) fn handle(major: u16) -> String {
    format!("{major:x}:")
}

/// The major number for a new fault's root qdisc: from its `tag`, in
/// gameday's range, neither of the two fixed ones, none of `taken`.
pub(crate) fn major_for(tag: &str, taken: &[u16]) -> u16 {
    let start = super::net::tag_hash(tag) as u16;
    (0..=0xffu16)
        .map(|i| 0x6700 | (start.wrapping_add(i) & 0xff))
        .find(|m| *m != LEGACY && *m != PEER_NETEM && !taken.contains(m))
        .unwrap_or(0x6700)
}

/// The major numbers of the root qdiscs in `tc qdisc show` output
/// (`qdisc tbf 67ab: dev eth0 root refcnt 2 ...`).
pub(crate) fn root_majors(shown: &str) -> Vec<u16> {
    shown
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() != Some(&"qdisc") || !words.contains(&"root") {
                return None;
            }
            u16::from_str_radix(words.get(2)?.strip_suffix(':')?, 16).ok()
        })
        .collect()
}

/// Is `major` one of gameday's (for a sweep without a journal)?
pub(crate) fn is_ours(major: u16) -> bool {
    OURS.contains(&major)
}

/// The root qdiscs on the namespace's interfaces now (read only; when
/// they cannot be read, none: the apply says why).
pub(crate) fn taken(exec: &mut dyn NetExec) -> Vec<u16> {
    exec.run("tc", &["qdisc", "show"])
        .map(|shown| root_majors(&shown))
        .unwrap_or_default()
}

/// The root qdisc `fault` on `container` will add, if any (read only,
/// before its recipe is journalled): a handle of its own, none of those on
/// the container's interfaces now.
pub(crate) async fn own(
    engine: &crate::docker::Engine,
    fault: &crate::gameday::model::Fault,
    container: &crate::docker::ContainerInfo,
    context: &super::ApplyContext,
) -> OwnQdisc {
    use super::net::Mechanism;
    match super::net::mechanism(fault, context.netem_available) {
        Ok(Mechanism::Tbf | Mechanism::Netem) => {}
        Ok(
            Mechanism::Userspace
            | Mechanism::IptablesStatistic
            | Mechanism::IptablesDrop
            | Mechanism::DockerNetwork,
        )
        | Err(_) => return OwnQdisc::None,
    }
    let exec = super::net_exec(
        engine,
        &container.id,
        context.helper_image.as_deref(),
        &context.tag,
    )
    .await;
    let taken = match exec {
        Ok(mut exec) => tokio::task::spawn_blocking(move || taken(exec.as_mut()))
            .await
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    OwnQdisc::Handle(major_for(&context.tag, &taken))
}

/// Remove the root qdiscs `takes` picks from every interface of the
/// namespace, each by its handle (the kernel refuses the removal if the
/// root is another's by then). Returns whether one was removed.
pub(crate) fn remove(exec: &mut dyn NetExec, takes: impl Fn(u16) -> bool) -> Result<bool, String> {
    let mut removed = false;
    for dev in super::netns::interfaces_via(exec)? {
        let shown = exec.run("tc", &["qdisc", "show", "dev", &dev])?;
        for major in root_majors(&shown).into_iter().filter(|m| takes(*m)) {
            exec.run(
                "tc",
                &[
                    "qdisc",
                    "del",
                    "dev",
                    &dev,
                    "root",
                    "handle",
                    &handle(major),
                ],
            )?;
            removed = true;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fault_gets_a_handle_of_its_own_in_gamedays_range() {
        let a = major_for("gameday:run1:s1-f1-abc", &[]);
        assert_eq!(a, major_for("gameday:run1:s1-f1-abc", &[]), "stable");
        assert!(is_ours(a) && a != LEGACY && a != PEER_NETEM);
        // Taken now: another one.
        let b = major_for("gameday:run1:s1-f1-abc", &[a]);
        assert!(is_ours(b) && b != a);
        // Never the two fixed ones, whatever the tag.
        for n in 0..2000 {
            let m = major_for(&format!("gameday:r:{n}"), &[]);
            assert!(is_ours(m) && m != LEGACY && m != PEER_NETEM, "{m:x}");
        }
        assert_eq!(handle(0x67ab), "67ab:");
    }

    #[test]
    fn root_qdiscs_are_read_from_tc() {
        let shown = "qdisc noqueue 0: dev lo root refcnt 2 \n\
                     qdisc tbf 67ab: dev eth0 root refcnt 2 rate 1Mbit burst 3200b lat 400ms \n\
                     qdisc netem 6765: dev eth1 parent 6764:4 limit 1000 delay 200ms\n\
                     qdisc prio 6764: dev eth1 root refcnt 2 bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1\n";
        assert_eq!(root_majors(shown), [0, 0x67ab, 0x6764]);
        assert!(is_ours(0x67ab) && is_ours(LEGACY) && !is_ours(0) && !is_ours(0x6800));
    }

    #[test]
    fn a_recipe_journalled_before_handles_of_their_own_removes_6764() {
        #[derive(Deserialize)]
        struct Recipe {
            #[serde(default)]
            qdisc: OwnQdisc,
        }
        let old: Recipe = serde_json::from_str("{}").unwrap();
        assert_eq!(old.qdisc.major(), Some(LEGACY));
        let new: Recipe = serde_json::from_str(r#"{"qdisc":{"handle":26539}}"#).unwrap();
        assert_eq!(new.qdisc.major(), Some(0x67ab));
        let none: Recipe = serde_json::from_str(r#"{"qdisc":"none"}"#).unwrap();
        assert_eq!(none.qdisc.major(), None);
    }
}
