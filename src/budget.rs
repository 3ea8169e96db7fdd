//! The memory budget.
//!
//! Two guards keep a run from exhausting the machine. Before a world is
//! built, [`crate::scenario::Scenario::footprint`] estimates what its
//! structures will take (partitions and their replicas, consumers, keys,
//! the events kept, the random fault plan) and a scenario whose estimate is
//! above the budget is refused with exit status 2, naming the field that
//! costs most. While a run goes, the world compares the process's resident
//! memory with the budget every 65,536 kernel events and stops cleanly
//! (`stopped_by = "memory-max"`, an inconclusive verdict) once it is over:
//! the one stop that depends on the machine rather than on the scenario
//! and seed, so the summary names it.
//!
//! The budget is `--max-memory` when given, else half of the memory this
//! process may use: the machine's physical memory, or less when the
//! process's cgroup (`memory.max`, a container's limit) or its address
//! space limit (`ulimit -v`, RLIMIT_AS) allows less (8 GiB where the OS
//! says nothing). Above such a limit the allocator fails and the process
//! aborts; under the budget the run is refused or stopped cleanly.

use std::sync::atomic::{AtomicU64, Ordering};

/// The budget set by `--max-memory`; 0 for the default.
static MAX_MEMORY: AtomicU64 = AtomicU64::new(0);

/// The budget used where the OS does not tell the machine's memory.
const FALLBACK: u64 = 8 << 30;

/// Set the memory budget (bytes) for the scenarios parsed and the runs
/// started from now on in this process.
pub fn set_max_memory(bytes: u64) {
    MAX_MEMORY.store(bytes, Ordering::Relaxed);
}

/// The memory budget in bytes.
pub fn max_memory() -> u64 {
    match MAX_MEMORY.load(Ordering::Relaxed) {
        0 => usable_memory().map_or(FALLBACK, |m| m / 2),
        set => set,
    }
}

/// The memory this process may use: the smallest of the machine's
/// physical memory, its cgroup's limit and its address-space limit, of
/// those the OS tells.
pub fn usable_memory() -> Option<u64> {
    [physical_memory(), cgroup_limit(), address_space_limit()]
        .into_iter()
        .flatten()
        .min()
}

/// The cgroup's memory limit (v2 `memory.max`, v1 `memory.limit_in_bytes`),
/// if one is set.
pub fn cgroup_limit() -> Option<u64> {
    let read = |f: &str| std::fs::read_to_string(f).ok();
    let v2 = read("/sys/fs/cgroup/memory.max");
    let v1 = read("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    // `max` (v2) or a huge number (v1, unlimited) mean no limit.
    v2.or(v1)
        .and_then(|t| t.trim().parse::<u64>().ok())
        .filter(|&b| b < (1 << 60))
}

/// The soft address-space limit (`ulimit -v`, RLIMIT_AS), if one is set.
pub fn address_space_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_address_space(&text)
}

/// The soft limit of `/proc/self/limits`' "Max address space" line, in
/// bytes (`None` when unlimited).
fn parse_address_space(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    line["Max address space".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether the budget is the default (half the machine) rather than set.
pub fn is_default() -> bool {
    MAX_MEMORY.load(Ordering::Relaxed) == 0
}

/// The machine's physical memory (Linux `MemTotal`), if the OS tells.
pub fn physical_memory() -> Option<u64> {
    kib_field("/proc/meminfo", "MemTotal:")
}

/// This process's resident memory now (Linux `VmRSS`), if the OS tells.
pub fn resident_bytes() -> Option<u64> {
    kib_field("/proc/self/status", "VmRSS:")
}

/// A `NAME:   123 kB` line of a /proc file, in bytes.
fn kib_field(file: &str, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// Parse a size: a whole number of bytes or a number with a unit (`B`,
/// `KB`/`KiB`, `MB`/`MiB`, `GB`/`GiB`, `TB`/`TiB`; the decimal units are
/// powers of 1000), e.g. `2GiB`, `512MB`, `1.5GiB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    let scale: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "kib" | "k" => 1024.0,
        "mb" => 1e6,
        "mib" | "m" => 1024.0 * 1024.0,
        "gb" => 1e9,
        "gib" | "g" => 1024.0 * 1024.0 * 1024.0,
        "tb" => 1e12,
        "tib" | "t" => 1024.0f64.powi(4),
        _ => {
            return Err(format!(
                "`{text}` is not a size; expected e.g. `2GiB`, `512MiB` or a number of bytes"
            ));
        }
    };
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size; expected e.g. `2GiB`, `512MiB`"))?;
    let bytes = n * scale;
    if !(1.0..=u64::MAX as f64).contains(&bytes) {
        return Err(format!("`{text}` is not a usable memory budget"));
    }
    Ok(bytes as u64)
}

/// A byte count for people: `512 B`, `3.2 MiB`, `1.5 GiB`, `2.7 TiB`, ...
pub fn human(bytes: f64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes.max(0.0);
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else if v >= 100.0 || v.fract() < 0.05 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("2 GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("-1GiB").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("1e400").is_err());
        assert!(parse_size("99999999999TiB").is_err());
    }

    #[test]
    fn sizes_print_for_people() {
        assert_eq!(human(512.0), "512 B");
        assert_eq!(human(1536.0), "1.5 KiB");
        assert_eq!(human(12.0 * (1u64 << 30) as f64), "12 GiB");
        assert!(human(1e300).ends_with(" EiB"));
    }

    #[test]
    fn the_machine_tells_its_memory() {
        if std::path::Path::new("/proc/meminfo").exists() {
            assert!(physical_memory().unwrap() > 1 << 20);
            assert!(resident_bytes().unwrap() > 0);
        }
    }

    #[test]
    fn the_address_space_limit_is_read_from_proc_limits() {
        let unlimited = "Limit                     Soft Limit           Hard Limit           Units\nMax address space         unlimited            unlimited            bytes\n";
        assert_eq!(parse_address_space(unlimited), None);
        let two_gib = "Max cpu time              unlimited            unlimited            seconds\nMax address space         2147483648           unlimited            bytes\n";
        assert_eq!(parse_address_space(two_gib), Some(2 << 30));
    }
}
