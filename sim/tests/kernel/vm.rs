//! The kernel oracle inside a VM: boots Debian 12's 6.1 kernel (which has `nf_flow_table`,
//! unlike a host kernel built without `CONFIG_NF_FLOW_TABLE`) under qemu and runs this very
//! harness in it.
//!
//! * `scripts/build-flowvm.sh` builds (once, cached) the kernel and a base initramfs with
//!   busybox, kmod, the netfilter modules and the host's ip/nft/tcpreplay/tcpprep/taskset.
//! * [`run_jobs`] stages the running test binary (`std::env::current_exe()`) with its shared
//!   libraries, the rulesets, traces and a job description (JSON) into a second cpio archive
//!   appended to the base one, and boots qemu (TCG by default: `-nodefaults -nic none
//!   -display none -no-reboot`, serial ports to files). The VM's `/init` runs
//!   `/job/cmd`, which runs the test binary's [`ENTRY_TEST`] with `OFFSIM_VM_JOB` set; that
//!   test calls [`guest_main`], which runs every job with [`super::run_job`] and writes the
//!   results as JSON between markers to the second serial port. The VM then powers off and
//!   the host parses the results.
//!
//! The entry point is [`offsim_vm_job`], a test of this module that is ignored on the host;
//! the guest runs it by name ([`ENTRY_TEST`]).
//!
//! Environment: `OFFSIM_VM_ACCEL` (`tcg`, default, or `kvm`), `OFFSIM_VM_SMP` (1: as fast as 2 under TCG on a small host, and the replay is pinned to one CPU anyway),
//! `OFFSIM_VM_MEM` (MiB, 1024), `OFFSIM_VM_TIMEOUT` (s, 900), `OFFSIM_VM_KEEP` (keep the run
//! directory with the console log), `OFFSIM_FLOWVM_DIR` (the build cache).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{KernelResult, OracleJob, Sides, TempDir, run_job};

/// Name of the `#[test]` the guest runs, [`offsim_vm_job`], as the test harness lists it
/// (module path within the test binary).
pub const ENTRY_TEST: &str = "kernel::vm::offsim_vm_job";
/// Environment variable holding the guest's job file.
pub const JOB_ENV: &str = "OFFSIM_VM_JOB";
const BEGIN: &str = "@@OFFSIM-VM-RESULT-BEGIN@@";
const END: &str = "@@OFFSIM-VM-RESULT-END@@";
/// The build script's "cannot build here" exit status.
const UNAVAILABLE: i32 = 77;

/// Why a VM run gave no result.
#[derive(Debug)]
pub enum VmError {
    /// The environment cannot run the VM (not root, no qemu, no apt-get download, …):
    /// callers print `SKIP` and pass.
    Unavailable(String),
    /// Something went wrong that should not have: callers fail.
    Failed(String),
}

impl std::fmt::Display for VmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VmError::Unavailable(s) => write!(f, "unavailable: {s}"),
            VmError::Failed(s) => write!(f, "failed: {s}"),
        }
    }
}

fn failed(s: impl Into<String>) -> VmError {
    VmError::Failed(s.into())
}

/// The VM's kernel and base initramfs.
#[derive(Clone, Debug)]
pub struct Image {
    /// The kernel (`vmlinuz`).
    pub kernel: PathBuf,
    /// The base initramfs (uncompressed newc cpio).
    pub initrd: PathBuf,
    /// Kernel release (`uname -r` in the guest).
    pub release: String,
    /// The kernel package it came from.
    pub package: String,
}

/// What one boot produced.
#[derive(Clone, Debug)]
pub struct VmRun {
    /// One result per job, in order.
    pub results: Vec<KernelResult>,
    /// The guest's kernel release.
    pub kernel: String,
    /// Wall time of the qemu process.
    pub wall: Duration,
    /// Guest uptime (s) when the job started, i.e. kernel boot plus module loading.
    pub guest_job_start: f64,
    /// Guest uptime (s) when the results were written.
    pub guest_job_end: f64,
    /// Guest seconds per job.
    pub job_seconds: Vec<f64>,
}

fn sh_ok(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", cmd])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Builds the image (or finds it cached) with `scripts/build-flowvm.sh`.
pub fn image() -> Result<Image, VmError> {
    let uid = Command::new("id").arg("-u").output();
    if !uid.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0") {
        return Err(VmError::Unavailable("not root".into()));
    }
    if !sh_ok("command -v qemu-system-x86_64") {
        return Err(VmError::Unavailable(
            "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)".into(),
        ));
    }
    if !sh_ok("command -v bash") {
        return Err(VmError::Unavailable("bash not installed".into()));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-flowvm.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| VmError::Unavailable(format!("{}: {e}", script.display())))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    match out.status.code() {
        Some(0) => {}
        Some(UNAVAILABLE) => return Err(VmError::Unavailable(tail.join("\n"))),
        c => {
            return Err(failed(format!(
                "{} exited with {c:?}:\n{}",
                script.display(),
                tail.join("\n")
            )));
        }
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .map(str::to_string)
            .ok_or_else(|| failed(format!("build-flowvm.sh printed no {k}")))
    };
    Ok(Image {
        kernel: get("KERNEL")?.into(),
        initrd: get("INITRD")?.into(),
        release: get("KERNEL_RELEASE")?,
        package: get("KERNEL_PACKAGE")?,
    })
}

/// A newc cpio archive being built in memory.
struct Cpio {
    out: Vec<u8>,
    ino: u32,
    dirs: BTreeSet<String>,
}

impl Cpio {
    fn new() -> Cpio {
        Cpio {
            out: Vec::new(),
            ino: 0x0f00_0000,
            dirs: BTreeSet::new(),
        }
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) -> Result<(), VmError> {
        let size = u32::try_from(data.len())
            .map_err(|_| failed(format!("{name}: too large for a newc cpio archive")))?;
        self.ino += 1;
        let fields = [
            self.ino,
            mode,
            0, // uid
            0, // gid
            1, // nlink
            0, // mtime
            size,
            0, // dev major
            0, // dev minor
            0, // rdev major
            0, // rdev minor
            name.len() as u32 + 1,
            0, // check
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
        Ok(())
    }

    /// A directory and its parents (relative path, no leading `/`).
    fn dir(&mut self, path: &str) -> Result<(), VmError> {
        let mut acc = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(part);
            if self.dirs.insert(acc.clone()) {
                let name = acc.clone();
                self.entry(&name, 0o040_755, &[])?;
            }
        }
        Ok(())
    }

    fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> Result<(), VmError> {
        let path = path.trim_start_matches('/');
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent)?;
        }
        self.entry(path, 0o100_000 | mode, data)
    }

    fn finish(mut self) -> Result<Vec<u8>, VmError> {
        self.entry("TRAILER!!!", 0, &[])?;
        Ok(self.out)
    }
}

/// The shared libraries (and ELF interpreter) of an executable, as host paths.
fn shared_libs(exe: &Path) -> Result<Vec<PathBuf>, VmError> {
    let out = Command::new("ldd")
        .arg(exe)
        .output()
        .map_err(|e| VmError::Unavailable(format!("ldd: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut libs = Vec::new();
    for l in text.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w.as_slice() {
            [_, "=>", p, ..] if p.starts_with('/') => libs.push(PathBuf::from(p)),
            [p, ..] if p.starts_with('/') => libs.push(PathBuf::from(p)),
            _ => {}
        }
    }
    Ok(libs)
}

/// Where a host file goes in the guest: its directory canonicalised (usr-merge), its file
/// name kept (soname links).
fn guest_path(host: &Path) -> Result<String, VmError> {
    let dir = host
        .parent()
        .and_then(|d| d.canonicalize().ok())
        .ok_or_else(|| failed(format!("{}: no directory", host.display())))?;
    let name = host
        .file_name()
        .ok_or_else(|| failed(format!("{}: no file name", host.display())))?;
    Ok(dir.join(name).to_string_lossy().into_owned())
}

#[derive(Serialize, Deserialize)]
struct GuestJob {
    runs: Vec<OracleJob>,
    result_path: String,
}

#[derive(Serialize, Deserialize)]
struct GuestRun {
    result: Option<KernelResult>,
    error: Option<String>,
    seconds: f64,
}

#[derive(Serialize, Deserialize)]
struct GuestReport {
    kernel: String,
    uptime_start: f64,
    uptime_end: f64,
    runs: Vec<GuestRun>,
}

static VM_LOCK: Mutex<()> = Mutex::new(());

/// Runs one job in the VM (see [`run_jobs`]).
pub fn run(
    ruleset: &str,
    pcap: &Path,
    iif: &str,
    oif: &str,
    sides: Sides,
) -> Result<KernelResult, VmError> {
    let mut r = run_jobs(&[OracleJob::new(ruleset, pcap, iif, oif, sides)])?;
    Ok(r.results.remove(0))
}

/// Boots the VM once and runs `jobs` in it, in order, each on a fresh router.
pub fn run_jobs(jobs: &[OracleJob]) -> Result<VmRun, VmError> {
    let img = image()?;
    let exe = std::env::current_exe().map_err(|e| failed(format!("current_exe: {e}")))?;
    // The guest runs ENTRY_TEST of this binary: make sure it has one.
    let list = Command::new(&exe)
        .args(["--list", "--exact", ENTRY_TEST])
        .output()
        .map_err(|e| failed(format!("{}: {e}", exe.display())))?;
    if !String::from_utf8_lossy(&list.stdout)
        .lines()
        .any(|l| l == format!("{ENTRY_TEST}: test"))
    {
        return Err(failed(format!(
            "{} has no #[test] {ENTRY_TEST} calling kernel::vm::guest_main()",
            exe.display()
        )));
    }
    let _serial = VM_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = TempDir::new("vm");
    let dir = tmp.0.clone();

    // The per-run archive: test binary, its libraries, inputs, job description, command.
    let mut cpio = Cpio::new();
    let read = |p: &Path| std::fs::read(p).map_err(|e| failed(format!("{}: {e}", p.display())));
    // Without debug info the binary is several times smaller, which the guest unpacks
    // faster; symbols stay for backtraces. Staged as is when binutils is not installed.
    let stripped = dir.join("offsim-test");
    let strip_ok = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&stripped)
        .arg(&exe)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    cpio.file(
        "job/bin/offsim-test",
        0o755,
        &read(if strip_ok { &stripped } else { &exe })?,
    )?;
    for lib in shared_libs(&exe)? {
        cpio.file(&guest_path(&lib)?, 0o755, &read(&lib)?)?;
    }
    let mut staged = Vec::new();
    for (i, j) in jobs.iter().enumerate() {
        let p = format!("/job/in/{i}.pcap");
        cpio.file(&p, 0o644, &read(&j.pcap)?)?;
        let mut j = j.clone();
        j.pcap = p.into();
        staged.push(j);
    }
    let job = GuestJob {
        runs: staged,
        result_path: "/dev/ttyS1".into(),
    };
    let job_json = serde_json::to_vec(&job).map_err(|e| failed(e.to_string()))?;
    cpio.file("job/job.json", 0o644, &job_json)?;
    let cmd = format!(
        "RUST_BACKTRACE=1 {JOB_ENV}=/job/job.json exec /job/bin/offsim-test --exact {ENTRY_TEST} \
         --ignored --nocapture --test-threads=1\n"
    );
    cpio.file("job/cmd", 0o644, cmd.as_bytes())?;
    let mut initrd = read(&img.initrd)?;
    while !initrd.len().is_multiple_of(4) {
        initrd.push(0);
    }
    initrd.extend_from_slice(&cpio.finish()?);
    let initrd_path = dir.join("initrd.cpio");
    std::fs::write(&initrd_path, &initrd).map_err(|e| failed(e.to_string()))?;
    drop(initrd);

    let console = dir.join("console.log");
    let result = dir.join("result.log");
    let accel: String = env_or("OFFSIM_VM_ACCEL", "tcg".to_string());
    let smp: u32 = env_or("OFFSIM_VM_SMP", 1);
    let mem: u32 = env_or("OFFSIM_VM_MEM", 1024);
    let timeout = Duration::from_secs(env_or("OFFSIM_VM_TIMEOUT", 900));
    let (accel_args, cpu) = if accel == "kvm" {
        ("kvm".to_string(), "host")
    } else {
        ("tcg,thread=multi".to_string(), "max")
    };
    let mut qemu = Command::new("qemu-system-x86_64");
    #[rustfmt::skip]
    qemu.args(["-accel", &accel_args, "-cpu", cpu, "-m", &mem.to_string(), "-smp", &smp.to_string(),
               "-nodefaults", "-nic", "none", "-display", "none", "-monitor", "none", "-no-reboot"])
        .arg("-kernel").arg(&img.kernel)
        .arg("-initrd").arg(&initrd_path)
        .args(["-append", "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off"])
        .arg("-serial").arg(format!("file:{}", console.display()))
        .arg("-serial").arg(format!("file:{}", result.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let t0 = Instant::now();
    let mut child = qemu
        .spawn()
        .map_err(|e| VmError::Unavailable(format!("qemu-system-x86_64: {e}")))?;
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| failed(e.to_string()))? {
            break Some(s);
        }
        if t0.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let wall = t0.elapsed();
    let console_tail = || {
        let c = std::fs::read_to_string(&console).unwrap_or_default();
        let lines: Vec<&str> = c.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    let keep = std::env::var_os("OFFSIM_VM_KEEP").is_some();
    if keep {
        eprintln!("offsim-vm: run directory kept: {}", dir.display());
        std::mem::forget(tmp);
    }
    let Some(status) = status else {
        return Err(failed(format!(
            "qemu did not finish within {timeout:?}; console:\n{}",
            console_tail()
        )));
    };
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read as _;
            let _ = e.read_to_string(&mut err);
        }
        return Err(failed(format!(
            "qemu exited with {status}: {}\nconsole:\n{}",
            err.trim(),
            console_tail()
        )));
    }
    let raw = std::fs::read(&result).map_err(|e| failed(format!("{}: {e}", result.display())))?;
    let text = String::from_utf8_lossy(&raw).replace('\r', "");
    let body = text
        .split_once(BEGIN)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(b, _)| b.trim())
        .ok_or_else(|| {
            failed(format!(
                "the VM wrote no result; console:\n{}",
                console_tail()
            ))
        })?;
    let report: GuestReport =
        serde_json::from_str(body).map_err(|e| failed(format!("bad result from the VM: {e}")))?;
    let mut results = Vec::new();
    let mut job_seconds = Vec::new();
    for (i, r) in report.runs.into_iter().enumerate() {
        match (r.result, r.error) {
            (Some(res), None) => results.push(res),
            (_, e) => {
                return Err(failed(format!(
                    "job {i} failed in the VM: {}\nconsole:\n{}",
                    e.unwrap_or_default(),
                    console_tail()
                )));
            }
        }
        job_seconds.push(r.seconds);
    }
    if results.len() != jobs.len() {
        return Err(failed(format!(
            "{} results for {} jobs",
            results.len(),
            jobs.len()
        )));
    }
    Ok(VmRun {
        results,
        kernel: report.kernel,
        wall,
        guest_job_start: report.uptime_start,
        guest_job_end: report.uptime_end,
        job_seconds,
    })
}

fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// The guest's entry point ([`ENTRY_TEST`]); ignored on the host.
#[test]
#[ignore = "entry point of the kernel oracle VM, run by kernel::vm inside the guest"]
fn offsim_vm_job() {
    guest_main();
}

/// The guest side: runs the jobs of `$OFFSIM_VM_JOB` and writes the results. Does nothing
/// (but say so) outside the VM.
pub fn guest_main() {
    let Some(path) = std::env::var_os(JOB_ENV) else {
        eprintln!("{ENTRY_TEST}: {JOB_ENV} is not set: not inside the oracle VM, nothing to do");
        return;
    };
    let uptime_start = uptime();
    let text = std::fs::read_to_string(&path).expect("job file");
    let job: GuestJob = serde_json::from_str(&text).expect("job JSON");
    let mut runs = Vec::new();
    for (i, spec) in job.runs.iter().enumerate() {
        let t0 = uptime();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_job(spec)))
            .unwrap_or_else(|p| {
                Err(p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into()))
            });
        let seconds = uptime() - t0;
        eprintln!("offsim-vm: job {i} done in {seconds:.2} s guest time");
        let (result, error) = match r {
            Ok(res) => (Some(res), None),
            Err(e) => {
                eprintln!("offsim-vm: job {i} failed: {e}");
                (None, Some(e))
            }
        };
        runs.push(GuestRun {
            result,
            error,
            seconds,
        });
    }
    let report = GuestReport {
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        uptime_start,
        uptime_end: uptime(),
        runs,
    };
    let body = serde_json::to_string(&report).expect("report JSON");
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .open(&job.result_path)
        .expect("result port");
    out.write_all(format!("\n{BEGIN}\n{body}\n{END}\n").as_bytes())
        .expect("write result");
    out.flush().expect("flush result");
}
