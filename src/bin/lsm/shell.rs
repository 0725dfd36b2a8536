//! `lsm shell`: commands read one line at a time, like `sqlite3`. On a terminal it has
//! line editing and history (`~/.lsm_history`); from a pipe it reads line by line.
//! A failed command prints a message and the shell goes on; a piped session exits
//! non-zero when any command failed.

use crate::args::{DbCommand, ShellCommand, ShellLine};
use crate::commands;
use crate::failure::Failure;
use clap::Parser;
use lsm::Lsm;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;

const HELP: &str = "\
commands:
  put KEY VALUE                 set KEY to VALUE
  get KEY                       print the value of KEY, or (not found)
  delete KEY                    delete KEY
  scan [--prefix P | --start A --end B] [--limit N] [--reverse]
                                print KEY<TAB>VALUE lines in key order
  stats                         counters and tables per level
  flush                         write the memtable to an SSTable
  compact [--start A] [--end B] compact the whole key range, or [A, B]
  verify                        read every file and check every checksum
  changes [--since SEQ]         print the change feed from SEQ on, one line per operation
  help                          this list
  quit, exit                    leave (also Ctrl-D)
Arguments with spaces go in double quotes: put \"my key\" \"a value\".
Bytes: \\xHH, \\\\, \\n, \\t, or a whole argument in hex as 0x00ff.";

/// What to do after a line.
enum Flow {
    Continue,
    Quit,
}

/// Runs the shell on `db` until end of input or `quit`. Returns true when every
/// command succeeded.
pub fn run(db: &Lsm) -> bool {
    if io::stdin().is_terminal() {
        interactive(db)
    } else {
        piped(db)
    }
}

fn piped(db: &Lsm) -> bool {
    let mut ok = true;
    for (n, line) in io::stdin().lock().lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("lsm: error: line {}: {e}", n + 1);
                return false;
            }
        };
        match execute(db, &line) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Quit) => break,
            Err(e) => {
                eprintln!("lsm: error: line {}: {e}", n + 1);
                ok = false;
            }
        }
    }
    ok
}

fn history_file() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".lsm_history"))
}

fn interactive(db: &Lsm) -> bool {
    let mut editor = match rustyline::DefaultEditor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("lsm: no line editing ({e}); reading plain lines");
            return piped(db);
        }
    };
    let history = history_file();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "lsm shell on {} — type help for the commands, quit to leave",
        db.path().display()
    );
    let mut ok = true;
    loop {
        match editor.readline("lsm> ") {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                match execute(db, &line) {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Quit) => break,
                    Err(e) => {
                        eprintln!("error: {e}");
                        ok = false;
                    }
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("lsm: error: reading input: {e}");
                ok = false;
                break;
            }
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    ok
}

/// Runs one line.
fn execute(db: &Lsm, line: &str) -> Result<Flow, Failure> {
    let words = split(line).map_err(Failure::Invalid)?;
    if words.is_empty() || words[0].starts_with('#') {
        return Ok(Flow::Continue);
    }
    let parsed = ShellLine::try_parse_from(&words).map_err(|e| {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or("bad command").trim();
        Failure::Invalid(format!(
            "{} (type help for the commands)",
            first.trim_start_matches("error: ")
        ))
    })?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match parsed.command {
        ShellCommand::Help => writeln!(out, "{HELP}")?,
        ShellCommand::Quit => return Ok(Flow::Quit),
        ShellCommand::Db(DbCommand::Changes(args)) if args.follow => {
            return Err(Failure::Invalid(
                "changes --follow waits until interrupted: run it as `lsm changes --follow`".into(),
            ))
        }
        ShellCommand::Db(cmd) => match commands::run(db, &cmd, &mut out) {
            // A missing key is an answer, not a failure, in the shell.
            Err(Failure::NotFound(_)) => writeln!(out, "(not found)")?,
            other => other?,
        },
    }
    out.flush()?;
    Ok(Flow::Continue)
}

/// Splits a line into words at whitespace. Double quotes group words with spaces
/// (`"a b"`), and so do single quotes; backslashes are kept for the key and value
/// escapes (`\x00`), and `\"` does not end a double-quoted word.
pub fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                word.push('\\');
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("unterminated {q} quote"));
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn words_quotes_and_escapes() {
        assert_eq!(split("  put a  b ").unwrap(), ["put", "a", "b"]);
        assert_eq!(
            split(r#"put "my key" "a value""#).unwrap(),
            ["put", "my key", "a value"]
        );
        assert_eq!(split(r#"put k """#).unwrap(), ["put", "k", ""]);
        assert_eq!(
            split(r"put a\x00 '\x01 b'").unwrap(),
            ["put", r"a\x00", r"\x01 b"]
        );
        assert_eq!(
            split(r#"put "say \"hi\"" v"#).unwrap(),
            ["put", r#"say \"hi\""#, "v"]
        );
        assert!(split(r#"put "open"#).is_err());
        assert!(split("").unwrap().is_empty());
    }
}
