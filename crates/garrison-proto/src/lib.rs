//! Types shared by the Garrison panel and agent: ids, the server state machine, the
//! resolved run spec a node executes, the one event schema, the `Node` trait the panel
//! talks through, permission names and the template model. Nothing here does I/O.

pub mod backup;
pub mod config;
pub mod event;
pub mod files;
pub mod ids;
pub mod install;
pub mod node;
pub mod permission;
pub mod sftp;
pub mod spec;
pub mod state;
pub mod template;

pub use backup::{
    BackupDigest, BackupError, BackupErrorKind, BackupEvent, BackupHooks, BackupLocation, BackupOp,
    BackupRequest, BackupResult, BackupStage, Compression, CompressionKind, Integrity, Manifest,
    ManifestEntry, ManifestKind, NodeBackups, RestoreRequest, StorageKind, VerifyReport,
};
pub use config::{ConfigFile, ConfigFormat, ConfigSetting, ValueKind};
pub use event::{
    ConsoleEvent, Event, ExitInfo, InstallEvent, InstallPhase, Prompt, PromptEvent, ScheduleEvent,
    SchedulePhase, StatsEvent, StatusEvent,
};
pub use files::{
    ByteStream, DiskUsage, Download, FileAction, FileChange, FileEntry, FileError, FileErrorKind,
    FileEvent, FileKind, FileSource, ListPage, ListRequest, NodeFiles, PullRequest, SearchMatch,
    SearchRequest, SearchResult, SortKey, UploadState,
};
pub use ids::ServerId;
pub use install::{ArchiveKind, InstallStep};
pub use node::{ConsoleSnapshot, Node, NodeError};
pub use permission::{Permission, Scope};
pub use sftp::{SftpAccess, SftpAudit, SftpCredential, SftpGate, SftpRefusal};
pub use spec::{RestartPolicy, RunSpec, StopMethod, StopSignal};
pub use state::{HostStats, PowerAction, ServerState, Stats, TransitionError};
pub use template::RenderError;
pub use template::{
    DonePattern, PlayerPatterns, PortProtocol, PortSpec, PromptPattern, QueryConfig, QueryProtocol,
    Requirements, Rules, Runtimes, Startup, Template, TemplateVariable, VariableType, render,
    render_shell, shell_quote,
};

/// Milliseconds since the unix epoch; every timestamp on the wire uses this.
pub type UnixMillis = i64;

/// (year, month 1..=12, day) of a day count since 1970-01-01 (Howard Hinnant's
/// civil-from-days), for dates shown to people without a time zone database.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
