//! `lsm`: the command-line tool of the lsm engine. Parses the command line, builds the
//! configuration (`--config` or `./config.toml`, then `--db`, then each `--set`), runs
//! the command and turns its outcome into an exit status:
//! 0 success, 1 error, 2 usage error (clap's), 3 key not found.
//!
//! The modules of the tool depend on each other in one direction only:
//!
//! ```text
//! main ─────> shell, commands, bench, dump, args, failure
//! shell ────> commands, args, failure        (the shell runs the same database commands)
//! commands ─> args, escape, failure
//! bench ────> args, failure                  (its workloads: lsm::workload)
//! dump ─────> escape, failure
//! args, escape, failure: nothing of the tool  (args names lsm::workload::DEFAULT_ORDER)
//! ```

mod args;
mod bench;
mod commands;
mod dump;
mod escape;
mod failure;
mod shell;

use args::{Cli, Command};
use clap::Parser;
use failure::Failure;
use lsm::{Config, Lsm};
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

/// The configuration the options describe.
fn config(cli: &Cli) -> Result<Config, Failure> {
    let mut config = match &cli.config {
        Some(path) => Config::load(path)?,
        None if Path::new("config.toml").is_file() => Config::load("config.toml")?,
        None => Config::default(),
    };
    if let Some(db) = &cli.db {
        config.directory = lsm::Directories {
            log: config.directory.log.clone(),
            ..lsm::Directories::under(db)
        };
    }
    for kv in &cli.set {
        let (key, value) = kv.split_once('=').ok_or_else(|| {
            Failure::Invalid(format!(
                "--set {kv:?}: expected KEY=VALUE, e.g. wal.sync=always"
            ))
        })?;
        config.set(key.trim(), value.trim())?;
    }
    config.validate()?;
    Ok(config)
}

fn run(cli: Cli) -> Result<(), Failure> {
    let config = config(&cli)?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = match cli.command.unwrap_or(Command::Shell) {
        Command::Db(cmd) => {
            let db = Lsm::open_with_config(config)?;
            let r = commands::run(&db, &cmd, &mut out);
            let closed = db.close().map_err(Failure::from);
            r.and(closed)
        }
        Command::Dump { file } => dump::run(&file, &mut out),
        Command::Bench(args) => bench::run(args, config, &mut out),
        Command::Shell => {
            drop(out);
            let db = Lsm::open_with_config(config)?;
            let ok = shell::run(&db);
            db.close()?;
            return if ok {
                Ok(())
            } else {
                Err(Failure::Invalid("some shell commands failed".into()))
            };
        }
    };
    let flushed = out.flush().map_err(Failure::from);
    result.and(flushed)
}

fn main() -> ExitCode {
    // `.cargo/config.toml` sets this for `cargo test`'s harness, and `cargo run` would
    // pass it on; the tool's log goes where log/config/log4rs.yaml says instead.
    std::env::remove_var("LSM_LOG_CAPTURE");
    // Clap prints its own messages and exits with 2 on a usage error, 0 for --help.
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // `lsm scan | head`: the reader went away; that is not an error.
        Err(Failure::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lsm: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
