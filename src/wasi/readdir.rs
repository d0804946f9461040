//! The `directory-entry-stream` resource: a directory listing read in
//! batches, resumed after the last name returned — stable while entries
//! come and go (see `fs::Reader::read_dir`).

use std::collections::VecDeque;
use std::sync::Arc;

use super::bindings::types;
use super::ctx::StrataCtxView;
use super::descriptor::descriptor_type;
use super::error::FsResult;
use crate::actor::OpenFile;
use crate::fs::DirEntry;
use wasmtime::component::Resource;

/// Entries fetched per round.
const BATCH: usize = 128;

/// A guest's position in a directory listing.
#[derive(Debug)]
pub struct DirectoryEntryStream {
    dir: Arc<OpenFile>,
    /// The last name of the last batch: where the next batch starts.
    after: Option<String>,
    batch: VecDeque<DirEntry>,
    done: bool,
}

impl DirectoryEntryStream {
    pub(crate) fn new(dir: Arc<OpenFile>) -> DirectoryEntryStream {
        DirectoryEntryStream {
            dir,
            after: None,
            batch: VecDeque::new(),
            done: false,
        }
    }

    async fn next(&mut self) -> FsResult<Option<DirEntry>> {
        if self.batch.is_empty() && !self.done {
            let entries = self.dir.read_dir(self.after.as_deref(), BATCH).await?;
            self.done = entries.len() < BATCH;
            if let Some(last) = entries.last() {
                self.after = Some(last.name.to_string());
            }
            self.batch.extend(entries);
        }
        Ok(self.batch.pop_front())
    }
}

impl types::HostDirectoryEntryStream for StrataCtxView<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<DirectoryEntryStream>,
    ) -> FsResult<Option<types::DirectoryEntry>> {
        let entry = self.table.get_mut(&stream)?.next().await?;
        Ok(entry.map(|e| types::DirectoryEntry {
            type_: descriptor_type(e.kind),
            name: e.name.to_string(),
        }))
    }

    async fn drop(&mut self, stream: Resource<DirectoryEntryStream>) -> wasmtime::Result<()> {
        self.table.delete(stream)?;
        Ok(())
    }
}
