//! Building blocks of the install pipeline: verified downloads and archive extraction
//! through the [`Sandbox`](crate::sandbox::Sandbox).

pub mod download;
pub mod extract;

pub use download::{
    DownloadError, DownloadOutcome, DownloadProgress, DownloadRequest, build_client,
    build_client_with, download,
};
pub use extract::{
    ArchiveFormat, ExtractError, ExtractOptions, ExtractProgress, ExtractStats, extract,
    extract_file,
};
