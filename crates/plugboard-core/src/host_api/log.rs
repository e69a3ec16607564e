//! Per-plugin log files: `state_dir/logs/<id>.log`, one line per record, rotated by size.
//!
//! Every runtime forwards a plugin's `log` host call to the plugin's [`PluginLog`]. A record goes
//! to two places: the plugin's own file, which `plugboard logs ID` and the dashboard read, and a
//! `tracing` event with target [`TRACING_TARGET`], so that the host's log shows it too.
//!
//! Plugins are not trusted to format their own output: control characters in messages and field
//! values are escaped, so every record stays on one line and a plugin cannot forge records of its
//! own or of another plugin. Logging never fails from the plugin's point of view: I/O errors are
//! counted ([`PluginLog::io_errors`]) and the first one is reported once through `tracing`.

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use plugboard_manifest::{LogLevel, PluginId};

/// The `tracing` target of the events that mirror plugin records, so that an operator can filter
/// plugin output in the host log (`RUST_LOG=plugboard::plugin=warn`).
pub const TRACING_TARGET: &str = "plugboard::plugin";

/// When a plugin's log file is rotated, and how many old files are kept.
///
/// Rotation bounds the disk space a chatty plugin can use to about `max_bytes * (keep + 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// The size a file may reach; the record that would pass it starts a new file. A single
    /// record larger than this is still written, alone in its file.
    pub max_bytes: u64,
    /// How many rotated files (`<id>.log.1` newest to `<id>.log.<keep>` oldest) are kept; `0`
    /// keeps none, so the current file is simply started afresh.
    pub keep: usize,
}

impl Default for Rotation {
    /// 10 MiB per file and 5 old files: enough history to debug an incident, bounded at 60 MiB.
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            keep: 5,
        }
    }
}

/// One plugin's log: a level filter, a lazily opened file with size-based rotation, and the
/// mirror into `tracing`.
///
/// Creating one does no I/O: the directory and file are created by the first record at or above
/// the level, so a host with a thousand quiet plugins holds no file open for them. All methods take
/// `&self`; records from concurrent threads are written whole, one line each.
#[derive(Debug)]
pub struct PluginLog {
    dir: PathBuf,
    path: PathBuf,
    plugin: PluginId,
    version: semver::Version,
    level: AtomicU8,
    rotation: Rotation,
    /// `None` until the first record, and again after a write error so that the next record
    /// retries with a freshly opened file (the old one may have been deleted or its disk replaced).
    file: Mutex<Option<OpenLog>>,
    io_errors: AtomicU64,
}

/// The open current file and its size, tracked to decide rotation without a `stat` per record.
#[derive(Debug)]
struct OpenLog {
    file: File,
    len: u64,
}

/// Why a record could not be written; reported once through `tracing`, never to the plugin.
#[derive(Debug, thiserror::Error)]
enum WriteFailure {
    #[error("cannot create the log directory {path}: {source}; check that the state directory is writable")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error(
        "cannot open the log file {path}: {source}; check its permissions and free disk space"
    )]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot write to the log file {path}: {source}; check free disk space")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot remove the old log file {path}: {source}; the current file keeps growing until this is fixed")]
    Remove { path: PathBuf, source: io::Error },
    #[error("cannot rotate the log file {from} to {to}: {source}; the current file keeps growing until this is fixed")]
    Rotate {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },
}

impl PluginLog {
    /// Prepares the log of `plugin` at `version`, writing to `dir/<id>.log` (`dir` is normally
    /// `state_dir/logs`). Records less severe than `level` are dropped.
    ///
    /// No file is touched until the first record is written.
    pub fn new(
        dir: PathBuf,
        plugin: &PluginId,
        version: &semver::Version,
        level: LogLevel,
        rotation: Rotation,
    ) -> PluginLog {
        let path = log_path(&dir, plugin.as_str());
        PluginLog {
            dir,
            path,
            plugin: plugin.clone(),
            version: version.clone(),
            level: AtomicU8::new(level_to_u8(level)),
            rotation,
            file: Mutex::new(None),
            io_errors: AtomicU64::new(0),
        }
    }

    /// Writes one record, if `level` is enabled, to the file and as a `tracing` event.
    ///
    /// The line reads `2026-11-22T01:55:01.123Z INFO  text-tools@1.2.0 message key=value ...`.
    /// Control characters (newlines included) in `message` and in field values are escaped
    /// (`\n`, `\u{1b}`), values with spaces, `"` or `=` are quoted, and characters of a key outside
    /// `[A-Za-z0-9_.-]` become `_`, so one record is always one line that no plugin can forge.
    ///
    /// Never fails and never panics: I/O errors are counted in [`io_errors`](Self::io_errors).
    pub fn record(&self, level: LogLevel, message: &str, fields: &[(&str, &str)]) {
        if !self.enabled(level) {
            return;
        }
        let mut text = String::with_capacity(message.len() + 16 * fields.len());
        escape_into(&mut text, message);
        for (key, value) in fields {
            text.push(' ');
            render_field(&mut text, key, value);
        }
        self.emit_tracing(level, &text);

        let mut line = String::with_capacity(text.len() + 64);
        format_timestamp(&mut line, unix_millis_now());
        // `{:<5}` lines up the common levels (INFO, DEBUG, ERROR); WARNING and CRITICAL overflow.
        let _ = write!(
            line,
            " {:<5} {}@{} ",
            level.as_str(),
            self.plugin,
            self.version
        );
        line.push_str(&text);
        line.push('\n');
        if let Err(failure) = self.write_line(line.as_bytes()) {
            self.note_failure(failure);
        }
    }

    /// Whether a record at `level` would be written; lets a runtime skip building an expensive
    /// message that would be dropped.
    pub fn enabled(&self, level: LogLevel) -> bool {
        level >= self.level()
    }

    /// The least severe level currently written.
    pub fn level(&self) -> LogLevel {
        level_from_u8(self.level.load(Ordering::Relaxed))
    }

    /// Changes the least severe level written, e.g. when the operator edits `config.yaml` while
    /// the plugin runs.
    pub fn set_level(&self, level: LogLevel) {
        self.level.store(level_to_u8(level), Ordering::Relaxed);
    }

    /// The current log file, `dir/<id>.log`; it exists only once a record has been written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many records (or rotations) failed with an I/O error since this log was created; a
    /// health check can surface it.
    pub fn io_errors(&self) -> u64 {
        self.io_errors.load(Ordering::Relaxed)
    }

    fn emit_tracing(&self, level: LogLevel, text: &str) {
        macro_rules! plugin_event {
            ($level:expr) => {
                tracing::event!(
                    target: TRACING_TARGET,
                    $level,
                    plugin = %self.plugin,
                    version = %self.version,
                    "{}",
                    text
                )
            };
        }
        match level {
            LogLevel::Critical | LogLevel::Error => plugin_event!(tracing::Level::ERROR),
            LogLevel::Warning => plugin_event!(tracing::Level::WARN),
            LogLevel::Info => plugin_event!(tracing::Level::INFO),
            LogLevel::Debug => plugin_event!(tracing::Level::DEBUG),
            LogLevel::Trace => plugin_event!(tracing::Level::TRACE),
        }
    }

    fn write_line(&self, line: &[u8]) -> Result<(), WriteFailure> {
        let mut slot = self.file.lock();
        // Taken out of the slot: on any error below the file is dropped, and the next record
        // reopens it.
        let mut open = match slot.take() {
            Some(open) => open,
            None => self.open()?,
        };
        let len = line.len() as u64;
        if open.len > 0 && open.len.saturating_add(len) > self.rotation.max_bytes {
            // Closed before renaming, which Windows requires.
            drop(open);
            if let Err(failure) = self.rotate() {
                // Keep logging into the unrotated file rather than losing records.
                self.note_failure(failure);
            }
            open = self.open()?;
        }
        open.file
            .write_all(line)
            .map_err(|source| WriteFailure::Write {
                path: self.path.clone(),
                source,
            })?;
        open.len += len;
        *slot = Some(open);
        Ok(())
    }

    fn open(&self) -> Result<OpenLog, WriteFailure> {
        fs::create_dir_all(&self.dir).map_err(|source| WriteFailure::CreateDir {
            path: self.dir.clone(),
            source,
        })?;
        let open_error = |source| WriteFailure::Open {
            path: self.path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(open_error)?;
        // A file left by a previous run counts towards rotation.
        let len = file.metadata().map_err(open_error)?.len();
        Ok(OpenLog { file, len })
    }

    /// Shifts `<id>.log.N` to `.N+1` (dropping the oldest) and the current file to `.1`.
    fn rotate(&self) -> Result<(), WriteFailure> {
        let keep = self.rotation.keep;
        if keep == 0 {
            return remove_if_exists(&self.path);
        }
        remove_if_exists(&self.numbered(keep))?;
        for n in (1..keep).rev() {
            rename_if_exists(&self.numbered(n), &self.numbered(n + 1))?;
        }
        rename_if_exists(&self.path, &self.numbered(1))
    }

    fn numbered(&self, n: usize) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn note_failure(&self, failure: WriteFailure) {
        if self.io_errors.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::warn!(
                plugin = %self.plugin,
                error = %failure,
                "a plugin's log record was lost; further log I/O errors of this plugin are only counted"
            );
        }
    }
}

fn remove_if_exists(path: &Path) -> Result<(), WriteFailure> {
    match fs::remove_file(path) {
        Err(source) if source.kind() != io::ErrorKind::NotFound => Err(WriteFailure::Remove {
            path: path.to_owned(),
            source,
        }),
        _ => Ok(()),
    }
}

fn rename_if_exists(from: &Path, to: &Path) -> Result<(), WriteFailure> {
    match fs::rename(from, to) {
        Err(source) if source.kind() != io::ErrorKind::NotFound => Err(WriteFailure::Rotate {
            from: from.to_owned(),
            to: to.to_owned(),
            source,
        }),
        _ => Ok(()),
    }
}

/// Reads the current log file of `plugin` from `dir` (normally `state_dir/logs`), for
/// `plugboard logs ID`.
///
/// Only `<id>.log` is read, not the rotated `<id>.log.N` files. Bytes that are not UTF-8 (which
/// this module never writes) are replaced rather than failing the whole read.
///
/// # Errors
/// `InvalidInput` when `plugin` is not a valid plugin id (so that `../x` cannot name a file outside
/// `dir`); `NotFound` when the plugin has not logged anything yet; any other I/O error of the read.
/// The message names the file.
pub fn read_log(dir: &Path, plugin: &str) -> io::Result<String> {
    let id = PluginId::new(plugin)
        .map_err(|invalid| io::Error::new(io::ErrorKind::InvalidInput, invalid))?;
    let path = log_path(dir, id.as_str());
    let bytes = fs::read(&path).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot read the log file {}: {error}", path.display()),
        )
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn log_path(dir: &Path, plugin: &str) -> PathBuf {
    dir.join(format!("{plugin}.log"))
}

fn level_to_u8(level: LogLevel) -> u8 {
    match level {
        LogLevel::Trace => 0,
        LogLevel::Debug => 1,
        LogLevel::Info => 2,
        LogLevel::Warning => 3,
        LogLevel::Error => 4,
        LogLevel::Critical => 5,
    }
}

fn level_from_u8(value: u8) -> LogLevel {
    match value {
        0 => LogLevel::Trace,
        1 => LogLevel::Debug,
        2 => LogLevel::Info,
        3 => LogLevel::Warning,
        4 => LogLevel::Error,
        _ => LogLevel::Critical,
    }
}

/// Appends `text` with every character that could break a line, move the cursor or reorder the
/// display escaped, and `\` doubled so that the escaping is unambiguous.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Line and paragraph separators, and bidirectional overrides.
            c if c.is_control()
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

fn render_field(out: &mut String, key: &str, value: &str) {
    if key.is_empty() {
        out.push('_');
    }
    out.extend(key.chars().map(|c| {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            c
        } else {
            '_'
        }
    }));
    out.push('=');
    let quote =
        value.is_empty() || value.contains(|c: char| c.is_whitespace() || c == '"' || c == '=');
    if quote {
        out.push('"');
        for c in value.chars() {
            if c == '"' {
                out.push_str("\\\"");
            } else {
                let mut buf = [0; 4];
                escape_into(out, c.encode_utf8(&mut buf));
            }
        }
        out.push('"');
    } else {
        escape_into(out, value);
    }
}

/// Milliseconds since the Unix epoch, negative for a clock set before 1970.
fn unix_millis_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// Appends `unix_millis` as RFC 3339 UTC with milliseconds: `2026-11-22T01:55:01.123Z`.
fn format_timestamp(out: &mut String, unix_millis: i64) {
    const MILLIS_PER_DAY: i64 = 86_400_000;
    let days = unix_millis.div_euclid(MILLIS_PER_DAY);
    let of_day = unix_millis.rem_euclid(MILLIS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second, millis) = (
        of_day / 3_600_000,
        of_day / 60_000 % 60,
        of_day / 1000 % 60,
        of_day % 1000,
    );
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z"
    );
}

/// The proleptic Gregorian date `(year, month, day)` of a count of days since 1970-01-01.
///
/// Howard Hinnant's `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>):
/// exact for every `i64` day count a timestamp in milliseconds can produce, with no table and no
/// dependency.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of the 400-year era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the March-based year, [0, 365]
    let mp = (5 * doy + 2) / 153; // March = 0, [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fmt;
    use std::sync::Arc;

    const _: () = {
        const fn send_sync<T: Send + Sync>() {}
        send_sync::<PluginLog>();
    };

    fn id(text: &str) -> PluginId {
        PluginId::new(text).unwrap()
    }

    fn version() -> semver::Version {
        semver::Version::new(1, 2, 0)
    }

    fn log_in(dir: &Path, level: LogLevel, rotation: Rotation) -> PluginLog {
        PluginLog::new(
            dir.join("logs"),
            &id("text-tools"),
            &version(),
            level,
            rotation,
        )
    }

    fn timestamp(millis: i64) -> String {
        let mut out = String::new();
        format_timestamp(&mut out, millis);
        out
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_millis() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_795_312_501_123), "2026-11-22T01:55:01.123Z");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(timestamp(951_696_000_999), "2000-02-28T00:00:00.999Z");
        assert_eq!(timestamp(253_402_300_799_000), "9999-12-31T23:59:59.000Z");
        assert_eq!(timestamp(-86_400_000), "1969-12-31T00:00:00.000Z");
        assert_eq!(timestamp(-1), "1969-12-31T23:59:59.999Z");
    }

    /// The inverse of `civil_from_days`, from the same paper, to check it over a wide range.
    fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(month);
        let mp = if m > 2 { m - 3 } else { m + 9 };
        let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    proptest! {
        #[test]
        fn civil_from_days_round_trips(days in -100_000_000i64..100_000_000) {
            let (year, month, day) = civil_from_days(days);
            prop_assert!((1..=12).contains(&month));
            prop_assert!((1..=31).contains(&day));
            prop_assert_eq!(days_from_civil(year, month, day), days);
            // Consecutive days are consecutive dates.
            let (next_year, next_month, next_day) = civil_from_days(days + 1);
            prop_assert!(
                (next_year, next_month, next_day) > (year, month, day)
            );
        }
    }

    #[test]
    fn creating_a_log_does_no_io_and_quiet_records_create_no_file() {
        let temp = tempfile::tempdir().unwrap();
        let log = log_in(temp.path(), LogLevel::Warning, Rotation::default());
        assert_eq!(log.path(), temp.path().join("logs/text-tools.log"));
        assert!(!temp.path().join("logs").exists());
        log.record(LogLevel::Info, "not written", &[]);
        assert!(!temp.path().join("logs").exists());
        log.record(LogLevel::Warning, "written", &[]);
        assert!(log.path().exists());
    }

    #[test]
    fn a_record_is_one_formatted_line() {
        let temp = tempfile::tempdir().unwrap();
        let log = log_in(temp.path(), LogLevel::Info, Rotation::default());
        log.record(
            LogLevel::Info,
            "converted",
            &[("count", "3"), ("name", "two words"), ("bad key", "")],
        );
        let text = read_log(&temp.path().join("logs"), "text-tools").unwrap();
        let line = text.strip_suffix('\n').unwrap();
        assert!(!line.contains('\n'));
        let (stamp, rest) = line.split_at(24);
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "{stamp}"
        );
        assert_eq!(
            rest,
            r#" INFO  text-tools@1.2.0 converted count=3 name="two words" bad_key="""#
        );
    }

    #[test]
    fn newlines_and_control_characters_cannot_forge_records() {
        let temp = tempfile::tempdir().unwrap();
        let log = log_in(temp.path(), LogLevel::Trace, Rotation::default());
        let forged = "ok\n2026-01-01T00:00:00.000Z ERROR other@1.0.0 pwned\r\x1b[2J\u{2028}\\n";
        log.record(
            LogLevel::Info,
            forged,
            &[("k", "a\nb"), ("q", "say \"hi\"")],
        );
        let text = read_log(&temp.path().join("logs"), "text-tools").unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(
            text.ends_with(concat!(
                r#"ok\n2026-01-01T00:00:00.000Z ERROR other@1.0.0 pwned\r\u{1b}[2J\u{2028}\\n"#,
                r#" k="a\nb" q="say \"hi\"""#,
                "\n"
            )),
            "{text}"
        );
    }

    #[test]
    fn levels_filter_and_can_change() {
        let temp = tempfile::tempdir().unwrap();
        let log = log_in(temp.path(), LogLevel::Warning, Rotation::default());
        assert!(log.enabled(LogLevel::Critical));
        assert!(log.enabled(LogLevel::Warning));
        assert!(!log.enabled(LogLevel::Info));
        log.set_level(LogLevel::Debug);
        assert_eq!(log.level(), LogLevel::Debug);
        assert!(log.enabled(LogLevel::Debug));
        assert!(!log.enabled(LogLevel::Trace));
        for level in [
            LogLevel::Trace,
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warning,
            LogLevel::Error,
            LogLevel::Critical,
        ] {
            assert_eq!(level_from_u8(level_to_u8(level)), level);
        }
    }

    #[test]
    fn rotation_shifts_files_and_drops_the_oldest() {
        let temp = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_bytes: 200,
            keep: 2,
        };
        let log = log_in(temp.path(), LogLevel::Info, rotation);
        for n in 0..40 {
            log.record(LogLevel::Info, &format!("record {n:02}"), &[]);
        }
        let logs = temp.path().join("logs");
        let read = |name: &str| fs::read_to_string(logs.join(name)).unwrap();
        let (current, one, two) = (
            read("text-tools.log"),
            read("text-tools.log.1"),
            read("text-tools.log.2"),
        );
        assert!(!logs.join("text-tools.log.3").exists());
        for text in [&current, &one, &two] {
            assert!(text.len() as u64 <= rotation.max_bytes, "{}", text.len());
        }
        // Oldest to newest, the kept records are consecutive and end with the last one.
        let kept: Vec<&str> = two
            .lines()
            .chain(one.lines())
            .chain(current.lines())
            .collect();
        let numbers: Vec<u32> = kept
            .iter()
            .map(|line| line.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(*numbers.last().unwrap(), 39);
        assert!(numbers.windows(2).all(|pair| pair[1] == pair[0] + 1));
        assert_eq!(log.io_errors(), 0);
    }

    #[test]
    fn rotation_counts_a_file_left_by_a_previous_run_and_keeps_oversized_records() {
        let temp = tempfile::tempdir().unwrap();
        let rotation = Rotation {
            max_bytes: 100,
            keep: 0,
        };
        let logs = temp.path().join("logs");
        fs::create_dir_all(&logs).unwrap();
        fs::write(logs.join("text-tools.log"), "#".repeat(90)).unwrap();
        let log = log_in(temp.path(), LogLevel::Info, rotation);
        let long = "y".repeat(150);
        log.record(LogLevel::Info, &long, &[]);
        let text = read_log(&logs, "text-tools").unwrap();
        assert!(!text.contains('#'), "the old content was rotated away");
        assert!(text.contains(&long));
        assert!(!logs.join("text-tools.log.1").exists());
    }

    #[test]
    fn io_errors_are_counted_not_propagated() {
        let temp = tempfile::tempdir().unwrap();
        // A regular file where the log directory should be.
        let blocker = temp.path().join("logs");
        fs::write(&blocker, "").unwrap();
        let log = PluginLog::new(
            blocker,
            &id("text-tools"),
            &version(),
            LogLevel::Info,
            Rotation::default(),
        );
        log.record(LogLevel::Info, "lost", &[]);
        log.record(LogLevel::Error, "lost too", &[]);
        assert_eq!(log.io_errors(), 2);
    }

    #[test]
    fn concurrent_records_stay_whole() {
        let temp = tempfile::tempdir().unwrap();
        let log = Arc::new(log_in(temp.path(), LogLevel::Info, Rotation::default()));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    for n in 0..50 {
                        log.record(LogLevel::Info, &format!("thread {t} record {n}"), &[]);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let text = read_log(&temp.path().join("logs"), "text-tools").unwrap();
        assert_eq!(text.lines().count(), 400);
        assert!(text
            .lines()
            .all(|line| line.contains(" INFO  text-tools@1.2.0 thread ")));
    }

    #[test]
    fn read_log_rejects_paths_and_reports_missing_files() {
        let temp = tempfile::tempdir().unwrap();
        let error = read_log(temp.path(), "../etc/passwd").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        let error = read_log(temp.path(), "quiet").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert!(error.to_string().contains("quiet.log"), "{error}");
    }

    /// A minimal subscriber that keeps the events it sees.
    struct Capture(Arc<Mutex<Vec<(tracing::Level, String, String)>>>);

    struct Fields(String);

    impl tracing::field::Visit for Fields {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
            let _ = write!(self.0, "{}={:?};", field.name(), value);
        }
    }

    impl tracing::Subscriber for Capture {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            let meta = event.metadata();
            self.0
                .lock()
                .push((*meta.level(), meta.target().to_owned(), fields.0));
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn records_are_mirrored_to_tracing_at_the_matching_level() {
        let temp = tempfile::tempdir().unwrap();
        let log = log_in(temp.path(), LogLevel::Info, Rotation::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        tracing::subscriber::with_default(Capture(Arc::clone(&seen)), || {
            log.record(LogLevel::Critical, "down\nhard", &[("code", "7")]);
            log.record(LogLevel::Warning, "careful", &[]);
            log.record(LogLevel::Debug, "filtered out", &[]);
        });
        let seen = seen.lock();
        let plugin_events: Vec<_> = seen
            .iter()
            .filter(|(_, target, _)| target == TRACING_TARGET)
            .collect();
        assert_eq!(plugin_events.len(), 2, "{seen:?}");
        let (level, _, fields) = plugin_events[0];
        assert_eq!(*level, tracing::Level::ERROR);
        assert!(fields.contains(r#"message=down\nhard code=7;"#), "{fields}");
        assert!(fields.contains("plugin=text-tools;"), "{fields}");
        assert!(fields.contains("version=1.2.0;"), "{fields}");
        assert_eq!(plugin_events[1].0, tracing::Level::WARN);
    }
}
