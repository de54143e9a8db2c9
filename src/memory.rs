//! How much memory a tabulated problem may plan to use.
//!
//! A tabulated hierarchy is refused with [`Error::TooLarge`] *before* anything of its size is
//! allocated when its tables would not fit in memory: every state of every level costs
//! [`BYTES_PER_STATE`] bytes (its loss, marginal, parent index and the sweep's working
//! tables, with room to spare), every level [`BYTES_PER_LEVEL`] more, and the sum must stay
//! within [`memory_budget`], the memory the process may use (the machine's physical memory,
//! lowered by an address-space limit or a control group's limit) unless
//! [`set_memory_budget`] says otherwise. There is no fixed cap on the number of states or levels.
//!
//! ```
//! use hmaxent::{memory, ErrorKind, Hierarchy};
//! // 2^48 leaves would need petabytes: refused before any allocation.
//! let e = Hierarchy::complete(2, 48).unwrap_err();
//! assert_eq!(e.kind(), ErrorKind::InvalidInput);
//! assert!(memory::max_tabulated_states() >= 1 << 20);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Planned bytes per state of a tabulated problem, over all levels (measured: the command
/// line's full `solve` of a 2^20-leaf binary tree peaks at 72 bytes per state, its JSON
/// input and output included; 34 with `--summary`).
pub const BYTES_PER_STATE: u64 = 96;

/// Planned bytes per level of a tabulated problem (its block table and per-level vectors),
/// whatever its size: a hierarchy of many one-state levels is limited too.
pub const BYTES_PER_LEVEL: u64 = 1024;

/// Used when the physical memory cannot be read (`16 GiB`).
pub const FALLBACK_BUDGET: u64 = 16 << 30;

/// `0`: not set, use the physical memory.
static BUDGET: AtomicU64 = AtomicU64::new(0);

/// The bytes a tabulated problem may plan to use: the value given to [`set_memory_budget`],
/// else the memory this process may use: the machine's physical memory (Linux: `MemTotal`
/// of `/proc/meminfo`, else [`FALLBACK_BUDGET`]), lowered to the process's address-space
/// limit (`ulimit -v`, `RLIMIT_AS`) less [`ADDRESS_SPACE_RESERVE`], and to its control
/// group's `memory.max` (cgroup v2), whichever are set. Read once per process.
pub fn memory_budget() -> u64 {
    match BUDGET.load(Ordering::Relaxed) {
        0 => physical_memory(),
        b => b,
    }
}

/// Sets the budget of [`memory_budget`] for the whole process (`0` restores the default).
pub fn set_memory_budget(bytes: u64) {
    BUDGET.store(bytes, Ordering::Relaxed);
}

/// The most states (all levels together) a tabulated problem of one level may have:
/// `memory_budget() / BYTES_PER_STATE`.
pub fn max_tabulated_states() -> usize {
    usize::try_from(memory_budget() / BYTES_PER_STATE).unwrap_or(usize::MAX)
}

/// `Ok` when `states` states on `levels` levels fit in the budget, else [`Error::TooLarge`]
/// naming `what` and the limit.
pub(crate) fn check_tabulated(
    what: impl FnOnce() -> String,
    states: usize,
    levels: usize,
) -> Result<()> {
    let budget = memory_budget();
    let need = (states as u128) * u128::from(BYTES_PER_STATE)
        + (levels as u128) * u128::from(BYTES_PER_LEVEL);
    if need <= u128::from(budget) {
        return Ok(());
    }
    let level_cost = (levels as u128) * u128::from(BYTES_PER_LEVEL);
    let room = u128::from(budget).saturating_sub(level_cost) / u128::from(BYTES_PER_STATE);
    let levels_alone = if level_cost > u128::from(budget) {
        format!(" ({levels} levels alone exceed it)")
    } else {
        String::new()
    };
    Err(Error::TooLarge {
        what: format!(
            "{}, at {BYTES_PER_STATE} bytes per state and {BYTES_PER_LEVEL} per level in a \
             memory budget of {budget} bytes{levels_alone}",
            what()
        ),
        states,
        limit: usize::try_from(room).unwrap_or(usize::MAX),
    })
}

fn physical_memory() -> u64 {
    static PHYSICAL: OnceLock<u64> = OnceLock::new();
    *PHYSICAL.get_or_init(|| {
        let total = read_mem_total().unwrap_or(FALLBACK_BUDGET);
        let address_space = address_space_limit().map(|l| {
            l.saturating_sub(ADDRESS_SPACE_RESERVE)
                .max(ADDRESS_SPACE_RESERVE)
        });
        [Some(total), address_space, cgroup_limit()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(total)
    })
}

/// Address space a process needs besides its tables (its code, libraries, thread stacks and
/// allocator arenas): `512 MiB`, taken from an address-space limit before it serves as
/// the budget.
pub const ADDRESS_SPACE_RESERVE: u64 = 512 << 20;

/// The soft address-space limit (`RLIMIT_AS`) in bytes, when one is set.
#[cfg(target_os = "linux")]
fn address_space_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit` through a valid pointer.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(not(target_os = "linux"))]
fn address_space_limit() -> Option<u64> {
    None
}

/// The memory limit of this process's control group (cgroup v2 `memory.max`), when set.
fn cgroup_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    // cgroup v2: the line `0::/path`.
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    let max = std::fs::read_to_string(format!("/sys/fs/cgroup{}/memory.max", path.trim())).ok()?;
    max.trim().parse().ok().filter(|&b: &u64| b > 0)
}

/// `MemTotal` from `/proc/meminfo`, in bytes.
fn read_mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024).filter(|&b| b > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_physical_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let m = read_mem_total().expect("/proc/meminfo has MemTotal");
            assert!(m >= 1 << 28, "{m}");
        }
    }

    #[test]
    fn a_problem_beyond_the_budget_names_the_limit() {
        let budget = memory_budget();
        let fits = usize::try_from(budget / BYTES_PER_STATE / 2).unwrap();
        assert!(check_tabulated(|| "x".into(), fits, 1).is_ok());
        let e = check_tabulated(|| "x".into(), fits * 4, 1).unwrap_err();
        match e {
            Error::TooLarge { states, limit, .. } => {
                assert_eq!(states, fits * 4);
                assert!(limit < fits * 4 && limit >= fits, "{limit}");
            }
            other => panic!("{other:?}"),
        }
        // Levels alone can exhaust the budget.
        let levels = usize::try_from(budget / BYTES_PER_LEVEL + 1).unwrap();
        assert!(check_tabulated(|| "x".into(), levels, levels).is_err());
    }
}
