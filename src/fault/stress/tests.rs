use super::*;

fn works() -> Vec<Work> {
    vec![
        Work::Cpu {
            workers: 2,
            load: 80.0,
        },
        Work::Memory {
            bytes: 200 << 20,
            raise: vec![OomScore {
                pid: 42,
                start: 9001,
                value: -17,
            }],
        },
        Work::Io {
            dir: "/data".into(),
            workers: 2,
            file_bytes: 64 << 20,
            room: Some(Room {
                mount: "/data".into(),
                share: Share::Tmpfs,
            }),
        },
        Work::Fill {
            dir: "/data/".into(),
            amount: Amount::Percent(95.0),
            room: Some(Room {
                mount: "/".into(),
                share: Share::Shared,
            }),
        },
        Work::Fill {
            dir: "/".into(),
            amount: Amount::Bytes(1 << 30),
            room: None,
        },
        Work::Fill {
            dir: "/vol/x".into(),
            amount: Amount::Bytes(1),
            room: Some(Room {
                mount: "/vol".into(),
                share: Share::Own,
            }),
        },
        Work::Remove {
            files: vec!["/data/.gameday-fill-t".into()],
            restore: vec![OomScore {
                pid: 1,
                start: 77,
                value: 0,
            }],
        },
        Work::Scores,
    ]
}

/// A worker's target in a helper container.
fn placed_target() -> crate::worker::Target {
    crate::worker::Target {
        pid: 1,
        container: "abc".into(),
        tag: "gameday:1:s1-f1".into(),
        max_seconds: 90,
        placed: true,
    }
}

#[test]
fn work_round_trips_through_its_json_line_and_names_its_files() {
    for work in works() {
        let job = Job {
            at: placed_target(),
            work: work.clone(),
        };
        let line = serde_json::to_string(&job).unwrap();
        assert!(!line.contains('\n'), "{line}");
        let back: Job = serde_json::from_str(&line).unwrap();
        assert_eq!(back, job);
        assert_eq!(work.clone().bounded(), work, "already within bounds");
    }
    let fill = Work::Fill {
        dir: "/data/".into(),
        amount: Amount::Percent(95.0),
        room: None,
    };
    assert_eq!(
        fill.files("gameday:3f9c2a:s1-f1-ab12"),
        vec!["/data/.gameday-fill-gameday-3f9c2a-s1-f1-ab12"]
    );
    let root = Work::Fill {
        dir: "/".into(),
        amount: Amount::Bytes(1),
        room: None,
    };
    assert_eq!(root.files("t"), vec!["/.gameday-fill-t"]);
    assert_eq!(removed_counts("removed=1 restored=2"), Some((1, 2)));
    assert_eq!(removed_counts("removed=0"), Some((0, 0)));
    assert_eq!(removed_counts("ready"), None);
    assert_eq!(
        Work::Cpu {
            workers: 0,
            load: 400.0
        }
        .bounded(),
        Work::Cpu {
            workers: 1,
            load: 100.0
        }
    );
}

#[test]
fn reserves_are_a_share_with_a_floor() {
    assert_eq!(disk_reserve(100 * GIB), 5 * GIB);
    assert_eq!(disk_reserve(16 << 20), GIB);
    assert_eq!(memory_reserve(24 * GIB), 24 * GIB / 10);
    assert_eq!(memory_reserve(4 * GIB), GIB);
}

/// A worker's command line carries only what finds it: its kind, tag,
/// container, whether it is placed in a helper, and its work's name.
#[test]
fn a_workers_command_line_carries_what_finds_it() {
    use crate::worker::Work as _;
    let job = Job {
        at: placed_target(),
        work: Work::Cpu {
            workers: 1,
            load: 50.0,
        },
    };
    assert_eq!(
        job.marks().argv(Job::KIND).join(" "),
        "stress --tag gameday:1:s1-f1 --container abc --placed --kind cpu"
    );
}
