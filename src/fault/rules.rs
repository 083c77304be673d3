//! Removing a network fault, or what a dead run left: the iptables
//! rules that carry a fault's tag (read back from the namespace, and fed
//! back to `iptables -D` only when every word of them is safe), its own
//! root qdisc ([`super::qdisc`]), and the flows its redirects had
//! translated, forgotten ([`conntrack`](super::conntrack)).

use super::conntrack::{Protocol, Redirect};
use super::netns::NetExec;
use super::qdisc::{self, OwnQdisc};

/// What a removal takes: one fault's rules, by their exact tag, and its
/// own root qdisc; or (a sweep without a journal) every rule gameday tags
/// and every root qdisc in gameday's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tagged<'a> {
    Exactly { tag: &'a str, qdisc: OwnQdisc },
    AnyOfGameday,
}

impl Tagged<'_> {
    fn matches(self, comment: &str) -> bool {
        match self {
            // An empty tag never matches: it would take every rule.
            Tagged::Exactly { tag, .. } => !tag.is_empty() && comment == tag,
            Tagged::AnyOfGameday => comment.starts_with("gameday:"),
        }
    }

    fn takes_qdisc(self, major: u16) -> bool {
        match self {
            Tagged::Exactly { qdisc, .. } => qdisc.major() == Some(major),
            Tagged::AnyOfGameday => qdisc::is_ours(major),
        }
    }
}

/// The comment of a rule as `iptables -S` prints it, if it has one.
fn rule_comment(words: &[&str]) -> Option<String> {
    let at = words.iter().position(|w| *w == "--comment")?;
    words.get(at + 1).map(|c| c.trim_matches('"').to_string())
}

/// A word of a rule read back from the namespace: the rule is fed back to
/// `iptables -D` as arguments, so anything unexpected refuses it.
fn safe_word(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:/,!=+@%-".contains(c))
}

/// The redirect a `nat` rule read back makes (`-p udp ... --dport 53 ...
/// -j REDIRECT --to-ports 40000`), if it is one.
fn redirect_of(words: &[&str]) -> Option<Redirect> {
    let after = |flag: &str| {
        let at = words.iter().position(|w| *w == flag)?;
        words.get(at + 1).copied()
    };
    if after("-j") != Some("REDIRECT") {
        return None;
    }
    Some(Redirect {
        protocol: Protocol::from_name(after("-p")?)?,
        caught: after("--dport")?.parse().ok()?,
        to: after("--to-ports")?.parse().ok()?,
    })
}

/// Remove the rules `which` names (by their comment, exactly) and its
/// root qdiscs (by their handle); forget the flows the removed redirects
/// had translated (a proxy that died could not). Returns whether anything
/// was removed.
pub(crate) fn remove_tagged(exec: &mut dyn NetExec, which: Tagged<'_>) -> Result<bool, String> {
    let mut removed = false;
    let mut redirects = Vec::new();
    for table in ["filter", "mangle", "nat"] {
        let rules = exec.run("iptables", &["-w", "5", "-t", table, "-S"])?;
        for rule in rules.lines().filter(|r| r.starts_with("-A ")) {
            let words: Vec<&str> = rule.split_whitespace().collect();
            if !rule_comment(&words).is_some_and(|c| which.matches(&c)) {
                continue;
            }
            let words: Vec<&str> = words.iter().map(|w| w.trim_matches('"')).collect();
            if !words.iter().all(|w| safe_word(w)) {
                return Err(format!(
                    "refusing to feed back a rule read from the container's namespace: {rule:?}"
                ));
            }
            let mut args: Vec<&str> = vec!["-w", "5", "-t", table, "-D"];
            args.extend(words.iter().skip(1));
            if let Err(e) = exec.run("iptables", &args) {
                // A proxy whose input closed takes its own redirect away,
                // maybe between the listing and this delete: a rule that
                // is no longer there is removed, not a failure.
                let now = exec.run("iptables", &["-w", "5", "-t", table, "-S"])?;
                if now.lines().any(|r| r == rule) {
                    return Err(e);
                }
            }
            redirects.extend(redirect_of(&words));
            removed = true;
        }
    }
    if !redirects.is_empty() {
        exec.forget_redirected(&redirects)?;
    }
    let qdiscs = qdisc::remove(exec, |major| which.takes_qdisc(major))?;
    Ok(removed || qdiscs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A namespace whose nat table holds one tagged redirect until the
    /// first delete, which fails as if its proxy had just taken it away.
    struct ProxyRacesTheRevert {
        rule: String,
        gone: bool,
        still_there: bool,
        deletes: usize,
    }

    impl NetExec for ProxyRacesTheRevert {
        fn run(&mut self, program: &str, args: &[&str]) -> Result<String, String> {
            match (program, args.get(4).copied()) {
                ("iptables", Some("-S")) if args[3] == "nat" && !self.gone => {
                    Ok(format!("-P OUTPUT ACCEPT\n{}\n", self.rule))
                }
                ("iptables", Some("-D")) => {
                    self.deletes += 1;
                    self.gone = !self.still_there;
                    Err("iptables: Bad rule (does a matching rule exist in that chain?)".into())
                }
                _ => Ok(String::new()),
            }
        }

        fn start_packet_server(
            &mut self,
            _: u16,
            _: crate::fault::nfqueue::PacketPlan,
            _: std::time::Duration,
        ) -> Result<crate::fault::nfqueue::PacketServer, String> {
            Err("not here".into())
        }

        fn forget_redirected(
            &mut self,
            redirects: &[crate::fault::conntrack::Redirect],
        ) -> Result<usize, String> {
            Ok(redirects.len())
        }
    }

    #[test]
    fn a_rule_its_proxy_took_away_meanwhile_is_removed_not_a_failure() {
        let rule = "-A OUTPUT -p udp -m udp --dport 53 -m mark ! --mark 0x6764 -m comment --comment gameday:r1:s1-f1 -j REDIRECT --to-ports 40000";
        let which = || Tagged::Exactly {
            tag: "gameday:r1:s1-f1",
            qdisc: OwnQdisc::None,
        };
        let mut raced = ProxyRacesTheRevert {
            rule: rule.into(),
            gone: false,
            still_there: false,
            deletes: 0,
        };
        assert_eq!(remove_tagged(&mut raced, which()), Ok(true));
        assert_eq!(raced.deletes, 1);
        // A delete that fails while the rule is still there is a failure.
        let mut stuck = ProxyRacesTheRevert {
            rule: rule.into(),
            gone: false,
            still_there: true,
            deletes: 0,
        };
        assert!(remove_tagged(&mut stuck, which()).is_err());
    }

    #[test]
    fn rules_are_taken_by_their_exact_tag_and_read_back_safely() {
        let rule = |comment: &str| {
            format!("-A OUTPUT -d 10.0.0.2/32 -m comment --comment {comment} -j DROP")
        };
        let words = |r: &str| r.split_whitespace().map(String::from).collect::<Vec<_>>();
        let comment_of = |r: &str| {
            let w = words(r);
            let w: Vec<&str> = w.iter().map(String::as_str).collect();
            rule_comment(&w)
        };
        let ours = rule("gameday:run1:s1-f1-abc");
        assert_eq!(comment_of(&ours).as_deref(), Some("gameday:run1:s1-f1-abc"));
        let exact = Tagged::Exactly {
            tag: "gameday:run1:s1-f1-abc",
            qdisc: OwnQdisc::Handle(0x67ab),
        };
        assert!(exact.matches("gameday:run1:s1-f1-abc"));
        assert!(
            !exact.matches("gameday:run1:s1-f1-abcd"),
            "a longer tag is another fault"
        );
        assert!(!exact.matches("gameday:run2:s1-f1-abc"), "another run's");
        assert!(
            !Tagged::Exactly {
                tag: "",
                qdisc: OwnQdisc::None
            }
            .matches(""),
            "an empty tag matches nothing"
        );
        // Its own qdisc only; a sweep takes any of gameday's range.
        assert!(exact.takes_qdisc(0x67ab));
        assert!(!exact.takes_qdisc(0x67ac) && !exact.takes_qdisc(qdisc::LEGACY));
        let old = Tagged::Exactly {
            tag: "gameday:run1:s1-f1-abc",
            qdisc: OwnQdisc::Legacy,
        };
        assert!(old.takes_qdisc(qdisc::LEGACY) && !old.takes_qdisc(0x67ab));
        assert!(Tagged::AnyOfGameday.takes_qdisc(0x67ab));
        assert!(!Tagged::AnyOfGameday.takes_qdisc(1));
        assert!(Tagged::AnyOfGameday.matches("gameday:run2:s1-f1-abc"));
        assert!(!Tagged::AnyOfGameday.matches("user-rule"));
        assert!(safe_word("10.0.0.2/32") && safe_word("gameday:run1:s1-f1-abc"));
        let redirect = "-A OUTPUT -p udp -m udp --dport 53 -m mark ! --mark 0x6764 -m comment --comment gameday:run1:s1-f1-abc -j REDIRECT --to-ports 40000";
        let words: Vec<&str> = redirect.split_whitespace().collect();
        assert_eq!(
            redirect_of(&words),
            Some(Redirect {
                protocol: Protocol::Udp,
                caught: 53,
                to: 40000
            })
        );
        let words: Vec<&str> = ours.split_whitespace().collect();
        assert_eq!(redirect_of(&words), None, "a DROP rule redirects nothing");
        assert!(!safe_word("$(reboot)") && !safe_word("a;b") && !safe_word(""));
    }
}
