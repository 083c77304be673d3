use super::*;
use proptest::prelude::*;

#[test]
fn sizes_need_a_unit_and_print_in_binary_units() {
    let size = |s: &str| s.parse::<ByteSize>().map(|b| b.0);
    assert_eq!(size("256MiB"), Ok(256.0 * 1024.0 * 1024.0));
    assert_eq!(size("200MB"), Ok(200e6));
    assert_eq!(size("1.5 GiB"), Ok(1.5 * 1024.0 * 1024.0 * 1024.0));
    assert_eq!(size("4096B"), Ok(4096.0));
    assert!(size("256").unwrap_err().contains("no unit"));
    assert!(size("-1MiB").is_err());
    assert_eq!(ByteSize(256.0 * 1024.0 * 1024.0).to_string(), "256MiB");
    assert_eq!(ByteSize(1536.0 * 1024.0 * 1024.0).to_string(), "1.5GiB");
    assert_eq!(ByteSize(900.0).to_string(), "900B");
    assert_eq!("150%".parse::<CpuPercent>().map(|c| c.0), Ok(150.0));
    assert!("150".parse::<CpuPercent>().is_err());
    assert_eq!(CpuPercent(82.25).to_string(), "82.2%");
    assert_eq!("healthy".parse::<HealthState>(), Ok(HealthState::Healthy));
    assert!("fine".parse::<HealthState>().is_err());
}

fn d(s: &str) -> Result<u128, String> {
    s.parse::<HumanDuration>().map(|d| d.0.as_millis())
}

#[test]
fn durations_parse() {
    assert_eq!(d("250ms"), Ok(250));
    assert_eq!(d("30s"), Ok(30_000));
    assert_eq!(d("1m30s"), Ok(90_000));
    assert_eq!(d("1h"), Ok(3_600_000));
    assert_eq!(d("1.5s"), Ok(1_500));
    assert_eq!(d("2s500ms"), Ok(2_500));
    assert!(d("20").unwrap_err().contains("no unit"));
    assert!(d("30s1m").unwrap_err().contains("largest to smallest"));
    assert!(d("5d").unwrap_err().contains("unknown duration unit"));
    assert!(d("").is_err());
    assert!(d("s").is_err());
    assert!(d("1..5s").is_err());
    assert!(d("99999999999999999999h").is_err());
}

#[test]
fn durations_print_canonically() {
    assert_eq!(HumanDuration::from_millis(90_000).to_string(), "1m30s");
    assert_eq!(HumanDuration::from_millis(250).to_string(), "250ms");
    assert_eq!(HumanDuration::from_millis(3_605_000).to_string(), "1h5s");
    assert_eq!(HumanDuration::from_millis(0).to_string(), "0s");
    assert_eq!(HumanDuration::from_millis(1500).to_string(), "1.5s");
    assert_eq!(HumanDuration::from_millis(90_500).to_string(), "1m30.5s");
    assert_eq!(HumanDuration::from_millis(1234).to_string(), "1.234s");
    assert_eq!(HumanDuration::from_millis(7_200_000).to_string(), "2h");
}

#[test]
fn comparisons_parse() {
    let c: Comparison<Percent> = ">= 99%".parse().unwrap();
    assert_eq!(c.op, CmpOp::Ge);
    assert_eq!(c.value, Percent(99.0));
    let c: Comparison<HumanDuration> = "<1s".parse().unwrap();
    assert_eq!(c.op, CmpOp::Lt);
    assert_eq!(c.value, HumanDuration::from_secs(1));
    assert!("99%".parse::<Comparison<Percent>>().is_err());
    assert!(">= 101%".parse::<Comparison<Percent>>().is_err());
    assert!("=> 5%".parse::<Comparison<Percent>>().is_err());
}

#[test]
fn status_specs() {
    assert!(StatusSpec::parse_one("2xx").unwrap().matches(204));
    assert!(!StatusSpec::parse_one("2xx").unwrap().matches(503));
    assert_eq!(StatusSpec::parse_one("503"), Ok(StatusSpec::Code(503)));
    assert!(StatusSpec::parse_one("6xx").is_err());
    assert!(StatusSpec::parse_one("99").is_err());
}

#[test]
fn rates() {
    assert_eq!("1mbit".parse::<Rate>().unwrap().bits_per_second, 1_000_000);
    assert_eq!("512kbit".parse::<Rate>().unwrap().bits_per_second, 512_000);
    assert_eq!("100kbps".parse::<Rate>().unwrap().bits_per_second, 800_000);
    assert_eq!("1.5mbit".parse::<Rate>().unwrap().to_string(), "1500kbit");
    assert!("1mb".parse::<Rate>().is_err());
    assert!("10bit".parse::<Rate>().is_err());
}

#[test]
fn signals() {
    assert_eq!(parse_signal("kill").as_deref(), Ok("SIGKILL"));
    assert_eq!(parse_signal("SIGTERM").as_deref(), Ok("SIGTERM"));
    assert!(parse_signal("SIGFOO").is_err());
}

proptest! {
    #[test]
    fn duration_display_round_trips(ms in 0u64..10_000_000_000) {
        let d = HumanDuration::from_millis(ms);
        prop_assert_eq!(d.to_string().parse::<HumanDuration>(), Ok(d));
    }

    #[test]
    fn duration_parser_never_panics(s in "\\PC{0,20}") {
        let _ = s.parse::<HumanDuration>();
    }

    #[test]
    fn duration_groups_add_up(h in 0u64..50, m in 0u64..60, s in 0u64..60, ms in 0u64..1000) {
        let text = format!("{h}h{m}m{s}s{ms}ms");
        let expected = ((h * 60 + m) * 60 + s) * 1000 + ms;
        prop_assert_eq!(text.parse::<HumanDuration>(), Ok(HumanDuration::from_millis(expected)));
    }

    #[test]
    fn comparison_round_trips(op in 0usize..6, pct in 0u32..=10000) {
        let ops = [">=", ">", "<=", "<", "==", "!="];
        let value = Percent(f64::from(pct) / 100.0);
        let text = format!("{} {}", ops[op], value);
        let parsed: Comparison<Percent> = text.parse().unwrap();
        prop_assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn comparison_parser_never_panics(s in "\\PC{0,20}") {
        let _ = s.parse::<Comparison<Percent>>();
        let _ = s.parse::<Comparison<HumanDuration>>();
    }

    #[test]
    fn comparison_holds_like_the_operator(a in 0u64..1000, b in 0u64..1000) {
        let (a, b) = (HumanDuration::from_millis(a), HumanDuration::from_millis(b));
        prop_assert_eq!(CmpOp::Lt.holds(&a, &b), a < b);
        prop_assert_eq!(CmpOp::Ge.holds(&a, &b), a >= b);
        prop_assert_eq!(CmpOp::Ne.holds(&a, &b), a != b);
    }
}

#[test]
fn durations_print_as_people_write_them_and_read_back_the_same() {
    for ms in [
        1, 250, 999, 1000, 1500, 1234, 59_999, 60_000, 90_500, 3_605_000, 7_200_000,
    ] {
        let d = HumanDuration::from_millis(ms);
        let back: HumanDuration = d.to_string().parse().unwrap();
        assert_eq!(back, d, "{d}");
    }
}

#[test]
fn measured_durations_read_well_at_every_size() {
    let cases = [
        (0.0, "0ms"),
        (0.25, "250µs"),
        (0.0004, "0µs"),
        (2.5, "2.5ms"),
        (1.0, "1ms"),
        (230.4, "230ms"),
        (1000.0, "1s"),
        (1520.0, "1.52s"),
        (12_400.0, "12.4s"),
        (150_000.0, "2m30s"),
        (120_000.0, "2m"),
        (3_900_000.0, "1h5m"),
        (-1500.0, "-1.5s"),
    ];
    for (ms, text) in cases {
        assert_eq!(fmt_ms(ms), text, "{ms}");
    }
    // Chart ticks at 0, half and the top never share a label.
    for top in [0.2, 0.5, 1.0, 2.0, 5.0, 20.0, 500.0, 1000.0, 2000.0] {
        let labels = [fmt_ms(0.0), fmt_ms(top / 2.0), fmt_ms(top)];
        assert!(
            labels[0] != labels[1] && labels[1] != labels[2],
            "{labels:?}"
        );
    }
}
