//! `hmaxent`: the command-line front door of the library (its JSON contract is `docs/cli.md`).

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hmaxent::cli;
use hmaxent::Error;

#[derive(Parser)]
#[command(
    name = "hmaxent",
    version,
    about = "Hierarchical maximum entropy (JSON in, JSON out)"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Solve a tabulated hierarchy (Theorems A and B, mean constraints).
    Solve {
        /// Problem file (stdin when absent or `-`).
        path: Option<String>,
        /// Omit the marginals.
        #[arg(long)]
        summary: bool,
    },
    /// Trace the Pareto frontier over level weights.
    Pareto {
        /// Problem file (stdin when absent or `-`).
        path: Option<String>,
        /// Also draw the frontier as SVG (needs the `plot` feature).
        #[arg(long)]
        svg: Option<String>,
    },
    /// Parameter flows of the built-in families (chain, quadratic, quadratic-modular,
    /// log-cascade, hierarchical-ising).
    Flow {
        /// Problem file (stdin when absent or `-`).
        path: Option<String>,
        /// Omit the large per-level tables (`eigenvalue_flow`, `block_sum_distributions`).
        #[arg(long)]
        summary: bool,
    },
}

/// The memory budget of one command (docs/cli.md, "Size limits"): `800 MiB` (a binary tree of depth 22), so that a run
/// stays within 1 GiB resident (its JSON text and tree, the tables, the output), or the
/// library's own budget ([`hmaxent::memory::memory_budget`]) when that is smaller. The
/// environment variable `HMAXENT_MEMORY_BUDGET` (bytes) replaces it.
const CLI_MEMORY_BUDGET: u64 = 800 << 20;

/// Sets the process's memory budget to the command's (see [`CLI_MEMORY_BUDGET`]).
fn set_budget() {
    let given = std::env::var("HMAXENT_MEMORY_BUDGET")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&b| b > 0);
    let budget = given.unwrap_or_else(|| hmaxent::memory::memory_budget().min(CLI_MEMORY_BUDGET));
    hmaxent::memory::set_memory_budget(budget);
}

/// The largest input read, in bytes: a thirty-second of the memory budget (parsing a list of
/// short numbers such as `0,` costs 16 times its text in JSON values), at least 1 MiB: 24 MiB
/// at the default budget (docs/cli.md, "Input size").
fn max_input_bytes() -> u64 {
    (hmaxent::memory::memory_budget() / 32).max(1 << 20)
}

/// The exit status after a closed stdout (a broken pipe): what a shell reports for a process
/// ended by `SIGPIPE`, `128 + 13` (docs/cli.md, "Errors").
const BROKEN_PIPE_STATUS: u8 = 141;

/// Reads a JSON text from `path` (stdin for `None` or `-`; a regular file, a FIFO such as
/// `<(...)`, `/dev/stdin`, ...), in chunks, refusing as soon as it is known not to be one:
/// more than [`max_input_bytes`], or a control byte that no JSON text contains (anything
/// below `0x20` but tab, line feed and carriage return), so a binary file ends at its first
/// chunk. Both are `invalid_input` (malformed JSON, a problem too large) naming the limit or
/// the byte. A device (`/dev/zero`, `/dev/urandom`) is not a file: `io`, before reading.
fn read(path: Option<&str>) -> Result<String, Error> {
    let (name, mut source): (&str, Box<dyn Read>) = match path {
        None | Some("-") => ("stdin", stdin_source()?),
        Some(p) => {
            let file =
                std::fs::File::open(p).map_err(|e| Error::Io(format!("cannot read {p}: {e}")))?;
            refuse_devices(p, &file)?;
            (p, Box::new(file))
        }
    };
    let limit = max_input_bytes();
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = match source.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Io(format!("cannot read {name}: {e}"))),
        };
        if let Some(i) = chunk[..n]
            .iter()
            .position(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
        {
            return Err(Error::InvalidInput(format!(
                "malformed JSON: {name} has the control byte {:#04x} at offset {}, which no JSON text contains",
                chunk[i],
                bytes.len() + i
            )));
        }
        if (bytes.len() + n) as u64 > limit {
            return Err(Error::InvalidInput(format!(
                "{name} is larger than the input limit of {limit} bytes (a thirty-second of the memory budget; HMAXENT_MEMORY_BUDGET sets the budget)"
            )));
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(bytes)
        .map_err(|e| Error::InvalidInput(format!("malformed JSON: the input is not UTF-8 ({e})")))
}

/// Stdin, refused like a path when it is a device (its descriptor is duplicated to ask).
#[cfg(unix)]
fn stdin_source() -> Result<Box<dyn Read>, Error> {
    use std::os::fd::AsFd;
    let fd = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| Error::Io(format!("cannot read stdin: {e}")))?;
    let file = std::fs::File::from(fd);
    refuse_devices("stdin", &file)?;
    Ok(Box::new(file))
}

/// Stdin.
#[cfg(not(unix))]
fn stdin_source() -> Result<Box<dyn Read>, Error> {
    Ok(Box::new(std::io::stdin()))
}

/// A character or block device (`/dev/zero`, a terminal is read normally) is not input.
fn refuse_devices(name: &str, file: &std::fs::File) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = file
            .metadata()
            .map_err(|e| Error::Io(format!("cannot read {name}: {e}")))?
            .file_type();
        let tty = std::io::IsTerminal::is_terminal(file);
        if (kind.is_char_device() && !tty) || kind.is_block_device() {
            return Err(Error::Io(format!(
                "cannot read {name}: a device, not a file or a pipe"
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = (name, file);
    Ok(())
}

fn run(args: Args) -> Result<String, Error> {
    let value = match args.command {
        Command::Solve { path, summary } => {
            let input = cli::parse(&read(path.as_deref())?)?;
            cli::solve::run(&input, summary)?
        }
        Command::Pareto { path, svg } => {
            let input = cli::parse(&read(path.as_deref())?)?;
            cli::pareto::run(&input, svg.as_deref())?
        }
        Command::Flow { path, summary } => {
            let input = cli::parse(&read(path.as_deref())?)?;
            cli::flow::run(&input, summary)?
        }
    };
    serde_json::to_string(&value).map_err(|e| Error::Numerical(format!("cannot print: {e}")))
}

fn main() -> ExitCode {
    set_budget();
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(args) {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            match writeln!(out, "{text}").and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                // The reader went away (`hmaxent solve big.json | head -c 10`): end quietly.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    ExitCode::from(BROKEN_PIPE_STATUS)
                }
                Err(e) => {
                    let e = Error::Io(format!("cannot write the result to stdout: {e}"));
                    let _ = writeln!(std::io::stderr(), "{}", cli::error_line(&e));
                    ExitCode::from(2)
                }
            }
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{}", cli::error_line(&e));
            ExitCode::from(2)
        }
    }
}
