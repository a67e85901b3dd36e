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
    ConsoleEvent, Event, ExitInfo, InstallEvent, InstallPhase, Prompt, PromptEvent, StatsEvent,
    StatusEvent,
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
pub use state::{PowerAction, ServerState, Stats, TransitionError};
pub use template::RenderError;
pub use template::{
    DonePattern, PortProtocol, PortSpec, PromptPattern, Requirements, Rules, Runtimes, Startup,
    Template, TemplateVariable, VariableType, render, render_shell, shell_quote,
};

/// Milliseconds since the unix epoch; every timestamp on the wire uses this.
pub type UnixMillis = i64;
