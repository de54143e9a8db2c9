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
    /// Parameter flows of the built-in families (chain, quadratic, log-cascade).
    Flow {
        /// Problem file (stdin when absent or `-`).
        path: Option<String>,
        /// Omit the large per-level tables (`eigenvalue_flow`).
        #[arg(long)]
        summary: bool,
    },
}

/// The largest input read, in bytes (docs/cli.md, "Input size").
const MAX_INPUT_BYTES: u64 = 64 << 20;

/// The exit status after a closed stdout (a broken pipe): what a shell reports for a process
/// ended by `SIGPIPE`, `128 + 13` (docs/cli.md, "Errors").
const BROKEN_PIPE_STATUS: u8 = 141;

/// Reads at most [`MAX_INPUT_BYTES`] (more is an `io` error naming the limit). A path must
/// name a regular file: a FIFO, a device such as `/dev/zero` or a directory is refused
/// before it is opened (opening a FIFO would wait for a writer).
fn read(path: Option<&str>) -> Result<String, Error> {
    let too_large = |what: &str| {
        Error::Io(format!(
            "{what} is larger than the input limit of {MAX_INPUT_BYTES} bytes"
        ))
    };
    let mut bytes = Vec::new();
    match path {
        None | Some("-") => {
            std::io::stdin()
                .take(MAX_INPUT_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::Io(format!("cannot read stdin: {e}")))?;
            if bytes.len() as u64 > MAX_INPUT_BYTES {
                return Err(too_large("stdin"));
            }
        }
        Some(p) => {
            let meta =
                std::fs::metadata(p).map_err(|e| Error::Io(format!("cannot read {p}: {e}")))?;
            if !meta.is_file() {
                return Err(Error::Io(format!(
                    "cannot read {p}: not a regular file (a FIFO, device or directory); \
                     pipe it to stdin instead"
                )));
            }
            if meta.len() > MAX_INPUT_BYTES {
                return Err(too_large(p));
            }
            std::fs::File::open(p)
                .and_then(|f| f.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes))
                .map_err(|e| Error::Io(format!("cannot read {p}: {e}")))?;
            if bytes.len() as u64 > MAX_INPUT_BYTES {
                return Err(too_large(p));
            }
        }
    }
    String::from_utf8(bytes)
        .map_err(|e| Error::InvalidInput(format!("malformed JSON: the input is not UTF-8 ({e})")))
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
