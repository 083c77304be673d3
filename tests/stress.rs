//! The stress faults and `script` through the real binary, against real
//! containers, each effect measured from outside gameday: the container's
//! CPU and memory from Docker's stats API (`docker stats`), its filesystem
//! with `df` on its mount, its state from `docker inspect`; and nothing
//! left after the revert, after a dead runner and `recover`. And what they
//! may not take: a shared filesystem's reserve, a filesystem a symlink
//! leads to, the unkillable worker of a container without a limit.

mod common;

use std::time::Duration;

use common::*;

/// `docker stats` of one container: (CPU %, memory used in bytes).
fn stats(id: &str) -> (f64, f64) {
    let line = docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.CPUPerc}} {{.MemUsage}}",
        id,
    ]);
    let mut parts = line.split_whitespace();
    let cpu: f64 = parts
        .next()
        .and_then(|c| c.trim_end_matches('%').parse().ok())
        .unwrap_or_else(|| panic!("bad stats: {line}"));
    let mem = parts.next().unwrap_or_default();
    let (number, scale) = [
        ("GiB", 1024.0 * 1024.0 * 1024.0),
        ("MiB", 1024.0 * 1024.0),
        ("KiB", 1024.0),
        ("B", 1.0),
    ]
    .iter()
    .find_map(|(unit, scale)| mem.strip_suffix(unit).map(|n| (n, *scale)))
    .unwrap_or_else(|| panic!("bad stats: {line}"));
    (cpu, number.parse::<f64>().unwrap() * scale)
}

/// The host PIDs of `gameday stress --kind KIND` workers on container `id`.
fn workers(kind: &str, id: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let argv: Vec<String> = raw
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if argv.get(1).map(String::as_str) == Some("stress")
            && argv.windows(2).any(|w| w[0] == "--kind" && w[1] == kind)
            && argv.windows(2).any(|w| w[0] == "--container" && w[1] == id)
        {
            found.push(pid);
        }
    }
    found
}

fn main_pid(id: &str) -> String {
    docker(&["inspect", "-f", "{{.State.Pid}}", id])
}

/// `df` of a directory of the container, through its mount seen from here:
/// (use in percent, used bytes).
fn df(id: &str, dir: &str) -> (f64, f64) {
    let path = format!("/proc/{}/root{dir}", main_pid(id));
    let out = run(std::process::Command::new("stat")
        .args(["-f", "-c", "%b %f %a %S"])
        .arg(&path));
    let n: Vec<f64> = out
        .split_whitespace()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("bad stat: {out}")))
        .collect();
    let (blocks, free, avail, size) = (n[0], n[1], n[2], n[3]);
    let used = (blocks - free) * size;
    let pcent = if used == 0.0 {
        0.0
    } else {
        (100.0 * used / (used + avail * size)).ceil()
    };
    (pcent, used)
}

/// Files named `.gameday-*` in a directory of the container.
fn gameday_files(id: &str, dir: &str) -> Vec<String> {
    let path = format!("/proc/{}/root{dir}", main_pid(id));
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".gameday-"))
                .collect()
        })
        .unwrap_or_default()
}

/// CPU and memory stress: charged to the container (Docker's stats API
/// sees them), at the asked load and size, and gone with the revert.
#[test]
fn cpu_and_memory_stress_are_charged_to_the_container_and_end_with_the_revert() {
    let project = Project::new("stress");
    let api = project.service_opts(
        "api",
        // A quota, as a service has: the worker asks for its CPU time
        // hard, and the other tests keep the rest of this 2-core machine.
        &["--cpus", "1.0", "--memory", "256m"],
        &["api", "--listen", "0.0.0.0:8080", "--store", "store:7000"],
        Some(8080),
    );
    let (_g, file) = gameday_file(&format!(
        r#"
gameday: Stress
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 1s, cooldown: 3s }}
probes:
  api: {{ http: {{ url: "http://127.0.0.1:{port}/" }}, every: 250ms }}
  api-state: {{ container: {{ service: api }}, every: 500ms }}
scenarios:
  - name: CPU at 60%
    fault: {{ cpu_stress: {{ service: api, workers: 1, load: 60% }} }}
    duration: 8s
    expect:
      - {{ probe: api-state, during: fault, cpu: ">= 40%" }}
      - {{ probe: api, during: fault, success_rate: ">= 99%" }}
  - name: Memory held
    fault: {{ memory_stress: {{ service: api, size: 96MiB }} }}
    duration: 8s
    expect:
      - {{ probe: api-state, during: fault, memory: ">= 90MiB" }}
      - {{ probe: api-state, during: fault, oom_killed: false }}
"#,
        project = project.name,
        port = api.host_port.unwrap(),
    ));
    let (idle_cpu, idle_mem) = stats(&api.id);
    let out = tempfile::tempdir().unwrap();
    let child = spawn_run(&file, out.path());

    wait_for("the CPU worker", Duration::from_secs(20), || {
        !workers("cpu", &api.id).is_empty()
    });
    std::thread::sleep(Duration::from_secs(2));
    let (loaded_cpu, _) = stats(&api.id);
    assert!(
        (45.0..=75.0).contains(&loaded_cpu),
        "asked 60% of a core, Docker's stats say {loaded_cpu}% (idle {idle_cpu}%)"
    );

    wait_for("the memory worker", Duration::from_secs(20), || {
        !workers("memory", &api.id).is_empty()
    });
    assert!(
        workers("cpu", &api.id).is_empty(),
        "the CPU worker ended with its revert"
    );
    std::thread::sleep(Duration::from_secs(1));
    let (after_cpu, held_mem) = stats(&api.id);
    let grew = held_mem - idle_mem;
    let asked = 96.0 * 1024.0 * 1024.0;
    assert!(
        (grew - asked).abs() <= asked * 0.10,
        "asked 96MiB, the container's memory grew by {:.1}MiB",
        grew / 1024.0 / 1024.0
    );
    assert!(
        after_cpu < 20.0,
        "CPU fell back after the revert: {after_cpu}%"
    );

    let output = finish(child, Duration::from_secs(60));
    assert_exit(&output, 0);
    assert!(workers("memory", &api.id).is_empty() && workers("cpu", &api.id).is_empty());
    let (_, released) = stats(&api.id);
    assert!(
        released - idle_mem < 8.0 * 1024.0 * 1024.0,
        "memory released after the revert: {released} bytes vs {idle_mem} idle"
    );
    let result = result_json(&run_dir(out.path()));
    let detail = result["scenarios"][1]["faults"][0]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(
        detail.contains("96MiB allocated and touched") && detail.contains("stopped: told to stop"),
        "{detail}"
    );

    // A runner killed with its watchdogs while the CPU worker runs: the
    // worker ends with it (its stdin closes), and `recover` finds nothing
    // left, twice.
    let out2 = tempfile::tempdir().unwrap();
    kill_runner_once(&file, out2.path(), || !workers("cpu", &api.id).is_empty());
    wait_for(
        "the worker to end with its runner",
        Duration::from_secs(3),
        || workers("cpu", &api.id).is_empty(),
    );
    assert_exit(&gameday_recover(out2.path()), 0);
    assert_exit(&gameday_recover(out2.path()), 0);
    assert!(workers("cpu", &api.id).is_empty() && workers("memory", &api.id).is_empty());
    std::thread::sleep(Duration::from_secs(1));
    let (cpu, _) = stats(&api.id);
    assert!(cpu < 20.0, "no CPU load left: {cpu}%");
}

/// Memory stress past what the container has left ends in an OOM kill,
/// recorded as what happened, not as an error: the container's own
/// processes are the OOM killer's first choice (as a leak in them would
/// be), so the api (24 MiB of its own, under a 64 MiB limit) is killed,
/// Docker restarts it, it serves again, the worker ends with the process
/// it stressed, and nothing it raised is left.
#[test]
fn memory_stress_past_the_limit_ends_in_an_oom_kill_and_a_restart() {
    let project = Project::new("oom");
    let api = project.service_opts(
        "api",
        &[
            "--memory",
            "64m",
            "--memory-swap",
            "64m",
            "--restart",
            "always",
        ],
        &[
            "api",
            "--listen",
            "0.0.0.0:8080",
            "--store",
            "store:7000",
            "--ballast",
            "24",
        ],
        Some(8080),
    );
    let (_g, file) = gameday_file(&format!(
        r#"
gameday: OOM
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 1s, cooldown: 3s }}
probes:
  api-state: {{ container: {{ service: api }}, every: 250ms }}
scenarios:
  - name: Memory past the limit
    fault: {{ memory_stress: {{ service: api, size: 48MiB }} }}
    duration: 5s
    expect:
      - {{ probe: api-state, during: fault, restarts: ">= 1" }}
      - {{ probe: api-state, during: after, state: running }}
"#,
        project = project.name,
    ));
    let old_pid = main_pid(&api.id);
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &file, 90);
    assert_exit(&output, 0);
    // The kernel says whom it killed (the cgroup and its counters are new
    // once the container restarted).
    if let Ok(log) = std::process::Command::new("dmesg").output()
        && log.status.success()
    {
        let log = String::from_utf8_lossy(&log.stdout);
        assert!(
            log.contains(&format!("Killed process {old_pid} (gameday-demo)")),
            "the OOM killer chose the api's own process {old_pid}"
        );
    }
    let restarts = docker(&["inspect", "-f", "{{.RestartCount}}", &api.id]);
    assert_ne!(restarts, "0", "Docker counted the restart");
    // Published on a random host port, which a restart picks anew.
    let mapping = docker(&["port", &api.id, "8080/tcp"]);
    let port: u16 = mapping
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next()?.parse().ok())
        .unwrap();
    wait_for("the api to serve again", Duration::from_secs(10), || {
        http_ok(port, "/", Duration::from_millis(500))
    });
    let result = result_json(&run_dir(out.path()));
    let fault = &result["scenarios"][0]["faults"][0];
    let detail = fault["detail"].as_str().unwrap_or_default();
    // The worker ends with the api, or, still allocating once the api is
    // gone and the limit still reached, by the OOM killer too: either is
    // said.
    assert!(
        detail.contains("the container's main process ended") || detail.contains("the OOM killer"),
        "{detail}"
    );
    assert!(fault["error"].is_null(), "not an error: {fault}");
    assert!(workers("memory", &api.id).is_empty(), "no worker left");
    let pid = main_pid(&api.id);
    let score = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap();
    assert_eq!(score.trim(), "0", "the new process has its own OOM score");
}

/// disk_fill and io_stress in a small tmpfs: `df` on the container's mount
/// shows the fill and the space coming back; the writers' files exist
/// while they write and are gone after. Then a dead runner whose worker
/// was killed too (so nothing cleaned up): `recover` removes exactly the
/// journalled file.
#[test]
fn disk_fill_fills_the_filesystem_and_recover_removes_the_file() {
    let project = Project::new("fill");
    let store = project.service_opts(
        "store",
        // Writers to a tmpfs are busy threads: held to half a core, so
        // they leave the machine to the other tests.
        &["--tmpfs", "/data:size=16m", "--cpus", "0.5"],
        &["store", "--listen", "0.0.0.0:7000"],
        None,
    );
    let (_g, file) = gameday_file(&format!(
        r#"
gameday: Disk
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 1s, cooldown: 2s }}
probes:
  store-state: {{ container: {{ service: store }} }}
scenarios:
  - name: Disk 90% full
    fault: {{ disk_fill: {{ service: store, path: /data, fill: 90% }} }}
    duration: 5s
  - name: Writers
    fault: {{ io_stress: {{ service: store, path: /data/, workers: 2, size: 2MiB }} }}
    duration: 4s
"#,
        project = project.name,
    ));
    let (empty, _) = df(&store.id, "/data");
    let out = tempfile::tempdir().unwrap();
    let child = spawn_run(&file, out.path());
    wait_for("the fill", Duration::from_secs(20), || {
        df(&store.id, "/data").0 >= 89.0
    });
    let (full, used) = df(&store.id, "/data");
    assert!(
        (89.0..=91.0).contains(&full),
        "asked 90%, df says {full}% ({used} bytes)"
    );
    wait_for("the writers", Duration::from_secs(20), || {
        gameday_files(&store.id, "/data").len() == 2
    });
    assert!(df(&store.id, "/data").0 < 50.0, "the fill is gone");
    let output = finish(child, Duration::from_secs(60));
    assert_exit(&output, 0);
    assert_eq!(gameday_files(&store.id, "/data"), Vec::<String>::new());
    assert_eq!(df(&store.id, "/data").0, empty);
    assert!(workers("io", &store.id).is_empty() && workers("fill", &store.id).is_empty());

    // A dead runner, its worker killed with it before it could clean up.
    fill_left_by_a_dead_runner_is_removed_by_recover(&file, &store.id, 89.0, empty);
}

/// Run `file` until container `id`'s `/data` is `full` percent full, then
/// kill the runner, its watchdog and the fill worker (nothing cleans up):
/// the fill file is left, `recover` removes it (`/data` back to `empty`),
/// and a second `recover` finds nothing to do.
fn fill_left_by_a_dead_runner_is_removed_by_recover(
    file: &std::path::Path,
    id: &str,
    full: f64,
    empty: f64,
) {
    let out = tempfile::tempdir().unwrap();
    kill_runner_once(file, out.path(), || {
        let filled = df(id, "/data").0 >= full;
        if filled {
            for pid in workers("fill", id) {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
        filled && workers("fill", id).is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        gameday_files(id, "/data").len(),
        1,
        "the fill is left behind"
    );
    let recovered = gameday_recover(out.path());
    assert_exit(&recovered, 0);
    assert_eq!(gameday_files(id, "/data"), Vec::<String>::new());
    assert_eq!(df(id, "/data").0, empty);
    assert_exit(&gameday_recover(out.path()), 0);
}

/// A script fault on this host: its own pause through the docker CLI. The
/// container IS paused while it holds and runs after; its exit code and
/// output are in the result. A dead runner's script is reverted by
/// `recover` from the journal; an apply that fails runs the revert and
/// says why.
#[test]
fn script_fault_runs_apply_and_revert_and_recover_runs_the_revert() {
    let project = Project::new("script");
    let (store, _api) = project.demo_stack();
    let file_for = |apply: &str| {
        gameday_file(&format!(
            r#"
gameday: Script
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 1s, cooldown: 2s }}
probes:
  store-state: {{ container: {{ service: store }} }}
scenarios:
  - name: Paused by a script
    fault:
      script:
        service: store
        in: host
        apply: [sh, -c, "{apply}"]
        revert: [sh, -c, "docker unpause $GAMEDAY_CONTAINER_ID >/dev/null 2>&1; echo unpaused $GAMEDAY_CONTAINER_NAME"]
        timeout: 20s
    duration: 3s
    expect:
      - {{ probe: store-state, during: fault, state: paused }}
"#,
            project = project.name,
        ))
    };
    let (_g, file) = file_for("docker pause $GAMEDAY_CONTAINER_ID >/dev/null && echo paused");
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &file, 60);
    assert_exit(&output, 0);
    assert_eq!(store.state(), "running");
    let result = result_json(&run_dir(out.path()));
    let detail = result["scenarios"][0]["faults"][0]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(
        detail.contains("apply: exit 0: paused")
            && detail.contains(&format!("revert: exit 0: unpaused {}", store.name)),
        "{detail}"
    );

    let out2 = tempfile::tempdir().unwrap();
    kill_runner_once(&file, out2.path(), || store.state() == "paused");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        store.state(),
        "paused",
        "still paused once the runner is gone"
    );
    let recovered = gameday_recover(out2.path());
    assert_exit(&recovered, 0);
    assert_eq!(store.state(), "running");

    let (_g3, failing) =
        file_for("docker pause $GAMEDAY_CONTAINER_ID >/dev/null; echo no luck; exit 3");
    let out3 = tempfile::tempdir().unwrap();
    let _ = run_gameday(out3.path(), &failing, 60);
    let result = result_json(&run_dir(out3.path()));
    let error = result["scenarios"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("the apply failed: exit 3: no luck"),
        "{error}"
    );
    assert_eq!(
        store.state(),
        "running",
        "the revert ran after the failed apply"
    );
}

/// The cgroup (memory hierarchy) of a process on this host.
fn memory_cgroup(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            (controllers.split(',').any(|c| c == "memory") || controllers.is_empty())
                .then(|| path.to_string())
        })
        .unwrap_or_default()
}

/// Where gameday cannot act from this host (a remote engine; here the
/// local engine told `network_helper: helper`), the stress workers run in
/// helper containers from the helper image, placed in a child of the
/// target's cgroup and in its PID namespace: Docker's stats of the target
/// count their CPU and memory, a fill lands in the target's filesystem,
/// the target's OOM scores are raised and put back, and no helper is left,
/// after the run or after a dead runner and `recover`.
#[test]
fn stress_through_a_helper_container_is_charged_to_the_target_and_leaves_nothing() {
    ensure_nethelper_image();
    let project = Project::new("stresshelper");
    let api = project.service_opts(
        "api",
        &[
            "--cpus",
            "1.0",
            "--memory",
            "256m",
            "--tmpfs",
            "/data:size=16m",
        ],
        &["api", "--listen", "0.0.0.0:8080", "--store", "store:7000"],
        Some(8080),
    );
    let _guard = HelperGuard(api.id.clone());
    let (_g, file) = gameday_file(&format!(
        r#"
gameday: Stress via helpers
scope: {{ compose_project: {project} }}
docker: {{ network_helper: helper, helper_image: "{image}" }}
defaults: {{ baseline: 1s, cooldown: 2s }}
probes:
  api: {{ http: {{ url: "http://127.0.0.1:{port}/" }}, every: 250ms }}
scenarios:
  - name: CPU at 60%
    fault: {{ cpu_stress: {{ service: api, workers: 1, load: 60% }} }}
    duration: 7s
    expect:
      - {{ probe: api, during: fault, success_rate: ">= 99%" }}
  - name: Memory held
    fault: {{ memory_stress: {{ service: api, size: 64MiB }} }}
    duration: 5s
  - name: Disk half full
    fault: {{ disk_fill: {{ service: api, path: /data, fill: 50% }} }}
    duration: 5s
"#,
        project = project.name,
        image = nethelper_image(),
        port = api.host_port.unwrap(),
    ));
    let pid: i32 = main_pid(&api.id).parse().unwrap();
    let score = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))
            .unwrap()
            .trim()
            .to_string()
    };
    let original_score = score(pid);
    let (idle_cpu, idle_mem) = stats(&api.id);
    let (empty, _) = df(&api.id, "/data");
    let out = tempfile::tempdir().unwrap();
    let child = spawn_run(&file, out.path());

    // CPU: the worker is in a child of the api's cgroup, not this host's.
    wait_for("the CPU worker", Duration::from_secs(30), || {
        !workers("cpu", &api.id).is_empty()
    });
    let worker = workers("cpu", &api.id)[0];
    let cgroup = memory_cgroup(worker);
    assert!(
        cgroup.contains(&format!("/{}/", api.id)) && cgroup != memory_cgroup(pid),
        "the worker's cgroup {cgroup} is a child of the api's {}",
        memory_cgroup(pid)
    );
    assert_eq!(
        helpers_sharing(&api.id, "PidMode").len(),
        1,
        "one helper holds it"
    );
    std::thread::sleep(Duration::from_secs(2));
    let (loaded_cpu, _) = stats(&api.id);
    assert!(
        (45.0..=75.0).contains(&loaded_cpu),
        "asked 60% of a core, Docker's stats of the api say {loaded_cpu}% (idle {idle_cpu}%)"
    );

    // Memory: counted in the api's use; its own process is the OOM
    // killer's first choice while it holds.
    wait_for("the memory worker", Duration::from_secs(30), || {
        !workers("memory", &api.id).is_empty()
    });
    std::thread::sleep(Duration::from_secs(1));
    let (_, held_mem) = stats(&api.id);
    let grew = held_mem - idle_mem;
    let asked = 64.0 * 1024.0 * 1024.0;
    assert!(
        (grew - asked).abs() <= asked * 0.10,
        "asked 64MiB, the api's memory grew by {:.1}MiB",
        grew / 1024.0 / 1024.0
    );
    assert_eq!(score(pid), "1000", "the api's OOM score is raised");

    // Disk: the fill is in the api's own filesystem.
    wait_for("the fill", Duration::from_secs(30), || {
        df(&api.id, "/data").0 >= 49.0
    });
    let (full, _) = df(&api.id, "/data");
    assert!((49.0..=51.0).contains(&full), "asked 50%, df says {full}%");
    assert_eq!(score(pid), original_score, "the OOM score is put back");

    let output = finish(child, Duration::from_secs(60));
    assert_exit(&output, 0);
    assert_eq!(gameday_files(&api.id, "/data"), Vec::<String>::new());
    assert_eq!(df(&api.id, "/data").0, empty);
    assert_eq!(
        helpers_sharing(&api.id, "PidMode"),
        Vec::<String>::new(),
        "no helper left"
    );
    let (cpu, _) = stats(&api.id);
    assert!(cpu < 20.0, "no CPU load left: {cpu}%");
    let result = result_json(&run_dir(out.path()));
    let detail = |i: usize| {
        result["scenarios"][i]["faults"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        detail(1).contains("64MiB allocated and touched"),
        "{}",
        detail(1)
    );
    assert!(detail(2).contains("/data is 50% full"), "{}", detail(2));

    // A runner killed with its watchdog while the fill holds, its worker
    // killed too before it could clean up: `recover` removes the file and
    // the helper.
    fill_left_by_a_dead_runner_is_removed_by_recover(&file, &api.id, 49.0, empty);
    assert_eq!(
        helpers_sharing(&api.id, "PidMode"),
        Vec::<String>::new(),
        "no helper left"
    );
}

/// (size, used, available) of the filesystem of a directory of the
/// container, through its mount seen from here.
fn figures(id: &str, dir: &str) -> (u64, u64, u64) {
    let path = format!("/proc/{}/root{dir}", main_pid(id));
    let out = run(std::process::Command::new("stat")
        .args(["-f", "-c", "%b %f %a %S"])
        .arg(&path));
    let n: Vec<u64> = out
        .split_whitespace()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("bad stat: {out}")))
        .collect();
    (n[0] * n[3], (n[0] - n[1]) * n[3], n[2] * n[3])
}

/// What a fault may take: a tmpfs of the container's own is filled to
/// 100%; a tmpfs volume two containers share (its file seen from the
/// other one) only with `shared_filesystem: true`, and then no further
/// than its reserve (at least 1GiB free); `memory_stress` on a container
/// without a memory limit holds its size, and its worker stays killable
/// (its `oom_score_adj` is not -1000) and says why.
#[test]
fn a_private_tmpfs_fills_to_the_full_and_a_shared_one_stops_at_its_reserve() {
    let volume = VolumeGuard::create(
        &format!("gdt-h1-reserve-{}", std::process::id()),
        &[
            "--opt",
            "type=tmpfs",
            "--opt",
            "device=tmpfs",
            "--opt",
            "o=size=1280m",
        ],
    );
    let project = Project::new("reserve");
    let mount = format!("{}:/shared", volume.0);
    let store = project.service_opts(
        "store",
        &["--tmpfs", "/data:size=16m", "-v", &mount, "--cpus", "0.5"],
        &["store", "--listen", "0.0.0.0:7000"],
        None,
    );
    let cache = project.service_opts(
        "cache",
        &["-v", &mount],
        &["store", "--listen", "0.0.0.0:7000"],
        None,
    );
    let (_g, file) = gameday_file(&format!(
        r#"
gameday: Reach
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 1s, cooldown: 2s }}
scenarios:
  - name: Its own tmpfs full
    fault: {{ disk_fill: {{ service: store, path: /data, fill: 100% }} }}
    duration: 4s
  - name: The shared tmpfs to its reserve
    fault: {{ disk_fill: {{ service: store, path: /shared, fill: 100%, shared_filesystem: true }} }}
    duration: 4s
  - name: Memory without a limit
    fault: {{ memory_stress: {{ service: store, size: 32MiB }} }}
    duration: 5s
"#,
        project = project.name,
    ));
    let (size, _, _) = figures(&cache.id, "/shared");
    let reserve = (size / 20).max(1 << 30);
    let (_, idle_mem) = stats(&store.id);
    let out = tempfile::tempdir().unwrap();
    let child = spawn_run(&file, out.path());
    wait_for("the private fill", Duration::from_secs(30), || {
        df(&store.id, "/data").0 >= 100.0
    });
    wait_for("the shared fill", Duration::from_secs(30), || {
        gameday_files(&cache.id, "/shared").len() == 1
    });
    std::thread::sleep(Duration::from_millis(500));
    let (_, used, avail) = figures(&cache.id, "/shared");
    assert!(
        avail >= reserve && avail - reserve < 4 << 20,
        "the fill stops at the reserve: {used} used, {avail} free of {size}, reserve {reserve}"
    );
    wait_for("the memory worker", Duration::from_secs(30), || {
        !workers("memory", &store.id).is_empty()
    });
    std::thread::sleep(Duration::from_secs(1));
    let worker = workers("memory", &store.id)[0];
    let score = std::fs::read_to_string(format!("/proc/{worker}/oom_score_adj")).unwrap();
    assert_ne!(score.trim(), "-1000", "the worker is not unkillable");
    let (_, held) = stats(&store.id);
    let grew = held - idle_mem;
    let asked = 32.0 * 1024.0 * 1024.0;
    assert!(
        (grew - asked).abs() <= asked * 0.15,
        "asked 32MiB, the store's memory grew by {:.1}MiB",
        grew / 1024.0 / 1024.0
    );
    let output = finish(child, Duration::from_secs(60));
    assert_exit(&output, 0);
    assert_eq!(gameday_files(&store.id, "/data"), Vec::<String>::new());
    assert_eq!(gameday_files(&cache.id, "/shared"), Vec::<String>::new());
    let result = result_json(&run_dir(out.path()));
    let detail = |i: usize| {
        result["scenarios"][i]["faults"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(detail(0).contains("/data is 100% full"), "{}", detail(0));
    assert!(
        detail(1).contains("asked: capped, the filesystem is shared and keeps 1GiB free"),
        "{}",
        detail(1)
    );
    assert!(
        detail(2).contains(
            "the worker stays as killable as any process (the container has no memory limit)"
        ),
        "{}",
        detail(2)
    );
}

/// A symlink in the container from a tmpfs path to its root filesystem
/// (`/data/escape` -> `/`): the plan checked `/data`, a tmpfs of the
/// container's own, but the worker finds the directory it opened is not
/// on it and writes nothing, from this host and from a helper container.
#[test]
fn a_fill_through_a_symlink_out_of_its_tmpfs_is_refused_by_the_worker() {
    let project = Project::new("symlink");
    let store = project.service_opts(
        "store",
        &["--tmpfs", "/data:size=16m"],
        &["store", "--listen", "0.0.0.0:7000"],
        None,
    );
    let _guard = HelperGuard(store.id.clone());
    std::os::unix::fs::symlink(
        "/",
        format!("/proc/{}/root/data/escape", main_pid(&store.id)),
    )
    .unwrap();
    for via_helper in [false, true] {
        let docker = if via_helper {
            ensure_nethelper_image();
            format!(
                "docker: {{ network_helper: helper, helper_image: \"{}\" }}",
                nethelper_image()
            )
        } else {
            String::new()
        };
        let (_g, file) = gameday_file(&one_fault_gameday(
            &project.name,
            &docker,
            "disk_fill: { service: store, path: /data/escape, size: 1MiB }",
            "2s",
        ));
        let out = tempfile::tempdir().unwrap();
        let output = run_gameday(out.path(), &file, 90);
        let result = result_json(&run_dir(out.path()));
        let error = result["scenarios"][0]["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("/data/escape leads to the filesystem of / (")
                && error.contains("not to the tmpfs of /data that the plan checked")
                && error.contains("nothing written"),
            "{docker}: {error}\n{}",
            text(&output)
        );
        assert_eq!(
            gameday_files(&store.id, "/"),
            Vec::<String>::new(),
            "{docker}"
        );
        assert!(workers("fill", &store.id).is_empty());
        let planned = text(&gameday_plan(&file));
        assert!(
            planned.contains("filesystem of /data in")
                && planned.contains("a tmpfs of its own (16MiB)"),
            "{planned}"
        );
    }
    assert_eq!(
        helpers_sharing(&store.id, "PidMode"),
        Vec::<String>::new(),
        "no helper left"
    );
}

/// A worker that answers another version (a helper image built from an
/// older gameday; here this host's worker, made to answer `0.0.0+worker.0`
/// by a hook only debug builds read) is refused before it is given any
/// work: the scenario says so with both versions and how to rebuild, and
/// nothing is applied or left.
#[test]
fn a_worker_of_another_version_is_refused_and_nothing_is_applied() {
    let project = Project::new("stale");
    let api = project.service_opts(
        "api",
        &["--cpus", "1.0"],
        &["api", "--listen", "0.0.0.0:8080", "--store", "store:7000"],
        None,
    );
    let (_g, file) = gameday_file(&one_fault_gameday(
        &project.name,
        "",
        "cpu_stress: { service: api, workers: 1, load: 90% }",
        "3s",
    ));
    let out = tempfile::tempdir().unwrap();
    let output = assert_cmd::Command::cargo_bin("gameday")
        .unwrap()
        .env("GAMEDAY_TEST_STALE_WORKER", "stress")
        .args(["run", "--no-progress", "--out"])
        .arg(out.path())
        .arg(&file)
        .timeout(Duration::from_secs(90))
        .output()
        .unwrap();
    let result = result_json(&run_dir(out.path()));
    let error = result["scenarios"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("answers worker version 0.0.0+worker.0, this gameday is ")
            && error.contains("nothing was applied"),
        "{error}\n{}",
        text(&output)
    );
    assert!(workers("cpu", &api.id).is_empty(), "no worker left");
    assert_exit(&gameday_recover(out.path()), 0);
    let (cpu, _) = stats(&api.id);
    assert!(cpu < 20.0, "no CPU load: {cpu}%");
}
