//! Booting the guest under QEMU (TCG) and running one command in it.
//!
//! Each boot gets a run directory under `target/vm/runs/` that the guest
//! sees through the host root: `command` (a shell script: directory,
//! environment, `exec` of the program), `token` (a random marker the guest
//! writes at the end of stdout and stderr, so that the host knows it has
//! the whole stream) and three named-pipe pairs that back the guest's
//! virtio serial ports `vswitch.stdout`, `vswitch.stderr` and
//! `vswitch.status`. The serial console carries the kernel's and init's
//! messages, kept for the error report.

use std::{
    ffi::{OsStr, OsString},
    fmt::Write as _,
    fs::{self, File, OpenOptions},
    io::{self, BufRead as _, BufReader, Read as _, Write},
    os::unix::{ffi::OsStrExt as _, fs::OpenOptionsExt as _, process::CommandExt as _},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
        mpsc::{self, RecvTimeoutError, Sender},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use nix::{
    fcntl::OFlag,
    sys::{prctl::set_pdeathsig, signal::Signal, stat::Mode},
    unistd::mkfifo,
};

use super::{VmCommand, setup::Guest};

/// How long the guest may take from QEMU's start to running the command
/// before the boot counts as hung (it takes 6 to 10 s when the host is
/// idle).
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);

/// The console line with which init says that the command starts.
const RUNNING: &str = "vswitch-vm: running";

/// Environment variables passed to the guest command besides those with
/// a [`FORWARDED_PREFIXES`] prefix.
const FORWARDED: &[&str] = &["PATH", "HOME", "USER", "LANG", "LC_ALL", "TERM", "TMPDIR"];

/// Prefixes of the names of environment variables passed to the guest.
const FORWARDED_PREFIXES: &[&str] = &["RUST_", "CARGO_", "VSWITCH_"];

/// The virtio serial ports: chardev id and name in the guest.
const PORTS: [(&str, &str); 3] = [
    ("stdout", "vswitch.stdout"),
    ("stderr", "vswitch.stderr"),
    ("status", "vswitch.status"),
];

/// Numbers the boots of this process, for unique run directories.
static BOOTS: AtomicU32 = AtomicU32::new(0);

/// Runs `command` in `guest` and returns its exit code, booting a second
/// time if the first boot hangs.
pub fn run(guest: &Guest, command: &VmCommand) -> anyhow::Result<i32> {
    if let Some(code) = boot(guest, command)? {
        return Ok(code);
    }
    eprintln!(
        "vm: the guest did not start the command within {}s; booting again",
        BOOT_TIMEOUT.as_secs()
    );
    boot(guest, command)?.with_context(|| {
        format!(
            "the guest did not start the command within {}s, twice",
            BOOT_TIMEOUT.as_secs()
        )
    })
}

/// What the threads watching QEMU report to [`boot`].
enum Event {
    /// Init started the command.
    Running,
    /// A stream (stdout or stderr) arrived whole.
    StreamDone,
    /// The command's exit code.
    Status(i32),
    /// QEMU closed its console: it has exited.
    Exited,
}

/// Boots once: `Ok(None)` if the boot hung (the command did not start in
/// [`BOOT_TIMEOUT`]), else the command's exit code. The console is shown
/// on error.
fn boot(guest: &Guest, command: &VmCommand) -> anyhow::Result<Option<i32>> {
    let runs = guest
        .dir
        .parent()
        .context("the release directory has a parent")?
        .join("runs");
    remove_stale_runs(&runs);
    let run_dir = runs.join(format!(
        "{}-{}",
        std::process::id(),
        BOOTS.fetch_add(1, Ordering::Relaxed)
    ));
    let token = prepare_run(&run_dir, command)?;
    let console = Arc::new(Mutex::new(String::new()));
    let qemu = Qemu::start(guest, &run_dir, &token, Arc::clone(&console))?;
    let outcome = qemu.wait(command.timeout);
    qemu.stop();
    if let Err(error) = fs::remove_dir_all(&run_dir) {
        eprintln!("vm: removing {}: {error}", run_dir.display());
    }
    if !matches!(outcome, Ok(Some(_))) {
        let console = console.lock().unwrap_or_else(|poison| poison.into_inner());
        eprintln!("vm: guest console:\n{console}");
    }
    outcome
}

/// Removes the run directories that processes no longer running left in
/// `runs` (killed before they could clean up).
fn remove_stale_runs(runs: &Path) {
    let Ok(entries) = fs::read_dir(runs) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name.to_str().and_then(|name| name.split_once('-'));
        if let Some((pid, _)) = pid
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Creates `run_dir` with the command script, a fresh token and the
/// named pipes; returns the token.
fn prepare_run(run_dir: &Path, command: &VmCommand) -> anyhow::Result<String> {
    let path = run_dir.to_string_lossy();
    if path.contains([',', ' ', '\t', '\n']) {
        bail!(
            "the VM's cache path {path} has a comma or a space, which QEMU or the kernel command line cannot take"
        );
    }
    if run_dir.exists() {
        fs::remove_dir_all(run_dir).with_context(|| format!("removing {path}"))?;
    }
    fs::create_dir_all(run_dir).with_context(|| format!("creating {path}"))?;

    let mut random = [0; 16];
    File::open("/dev/urandom")
        .and_then(|mut urandom| urandom.read_exact(&mut random))
        .context("reading /dev/urandom")?;
    let token = random
        .iter()
        .fold(String::from("vswitch-vm-end-"), |mut token, byte| {
            let _ = write!(token, "{byte:02x}");
            token
        });
    fs::write(run_dir.join("token"), &token).context("writing the token")?;
    fs::write(run_dir.join("command"), script(command)?).context("writing the command")?;
    for (id, _) in PORTS {
        for end in ["in", "out"] {
            let fifo = run_dir.join(format!("{id}.{end}"));
            mkfifo(&fifo, Mode::S_IRUSR | Mode::S_IWUSR)
                .with_context(|| format!("creating {}", fifo.display()))?;
        }
    }
    Ok(token)
}

/// The shell script that runs `command` in the guest: `cd` to our current
/// directory (or `/`), export the forwarded environment, `exec` it.
fn script(command: &VmCommand) -> anyhow::Result<Vec<u8>> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let mut script = b"cd ".to_vec();
    quote(&mut script, cwd.as_os_str());
    script.extend_from_slice(b" 2>/dev/null || cd /\n");
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let forwarded = FORWARDED.contains(&name)
            || FORWARDED_PREFIXES
                .iter()
                .any(|prefix| name.starts_with(prefix));
        let valid = name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
        if forwarded && valid {
            script.extend_from_slice(format!("export {name}=").as_bytes());
            quote(&mut script, &value);
            script.push(b'\n');
        }
    }
    let first = std::iter::once(&command.program).chain(&command.args);
    if command.then.is_empty() {
        script.extend_from_slice(b"exec");
        words(&mut script, first);
        return Ok(script);
    }
    script.extend_from_slice(b"status=0\n");
    for words_of_one in
        std::iter::once(first.collect()).chain(command.then.iter().map(|c| c.iter().collect()))
    {
        let words_of_one: Vec<&OsString> = words_of_one;
        script.extend_from_slice(b"command");
        words(&mut script, words_of_one);
        script.extend_from_slice(b"code=$?; [ $status -ne 0 ] || status=$code\n");
    }
    script.extend_from_slice(b"exit $status\n");
    Ok(script)
}

/// Appends ` 'word'...` and a newline to `script`.
fn words<'a>(script: &mut Vec<u8>, words: impl IntoIterator<Item = &'a OsString>) {
    for word in words {
        script.push(b' ');
        quote(script, word);
    }
    script.push(b'\n');
}

/// Appends `word` to `script` in single quotes.
fn quote(script: &mut Vec<u8>, word: &OsStr) {
    script.push(b'\'');
    for &byte in word.as_bytes() {
        if byte == b'\'' {
            script.extend_from_slice(b"'\\''");
        } else {
            script.push(byte);
        }
    }
    script.push(b'\'');
}

/// A running QEMU and the threads that read its console and the ports.
struct Qemu {
    /// The QEMU process.
    child: Child,
    /// Where the threads report.
    events: mpsc::Receiver<Event>,
    /// The threads reading the console and QEMU's stderr.
    console_threads: Vec<JoinHandle<()>>,
    /// The threads reading the ports, with their pipe (the `.out` end).
    port_threads: Vec<(JoinHandle<()>, PathBuf)>,
}

impl Qemu {
    /// Starts QEMU on `guest` for the run in `run_dir`, and the threads:
    /// console and QEMU's stderr into `console`, the command's stdout and
    /// stderr to ours (each up to `token`), its status into an event.
    fn start(
        guest: &Guest,
        run_dir: &Path,
        token: &str,
        console: Arc<Mutex<String>>,
    ) -> anyhow::Result<Self> {
        let append = format!(
            "console=ttyS0 quiet panic=-1 mitigations=off vswitch_vm_run={} vswitch_vm_modules={}",
            run_dir.display(),
            guest.modules.display()
        );
        let mut qemu = Command::new("qemu-system-x86_64");
        qemu.args(["-accel", "tcg", "-cpu", "max", "-m", "2G", "-smp", "2"])
            .args([
                "-nodefaults",
                "-no-reboot",
                "-display",
                "none",
                "-serial",
                "stdio",
            ])
            .arg("-kernel")
            .arg(&guest.vmlinux)
            .arg("-initrd")
            .arg(&guest.initramfs)
            .args(["-append", &append])
            .args([
                "-fsdev",
                "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
                "-device",
                "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
                "-device",
                "virtio-serial-pci",
            ]);
        for (id, name) in PORTS {
            qemu.arg("-chardev")
                .arg(format!("pipe,id={id},path={}", run_dir.join(id).display()))
                .arg("-device")
                .arg(format!("virtserialport,chardev={id},name={name}"));
        }
        // SAFETY: the closure only makes the prctl system call, which is
        // async-signal-safe, between fork and exec.
        unsafe {
            // QEMU must not outlive us (say, when a CI job is killed).
            qemu.pre_exec(|| set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from));
        }
        let mut child = qemu
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting qemu-system-x86_64")?;

        let (sender, events) = mpsc::channel();
        let verbose = std::env::var_os("VSWITCH_VM_VERBOSE").is_some_and(|value| value == "1");
        let stdout = child.stdout.take().context("QEMU's stdout")?;
        let stderr = child.stderr.take().context("QEMU's stderr")?;
        let console_threads = vec![
            spawn_console(stdout, Some(sender.clone()), Arc::clone(&console), verbose),
            spawn_console(stderr, None, console, verbose),
        ];
        let pipe = |id: &str| run_dir.join(format!("{id}.out"));
        let port_threads = vec![
            (
                spawn_stream(pipe("stdout"), token, io::stdout, sender.clone()),
                pipe("stdout"),
            ),
            (
                spawn_stream(pipe("stderr"), token, io::stderr, sender.clone()),
                pipe("stderr"),
            ),
            (spawn_status(pipe("status"), sender), pipe("status")),
        ];
        Ok(Self {
            child,
            events,
            console_threads,
            port_threads,
        })
    }

    /// Waits for the command's streams and status: `Ok(None)` if it has
    /// not started within [`BOOT_TIMEOUT`], an error if it does not end
    /// within `timeout` of starting or QEMU stops first.
    fn wait(&self, timeout: Duration) -> anyhow::Result<Option<i32>> {
        let mut deadline = Instant::now() + BOOT_TIMEOUT;
        let mut running = false;
        let mut streams = 0;
        let mut status = None;
        loop {
            if let (2, Some(code)) = (streams, status) {
                return Ok(Some(code));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Event::Running) => {
                    running = true;
                    deadline = Instant::now() + timeout;
                }
                Ok(Event::StreamDone) => streams += 1,
                Ok(Event::Status(code)) => status = Some(code),
                Ok(Event::Exited) | Err(RecvTimeoutError::Disconnected) => {
                    bail!("QEMU stopped before the guest command finished")
                }
                Err(RecvTimeoutError::Timeout) if running => {
                    bail!("the guest command timed out after {}s", timeout.as_secs())
                }
                Err(RecvTimeoutError::Timeout) => return Ok(None),
            }
        }
    }

    /// Kills QEMU and joins the threads, unblocking those still waiting to
    /// open their pipe.
    fn stop(mut self) {
        if let Err(error) = self.child.kill().and_then(|()| self.child.wait()) {
            eprintln!("vm: stopping QEMU: {error}");
        }
        for (thread, pipe) in self.port_threads {
            while !thread.is_finished() {
                // Opening the write end releases a reader blocked in open;
                // closing it at once gives that reader end of file.
                drop(
                    OpenOptions::new()
                        .write(true)
                        .custom_flags(OFlag::O_NONBLOCK.bits())
                        .open(&pipe),
                );
                thread::sleep(Duration::from_millis(10));
            }
            let _ = thread.join();
        }
        for thread in self.console_threads {
            let _ = thread.join();
        }
    }
}

/// Reads QEMU's console (or stderr) line by line into `log`, echoing it
/// with `verbose`; with `events`, reports [`Event::Running`] and, at the
/// end, [`Event::Exited`].
fn spawn_console(
    output: impl io::Read + Send + 'static,
    events: Option<Sender<Event>>,
    log: Arc<Mutex<String>>,
    verbose: bool,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(output);
        let mut line = Vec::new();
        while reader
            .read_until(b'\n', &mut line)
            .is_ok_and(|read| read > 0)
        {
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end();
            if verbose {
                eprintln!("guest: {text}");
            }
            if let Some(events) = &events
                && text.ends_with(RUNNING)
            {
                let _ = events.send(Event::Running);
            }
            let mut log = log.lock().unwrap_or_else(|poison| poison.into_inner());
            log.push_str(text);
            log.push('\n');
            line.clear();
        }
        if let Some(events) = events {
            let _ = events.send(Event::Exited);
        }
    })
}

/// Copies the guest stream from `pipe` to `output` up to the `token` that
/// ends it, then reports [`Event::StreamDone`]. The last bytes are held
/// back until it is clear they are not the token's start.
fn spawn_stream<W: Write + 'static>(
    pipe: PathBuf,
    token: &str,
    output: fn() -> W,
    events: Sender<Event>,
) -> JoinHandle<()> {
    let token = token.as_bytes().to_vec();
    thread::spawn(move || {
        let Ok(mut pipe) = File::open(&pipe) else {
            return;
        };
        let mut pending = Vec::new();
        let mut buffer = [0; 16 * 1024];
        while let Ok(read @ 1..) = pipe.read(&mut buffer) {
            pending.extend_from_slice(&buffer[..read]);
            let done = pending.ends_with(&token);
            let keep = if done { token.len() } else { token.len() - 1 };
            let flush = pending.len().saturating_sub(keep);
            let mut output = output();
            let _ = output
                .write_all(&pending[..flush])
                .and_then(|()| output.flush());
            pending.drain(..flush);
            if done {
                let _ = events.send(Event::StreamDone);
                return;
            }
        }
        let _ = output().write_all(&pending);
    })
}

/// Reads the command's exit code (one line) from `pipe` and reports it.
fn spawn_status(pipe: PathBuf, events: Sender<Event>) -> JoinHandle<()> {
    thread::spawn(move || {
        let Ok(pipe) = File::open(&pipe) else {
            return;
        };
        let mut line = String::new();
        if BufReader::new(pipe).read_line(&mut line).is_ok()
            && let Ok(code) = line.trim().parse()
        {
            let _ = events.send(Event::Status(code));
        }
    })
}
