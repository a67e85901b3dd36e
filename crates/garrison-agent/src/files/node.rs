//! `NodeFiles` for the agent: each call runs the server's [`ServerFiles`] operation on
//! a blocking thread, with source `Api`.

use super::server::{ServerFiles, WriteMode};
use super::transfer;
use crate::agent::Agent;
use async_trait::async_trait;
use garrison_proto::{
    ArchiveKind, ByteStream, DiskUsage, Download, FileEntry, FileError, FileErrorKind, FileSource,
    ListPage, ListRequest, NodeError, NodeFiles, PullRequest, SearchRequest, SearchResult,
    ServerId, UploadState,
};
use std::io::Read;
use std::sync::Arc;

const API: FileSource = FileSource::Api;

impl Agent {
    async fn on_files<T, F>(&self, id: &ServerId, f: F) -> Result<T, NodeError>
    where
        T: Send + 'static,
        F: FnOnce(&ServerFiles) -> Result<T, FileError> + Send + 'static,
    {
        let files = self.server_files(id)?;
        tokio::task::spawn_blocking(move || f(&files))
            .await
            .map_err(|e| NodeError::Io(format!("file operation failed: {e}")))?
            .map_err(NodeError::File)
    }
}

fn read_limited(files: &ServerFiles, path: &str, max: u64) -> Result<Vec<u8>, FileError> {
    let rel = files.parse(path)?;
    files.allowed(&rel)?;
    let file = files.open_read_rel(&rel)?;
    let mut out = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| super::server::io_err(&rel, e))?;
    if out.len() as u64 > max {
        return Err(FileError::new(
            FileErrorKind::TooLarge,
            Some(rel.as_str()),
            format!(
                "{rel} is larger than {} (the editor's limit)",
                super::usage::human(max)
            ),
        ));
    }
    Ok(out)
}

#[async_trait]
impl NodeFiles for Agent {
    async fn list_files(&self, id: &ServerId, req: ListRequest) -> Result<ListPage, NodeError> {
        self.on_files(id, move |f| f.list(&req)).await
    }

    async fn stat_file(&self, id: &ServerId, path: &str) -> Result<FileEntry, NodeError> {
        let path = path.to_owned();
        self.on_files(id, move |f| f.stat(&path)).await
    }

    async fn read_file(
        &self,
        id: &ServerId,
        path: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, NodeError> {
        let path = path.to_owned();
        self.on_files(id, move |f| read_limited(f, &path, max_bytes))
            .await
    }

    async fn write_file(
        &self,
        id: &ServerId,
        path: &str,
        content: Vec<u8>,
    ) -> Result<FileEntry, NodeError> {
        let path = path.to_owned();
        self.on_files(id, move |f| {
            let mut w = f.open_write(&path, WriteMode::Replace { overwrite: true }, API)?;
            w.write_at(0, &content)?;
            w.commit()
        })
        .await
    }

    async fn create_dir(&self, id: &ServerId, path: &str) -> Result<FileEntry, NodeError> {
        let path = path.to_owned();
        self.on_files(id, move |f| f.create_dir(&path, API)).await
    }

    async fn rename_file(
        &self,
        id: &ServerId,
        from: &str,
        to: &str,
    ) -> Result<FileEntry, NodeError> {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.on_files(id, move |f| f.rename(&from, &to, API)).await
    }

    async fn copy_file(&self, id: &ServerId, from: &str, to: &str) -> Result<FileEntry, NodeError> {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.on_files(id, move |f| f.copy(&from, &to, API)).await
    }

    async fn chmod_file(
        &self,
        id: &ServerId,
        path: &str,
        mode: u32,
    ) -> Result<FileEntry, NodeError> {
        let path = path.to_owned();
        self.on_files(id, move |f| f.chmod(&path, mode, API)).await
    }

    async fn delete_files(&self, id: &ServerId, paths: Vec<String>) -> Result<(), NodeError> {
        self.on_files(id, move |f| {
            for p in &paths {
                f.delete(p, API)?;
            }
            Ok(())
        })
        .await
    }

    async fn compress_files(
        &self,
        id: &ServerId,
        paths: Vec<String>,
        destination: &str,
        format: ArchiveKind,
    ) -> Result<FileEntry, NodeError> {
        let destination = destination.to_owned();
        self.on_files(id, move |f| f.compress(&paths, &destination, format))
            .await
    }

    async fn decompress_file(
        &self,
        id: &ServerId,
        archive: &str,
        destination: &str,
    ) -> Result<(), NodeError> {
        let (archive, destination) = (archive.to_owned(), destination.to_owned());
        self.on_files(id, move |f| f.decompress(&archive, &destination))
            .await
    }

    async fn search_files(
        &self,
        id: &ServerId,
        req: SearchRequest,
    ) -> Result<SearchResult, NodeError> {
        self.on_files(id, move |f| f.search(&req)).await
    }

    async fn pull_file(&self, id: &ServerId, req: PullRequest) -> Result<FileEntry, NodeError> {
        let files = self.server_files(id)?;
        // In its own task: a caller that goes away mid-pull must not leave a staging
        // file behind.
        tokio::spawn(transfer::pull(files, req))
            .await
            .map_err(|e| NodeError::Io(format!("pull failed: {e}")))?
            .map_err(NodeError::File)
    }

    async fn download(
        &self,
        id: &ServerId,
        path: &str,
        offset: u64,
    ) -> Result<Download, NodeError> {
        let files = self.server_files(id)?;
        transfer::download(files, path.to_owned(), offset)
            .await
            .map_err(NodeError::File)
    }

    async fn begin_upload(
        &self,
        id: &ServerId,
        path: &str,
        size: u64,
        overwrite: bool,
    ) -> Result<UploadState, NodeError> {
        let path = path.to_owned();
        self.on_files(id, move |f| f.begin_upload(&path, size, overwrite))
            .await
    }

    async fn upload_chunk(
        &self,
        id: &ServerId,
        upload: &str,
        offset: u64,
        body: ByteStream,
    ) -> Result<UploadState, NodeError> {
        let files: Arc<ServerFiles> = self.server_files(id)?;
        // In its own task: a caller dropped mid-chunk (the client went away) must not
        // leave the upload marked busy; the body then ends and the chunk ends normally.
        tokio::spawn(transfer::upload_chunk(
            files,
            upload.to_owned(),
            offset,
            body,
        ))
        .await
        .map_err(|e| NodeError::Io(format!("upload failed: {e}")))?
        .map_err(NodeError::File)
    }

    async fn upload_state(&self, id: &ServerId, upload: &str) -> Result<UploadState, NodeError> {
        let upload = upload.to_owned();
        self.on_files(id, move |f| f.upload_state(&upload)).await
    }

    async fn abort_upload(&self, id: &ServerId, upload: &str) -> Result<(), NodeError> {
        let upload = upload.to_owned();
        self.on_files(id, move |f| f.abort_upload(&upload)).await
    }

    async fn disk_usage(&self, id: &ServerId) -> Result<DiskUsage, NodeError> {
        Ok(self.server_files(id)?.usage())
    }
}
