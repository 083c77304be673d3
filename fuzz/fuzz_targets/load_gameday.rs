//! Fuzz the whole loader: bytes -> YAML -> validated gameday or diagnostics.
//! It must never panic, and any diagnostics must render.
//! Run: `cargo install cargo-fuzz && cargo +nightly fuzz run load_gameday`
//! (or with a stable toolchain: `RUSTC_BOOTSTRAP=1 cargo fuzz run load_gameday`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let env = |_: &str| Some("1".to_string());
    if let Err(d) = gameday::gameday::load_bytes("fuzz.yaml", data, &env) {
        let _ = d.render();
    }
});
