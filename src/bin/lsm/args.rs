//! The command line: every option and command of `lsm`, as clap parses them. The shell
//! parses its lines with the same [`DbCommand`] definitions.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXIT_CODES: &str = "\
Keys and values are text; \\xHH, \\\\, \\n and \\t stand for bytes, and an argument
starting with 0x is read whole as hex (0x00ff). Output escapes the same way, so it can
be pasted back.

Exit status:
  0  success
  1  error (I/O, corruption, bad configuration, locked database, ...)
  2  usage error (unknown command or option)
  3  key not found (get)

Examples:
  lsm put user:1 ada
  lsm get user:1
  lsm scan --prefix user: --limit 10
  lsm --set wal.retention=1GiB changes --since 1
  printf 'put a 1\\nget a\\n' | lsm shell
  lsm dump data/ss_tables/000007.sst
  lsm bench --num 100000";

/// `lsm`: a command-line tool for the lsm key-value engine.
#[derive(Debug, Parser)]
#[command(name = "lsm", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Database directory [default: the configuration's directory.root, or ./data].
    #[arg(long, value_name = "DIR")]
    pub db: Option<PathBuf>,

    /// Configuration file (default: ./config.toml when it exists). --db overrides its
    /// directory.root.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Sets a configuration option, e.g. --set wal.sync=always (repeatable; applied
    /// after --config and --db).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,

    /// What to do (default: shell).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Every command of `lsm`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// A command on the database (also available in the shell).
    #[command(flatten)]
    Db(DbCommand),
    /// Prints a WAL segment (*.log), an SSTable (*.sst) or a manifest readably.
    Dump {
        /// The file.
        file: PathBuf,
    },
    /// Runs db_bench-style workloads and prints throughput and latency.
    Bench(BenchArgs),
    /// Reads commands interactively, or line by line from a pipe.
    Shell,
}

/// Commands that work on an open database: the same words on the command line and in
/// the shell.
#[derive(Debug, Clone, Subcommand)]
pub enum DbCommand {
    /// Sets KEY to VALUE.
    Put {
        /// The key.
        #[arg(allow_hyphen_values = true)]
        key: String,
        /// The value.
        #[arg(allow_hyphen_values = true)]
        value: String,
        /// In keyspace NAME (created if it does not exist).
        #[arg(short = 'k', long, value_name = "NAME")]
        keyspace: Option<String>,
    },
    /// Prints the value of KEY (exit status 3 when it is missing).
    Get {
        /// The key.
        #[arg(allow_hyphen_values = true)]
        key: String,
        /// In keyspace NAME.
        #[arg(short = 'k', long, value_name = "NAME")]
        keyspace: Option<String>,
    },
    /// Deletes KEY (deleting a missing key is not an error).
    Delete {
        /// The key.
        #[arg(allow_hyphen_values = true)]
        key: String,
        /// In keyspace NAME.
        #[arg(short = 'k', long, value_name = "NAME")]
        keyspace: Option<String>,
    },
    /// Lists the keyspaces, "default" first.
    Keyspaces,
    /// Prints keys and values in key order, one `KEY<TAB>VALUE` per line.
    Scan(ScanArgs),
    /// Prints counters and the tables of each level.
    Stats,
    /// Writes the memtable to an SSTable.
    Flush,
    /// Compacts the whole key range, or the tables holding keys in [A, B].
    Compact {
        /// From key A (included).
        #[arg(long, value_name = "A", allow_hyphen_values = true)]
        start: Option<String>,
        /// Up to key B (included).
        #[arg(long, value_name = "B", allow_hyphen_values = true)]
        end: Option<String>,
    },
    /// Reads every file and checks every checksum.
    Verify,
    /// Prints the change feed: one `SEQ<TAB>KEYSPACE<TAB>KIND<TAB>KEY[<TAB>VALUE]` line
    /// per operation committed from sequence SEQ on (KIND: put, delete, delete_range
    /// with the range's end as VALUE, merge). History is kept as far back as the
    /// option wal.retention says (default: none beyond recovery); older is an error.
    Changes(ChangesArgs),
}

/// Where `changes` starts, and whether it waits for more.
#[derive(Debug, Clone, Args)]
pub struct ChangesArgs {
    /// From sequence number SEQ (the whole batch that holds it).
    #[arg(long, value_name = "SEQ", default_value_t = 1)]
    pub since: u64,
    /// After the history, wait and print changes as they commit until interrupted
    /// (command line only). The database stays open, and so locked, meanwhile.
    #[arg(long)]
    pub follow: bool,
}

/// Which keys `scan` prints.
#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    /// Only keys starting with P.
    #[arg(long, value_name = "P", conflicts_with_all = ["start", "end"], allow_hyphen_values = true)]
    pub prefix: Option<String>,
    /// From key A (included).
    #[arg(long, value_name = "A", allow_hyphen_values = true)]
    pub start: Option<String>,
    /// Up to key B (excluded).
    #[arg(long, value_name = "B", allow_hyphen_values = true)]
    pub end: Option<String>,
    /// At most N entries.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Descending order.
    #[arg(long)]
    pub reverse: bool,
    /// In keyspace NAME.
    #[arg(short = 'k', long, value_name = "NAME")]
    pub keyspace: Option<String>,
}

/// `lsm bench` options, named as in db_bench.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Comma-separated workloads, run in the order given: fillseq, fillrandom,
    /// overwrite, readrandom, readpinned (get_pinned), multiget (multi_get of 32 keys),
    /// readmissing, readseq, readreverse, seekrandom, deleterandom, mixed.
    #[arg(long, value_delimiter = ',', default_value = lsm::workload::DEFAULT_ORDER)]
    pub benchmarks: Vec<String>,
    /// Operations per workload (and keys in the key space).
    #[arg(long, default_value_t = 1_000_000)]
    pub num: u64,
    /// Bytes per key.
    #[arg(long, default_value_t = 16)]
    pub key_size: usize,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Threads of the mixed workload.
    #[arg(long, default_value_t = 4)]
    pub threads: usize,
    /// Percentage of reads in the mixed workload.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub read_percent: u8,
    /// fsync every write (wal.sync = always).
    #[arg(long)]
    pub sync: bool,
    /// Bench database directory (default: a temporary directory, deleted afterwards).
    /// Fill workloads start it afresh; the others use what is there.
    #[arg(long, value_name = "DIR")]
    pub db: Option<PathBuf>,
    /// Prints one JSON object with the results instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Seed of the random keys.
    #[arg(long, default_value_t = 301)]
    pub seed: u64,
    /// Run `mixed` for this many seconds instead of `--num` operations
    #[arg(long, value_name = "SECS")]
    pub duration: Option<u64>,
}

/// One line of the shell.
#[derive(Debug, Parser)]
#[command(
    name = "",
    no_binary_name = true,
    disable_help_subcommand = true,
    disable_help_flag = true,
    disable_version_flag = true,
    help_template = "{subcommands}"
)]
pub struct ShellLine {
    /// The command.
    #[command(subcommand)]
    pub command: ShellCommand,
}

/// What a shell line may say.
#[derive(Debug, Subcommand)]
pub enum ShellCommand {
    /// A database command.
    #[command(flatten)]
    Db(DbCommand),
    /// Lists the commands.
    Help,
    /// Leaves the shell.
    #[command(alias = "exit")]
    Quit,
}
