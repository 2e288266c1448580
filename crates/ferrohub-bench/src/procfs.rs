//! The server's CPU time and resident memory, read from `/proc/<pid>`.
//!
//! Only Linux is supported; elsewhere the readings are simply absent. The parsers take the
//! file's text so they are tested on samples rather than on a live process.

use std::sync::OnceLock;

/// CPU time a process has used, in clock ticks: (`utime`, `stime`) of `/proc/<pid>/stat`,
/// time in user space and in the kernel on its behalf.
pub fn parse_cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    // The command name (field 2) is in parentheses and may itself hold spaces and
    // parentheses, so fields are counted from the last `)`.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_ascii_whitespace();
    // After `)`: state is field 3, so utime (field 14) is the 12th and stime the 13th.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

/// CPU seconds split into user space and kernel: at one message in flight most of a
/// broker's time is the kernel's (TCP receive and send), which the split shows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTime {
    pub user: f64,
    pub kernel: f64,
}

impl CpuTime {
    pub fn total(self) -> f64 {
        self.user + self.kernel
    }

    /// What was used between `self` (earlier) and `later`.
    pub fn until(self, later: CpuTime) -> CpuTime {
        CpuTime {
            user: later.user - self.user,
            kernel: later.kernel - self.kernel,
        }
    }
}

/// Resident set size in KiB (the `VmRSS:` line of `/proc/<pid>/status`).
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
}

/// Clock ticks per second (`getconf CLK_TCK`), read once. Without `libc` (the workspace
/// forbids unsafe code) asking `getconf` is the portable way; 100 is Linux's value on every
/// common architecture, used if `getconf` is missing.
pub fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// Readings of one process.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    pub pid: u32,
}

impl Probe {
    /// This load generator itself.
    pub fn me() -> Probe {
        Probe {
            pid: std::process::id(),
        }
    }

    /// CPU time used so far, `None` if the process is gone.
    pub fn cpu_time(&self) -> Option<CpuTime> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        let (user, kernel) = parse_cpu_ticks(&stat)?;
        let per_second = clock_ticks_per_second() as f64;
        Some(CpuTime {
            user: user as f64 / per_second,
            kernel: kernel as f64 / per_second,
        })
    }

    /// CPU seconds used so far (user + kernel), `None` if the process is gone.
    pub fn cpu_seconds(&self) -> Option<f64> {
        self.cpu_time().map(CpuTime::total)
    }

    /// Current resident set size in KiB, `None` if the process is gone.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        parse_vm_rss_kib(&status)
    }
}

/// CPU seconds the server and this load generator use over one phase of a run.
#[derive(Debug, Clone, Copy)]
pub struct CpuSpan {
    server: Option<Probe>,
    server_before: Option<CpuTime>,
    bench_before: Option<f64>,
}

impl CpuSpan {
    /// Starts the phase; `server` is `None` without `--server-pid`.
    pub fn start(server: Option<Probe>) -> CpuSpan {
        CpuSpan {
            server,
            server_before: server.and_then(|p| p.cpu_time()),
            bench_before: Probe::me().cpu_seconds(),
        }
    }

    /// Ends the phase: (the server's CPU time, this process's CPU seconds).
    pub fn stop(self) -> (Option<CpuTime>, Option<f64>) {
        let server = self.server.and_then(|p| p.cpu_time());
        let bench = Probe::me().cpu_seconds();
        (
            self.server_before.zip(server).map(|(b, a)| b.until(a)),
            self.bench_before.zip(bench).map(|(b, a)| a - b),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real line from a Linux 6.x kernel, with an awkward command name.
    const STAT: &str = "4242 (my (odd) srv) S 1 4242 4242 0 -1 4194560 2500 0 0 0 \
        1234 567 0 0 20 0 3 0 12345 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 \
        4096 17475 0 0 0 17 1 0 0 0 0 0";

    const STATUS: &str = "Name:\tferrohub\nUmask:\t0022\nState:\tS (sleeping)\n\
        VmPeak:\t  812345 kB\nVmSize:\t  800000 kB\nVmHWM:\t   99999 kB\n\
        VmRSS:\t   45678 kB\nRssAnon:\t   40000 kB\nThreads:\t3\n";

    #[test]
    fn cpu_ticks_are_utime_and_stime_even_with_parentheses_in_the_name() {
        assert_eq!(parse_cpu_ticks(STAT), Some((1234, 567)));
    }

    #[test]
    fn truncated_or_garbled_stat_yields_nothing() {
        assert_eq!(parse_cpu_ticks("4242 (srv) S 1 2 3"), None);
        assert_eq!(parse_cpu_ticks("no parenthesis at all"), None);
        assert_eq!(parse_cpu_ticks("1 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 5"), None);
    }

    #[test]
    fn a_span_of_cpu_time_keeps_user_and_kernel_apart() {
        let before = CpuTime {
            user: 1.0,
            kernel: 2.0,
        };
        let after = CpuTime {
            user: 1.5,
            kernel: 3.25,
        };
        let span = before.until(after);
        assert_eq!(
            span,
            CpuTime {
                user: 0.5,
                kernel: 1.25
            }
        );
        assert_eq!(span.total(), 1.75);
    }

    #[test]
    fn rss_comes_from_vm_rss_not_the_high_water_mark() {
        assert_eq!(parse_vm_rss_kib(STATUS), Some(45678));
        assert_eq!(parse_vm_rss_kib("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        let me = Probe {
            pid: std::process::id(),
        };
        assert!(me.rss_kib().is_some_and(|kib| kib > 0));
        assert!(me.cpu_seconds().is_some());
        assert!(
            me.cpu_time()
                .is_some_and(|t| t.user >= 0.0 && t.kernel >= 0.0)
        );
        assert!(clock_ticks_per_second() > 0);
    }
}
